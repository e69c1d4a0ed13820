// matvec items for Q4_K (144-byte blocks = 9 vec4<u32>: vec4 0 = d, dmin, scales[12]; vec4 1..8 =
// qs[128]). Item i = block i / 8, quant chunk c = i % 8 (qs bytes 16c .. 16c + 15): with pair
// j = c / 2 and l0 = 16 (c % 2), its low nibbles are elements 64j + l0 + (0..16) of sub-block 2j and
// its high nibbles elements 64j + 32 + l0 + (0..16) of sub-block 2j + 1 (ggml's dequantize_row_q4_K).
// y = d·sc·q − dmin·m, so per sub-block: d·sc·Σ q·x − dmin·m·Σ x, with Σ x shared by the NR rows.

// Byte i (0..11) of the packed scales.
fn q4k_scale_byte(h: vec4<u32>, i: u32) -> u32 {
    var word = h.y;
    if (i >= 8u) {
        word = h.w;
    } else if (i >= 4u) {
        word = h.z;
    }
    return (word >> ((i & 3u) * 8u)) & 0xFFu;
}

// (scale, min) of sub-block s (ggml's get_scale_min_k4).
fn q4k_scale_min(h: vec4<u32>, s: u32) -> vec2<f32> {
    if (s < 4u) {
        return vec2<f32>(f32(q4k_scale_byte(h, s) & 63u), f32(q4k_scale_byte(h, s + 4u) & 63u));
    }
    let packed = q4k_scale_byte(h, s + 4u);
    let sc = (packed & 0xFu) | ((q4k_scale_byte(h, s - 4u) >> 6u) << 4u);
    let m = (packed >> 4u) | ((q4k_scale_byte(h, s) >> 6u) << 4u);
    return vec2<f32>(f32(sc), f32(m));
}

fn nibbles(word: u32, shift: u32) -> vec4<f32> {
    let v = (vec4<u32>(word, word >> 8u, word >> 16u, word >> 24u) >> vec4<u32>(shift)) & vec4<u32>(0xFu);
    return vec4<f32>(v);
}

// ---- per job ----
fn accumulate$J(acc: ptr<function, array<f32, NR>>, base: ptr<function, array<u32, NR>>, it: u32) {
    let b = it / 8u;
    let c = it % 8u;
    let j = c / 2u;
    let e_lo = b * 256u + 64u * j + 16u * (c % 2u);
    let xl = array<vec4<f32>, 4>(x$J[e_lo / 4u], x$J[e_lo / 4u + 1u], x$J[e_lo / 4u + 2u], x$J[e_lo / 4u + 3u]);
    let e_hi = e_lo + 32u;
    let xh = array<vec4<f32>, 4>(x$J[e_hi / 4u], x$J[e_hi / 4u + 1u], x$J[e_hi / 4u + 2u], x$J[e_hi / 4u + 3u]);
    let one = vec4<f32>(1.0);
    let sum_lo = dot(xl[0] + xl[1] + xl[2] + xl[3], one);
    let sum_hi = dot(xh[0] + xh[1] + xh[2] + xh[3], one);
    for (var r = 0u; r < NR; r++) {
        let blk = (*base)[r] + 9u * b;
        let h = w$J[blk];
        let q = w$J[blk + 1u + c];
        let dm = unpack2x16float(h.x);
        let sml = q4k_scale_min(h, 2u * j);
        let smh = q4k_scale_min(h, 2u * j + 1u);
        let dot_lo = dot(nibbles(q.x, 0u), xl[0]) + dot(nibbles(q.y, 0u), xl[1]) + dot(nibbles(q.z, 0u), xl[2]) + dot(nibbles(q.w, 0u), xl[3]);
        let dot_hi = dot(nibbles(q.x, 4u), xh[0]) + dot(nibbles(q.y, 4u), xh[1]) + dot(nibbles(q.z, 4u), xh[2]) + dot(nibbles(q.w, 4u), xh[3]);
        (*acc)[r] += dm.x * (sml.x * dot_lo + smh.x * dot_hi) - dm.y * (sml.y * sum_lo + smh.y * sum_hi);
    }
}
