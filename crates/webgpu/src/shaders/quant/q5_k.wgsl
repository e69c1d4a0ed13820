// Q5_K (176 bytes, aligned): d, dmin @0, scales[12] @4, qh[32] @16 (words 4..11), qs[128] @48
// (words 12..43). As Q4_K with a 5th bit: q += 16 · bit s of qh[l] for element 32·s + l.
const UNITS_PER_BLOCK: u32 = 8u;
const BLOCK_U32S: u32 = 44u;

// (scale, min) of sub-block s (ggml's get_scale_min_k4), as in Q4_K.
fn k_scale_min(b: u32, s: u32) -> vec2<f32> {
    if (s < 4u) {
        return vec2<f32>(f32(byte_of(b, 4u + s) & 63u), f32(byte_of(b, 8u + s) & 63u));
    }
    let packed = byte_of(b, 8u + s);
    let sc = (packed & 0xFu) | ((byte_of(b, s) >> 6u) << 4u);
    let m = (packed >> 4u) | ((byte_of(b, 4u + s) >> 6u) << 4u);
    return vec2<f32>(f32(sc), f32(m));
}

fn decode_unit(row_base: u32, u: u32) -> array<vec4<f32>, 8> {
    let b = block_base(row_base, u);
    let s = u % 8u;
    let scm = k_scale_min(b, s);
    let dl = half_lo(w[b]) * scm.x;
    let ml = half_hi(w[b]) * scm.y;
    var r: array<vec4<f32>, 8>;
    for (var q = 0u; q < 8u; q++) {
        let lo = bytes4u(w[b + 12u + 8u * (s >> 1u) + q], 4u * (s & 1u), 0xFu);
        let hi = bytes4u(w[b + 4u + q], s, 1u);
        r[q] = vec4<f32>(lo | (hi << vec4<u32>(4u))) * dl - ml;
    }
    return r;
}
