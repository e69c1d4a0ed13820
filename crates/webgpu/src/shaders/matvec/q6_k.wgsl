// matvec items for Q6_K (re-packed to 224-byte blocks = 14 vec4<u32>: ql[128] = vec4 0..7, qh[64] =
// vec4 8..11, scales[16] i8 = vec4 12, d = low half of vec4 13's first word). Item i = block i / 4,
// c = i % 4: half n = c / 2, l0 = 16 (c % 2). For l = l0 .. l0 + 15 it covers (ggml's
// dequantize_row_q6_K) elements 128n + l + 32g for g = 0..3, with
//   q = (ql[64n + l + 32 (g % 2)] >> 4 (g / 2)) & 0xF | ((qh[32n + l] >> 2g) & 3) << 4,
//   y = d · scales[8n + l0 / 16 + 2g] · (q − 32).

fn q6k_sbyte(s: vec4<u32>, i: u32) -> f32 {
    var word = s.x;
    switch i / 4u {
        case 1u: { word = s.y; }
        case 2u: { word = s.z; }
        case 3u: { word = s.w; }
        default: {}
    }
    return f32(bitcast<i32>(((word >> ((i & 3u) * 8u)) & 0xFFu) << 24u) >> 24u);
}

// The four 6-bit values of one word: low bits from `lo` (nibbles at `lo_shift`), high bits from
// `hi` at `hi_shift`; minus 32.
fn q6(lo: u32, lo_shift: u32, hi: u32, hi_shift: u32) -> vec4<f32> {
    let l = (vec4<u32>(lo, lo >> 8u, lo >> 16u, lo >> 24u) >> vec4<u32>(lo_shift)) & vec4<u32>(0xFu);
    let h = (vec4<u32>(hi, hi >> 8u, hi >> 16u, hi >> 24u) >> vec4<u32>(hi_shift)) & vec4<u32>(3u);
    return vec4<f32>(l | (h << vec4<u32>(4u))) - 32.0;
}

fn dot4(a: vec4<u32>, a_shift: u32, h: vec4<u32>, h_shift: u32, xs: ptr<function, array<vec4<f32>, 16>>, g: u32) -> f32 {
    return dot(q6(a.x, a_shift, h.x, h_shift), (*xs)[4u * g]) + dot(q6(a.y, a_shift, h.y, h_shift), (*xs)[4u * g + 1u])
        + dot(q6(a.z, a_shift, h.z, h_shift), (*xs)[4u * g + 2u]) + dot(q6(a.w, a_shift, h.w, h_shift), (*xs)[4u * g + 3u]);
}

// ---- per job ----
fn accumulate$J(acc: ptr<function, array<f32, NR>>, base: ptr<function, array<u32, NR>>, it: u32) {
    let b = it / 4u;
    let c = it % 4u;
    let n = c / 2u;
    let odd = c % 2u;
    let e0 = b * 256u + 128u * n + 16u * odd;
    var xs: array<vec4<f32>, 16>;
    for (var g = 0u; g < 4u; g++) {
        for (var i = 0u; i < 4u; i++) {
            xs[4u * g + i] = x$J[(e0 + 32u * g) / 4u + i];
        }
    }
    for (var r = 0u; r < NR; r++) {
        let blk = (*base)[r] + 14u * b;
        let qa = w$J[blk + 4u * n + odd];
        let qb = w$J[blk + 4u * n + 2u + odd];
        let qh = w$J[blk + 8u + 2u * n + odd];
        let sc = w$J[blk + 12u];
        let d = unpack2x16float(w$J[blk + 13u].x).x;
        let si = 8u * n + odd;
        let s = dot4(qa, 0u, qh, 0u, &xs, 0u) * q6k_sbyte(sc, si)
            + dot4(qb, 0u, qh, 2u, &xs, 1u) * q6k_sbyte(sc, si + 2u)
            + dot4(qa, 4u, qh, 4u, &xs, 2u) * q6k_sbyte(sc, si + 4u)
            + dot4(qb, 4u, qh, 6u, &xs, 3u) * q6k_sbyte(sc, si + 6u);
        (*acc)[r] += d * s;
    }
}
