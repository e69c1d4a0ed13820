// matvec items for Q4_K (144-byte blocks = 9 vec4<u32>: vec4 0 = d, dmin, scales[12]; vec4 1..8 =
// qs[128]), laid out so that the lanes of a subgroup read x in whole 128-byte lines. Item i = block
// b = i / 8, column s = i % 8: the qs words s + 8q (q = 0..3), whose low nibbles are elements
// 64q + 4s + (0..4) of sub-block 2q and high nibbles elements 64q + 32 + 4s + (0..4) of sub-block
// 2q + 1 (ggml's dequantize_row_q4_K). Consecutive lanes take consecutive s, so for each q eight
// lanes read 32 consecutive x values. (Items of 16 consecutive qs bytes, matvec q4_k_chunks.wgsl,
// need x in 64-byte pieces 256 bytes apart: a quarter of each line per load.)
// y = d·sc·q − dmin·m, so per sub-block: d·sc·Σ q·x − dmin·m·Σ x; all eight (sc, m) pairs of the
// block are unpacked at once with word operations. Byte → float by the exponent trick:
// bitcast<f32>(0x4B000000 | b) − 2^23 == b exactly (no integer-to-float conversion instruction).

fn q4k_bytes(w: u32) -> vec4<f32> {
    let b = (vec4<u32>(w, w >> 8u, w >> 16u, w >> 24u) & vec4<u32>(0xFFu)) | vec4<u32>(0x4B000000u);
    return bitcast<vec4<f32>>(b) - vec4<f32>(8388608.0);
}

// The four products of the nibbles of `w` at `shift` (0 or 4) with x.
fn q4k_dot(w: u32, shift: u32, x: vec4<f32>) -> f32 {
    return dot(q4k_bytes((w >> shift) & 0x0F0F0F0Fu), x);
}

// ---- per job ----
fn accumulate$J(acc: ptr<function, array<f32, NR>>, base: ptr<function, array<u32, NR>>, it: u32) {
    let b = it / 8u;
    let s = it % 8u;
    let f = 64u * b + s;  // x vec4 of element 256b + 4s
    var xl: array<vec4<f32>, 4>;
    var xh: array<vec4<f32>, 4>;
    for (var q = 0u; q < 4u; q++) {
        xl[q] = x$J[f + 16u * q];
        xh[q] = x$J[f + 16u * q + 8u];
    }
    let one = vec4<f32>(1.0);
    // Σ x of sub-blocks (0, 1, 2, 3) and (4, 5, 6, 7) over this item's elements.
    let sx_a = vec4<f32>(dot(xl[0], one), dot(xh[0], one), dot(xl[1], one), dot(xh[1], one));
    let sx_b = vec4<f32>(dot(xl[2], one), dot(xh[2], one), dot(xl[3], one), dot(xh[3], one));
    let v = 1u + s / 4u;
    let c = s % 4u;
    for (var r = 0u; r < NR; r++) {
        let blk = (*base)[r] + 9u * b;
        let h = w$J[blk];
        let w0 = w$J[blk + v][c];
        let w1 = w$J[blk + v + 2u][c];
        let w2 = w$J[blk + v + 4u][c];
        let w3 = w$J[blk + v + 6u][c];
        let dm = unpack2x16float(h.x);
        // ggml's get_scale_min_k4 for all eight sub-blocks: scales bytes 0-3 (h.y), 4-7 (h.z), 8-11 (h.w).
        let sc_a = q4k_bytes(h.y & 0x3F3F3F3Fu);
        let mn_a = q4k_bytes(h.z & 0x3F3F3F3Fu);
        let sc_b = q4k_bytes((h.w & 0x0F0F0F0Fu) | ((h.y >> 2u) & 0x30303030u));
        let mn_b = q4k_bytes(((h.w >> 4u) & 0x0F0F0F0Fu) | ((h.z >> 2u) & 0x30303030u));
        let d_a = vec4<f32>(q4k_dot(w0, 0u, xl[0]), q4k_dot(w0, 4u, xh[0]), q4k_dot(w1, 0u, xl[1]), q4k_dot(w1, 4u, xh[1]));
        let d_b = vec4<f32>(q4k_dot(w2, 0u, xl[2]), q4k_dot(w2, 4u, xh[2]), q4k_dot(w3, 0u, xl[3]), q4k_dot(w3, 4u, xh[3]));
        (*acc)[r] += dm.x * (dot(sc_a, d_a) + dot(sc_b, d_b)) - dm.y * (dot(mn_a, sx_a) + dot(mn_b, sx_b));
    }
}
