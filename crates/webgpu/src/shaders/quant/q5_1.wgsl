// Q5_1 (24 bytes, aligned): word 0 = d (low half), m (high half); word 1 = qh; words 2..5 = qs[16].
// As Q5_0 without the −16 offset: y = q·d + m.
const UNITS_PER_BLOCK: u32 = 1u;
const BLOCK_U32S: u32 = 6u;

fn decode_unit(row_base: u32, u: u32) -> array<vec4<f32>, 8> {
    let b = block_base(row_base, u);
    let d = half_lo(w[b]);
    let m = half_hi(w[b]);
    let qh = w[b + 1u];
    var r: array<vec4<f32>, 8>;
    for (var q = 0u; q < 8u; q++) {
        let lo = bytes4u(w[b + 2u + (q & 3u)], (q >> 2u) * 4u, 0xFu);
        let hi = (vec4<u32>(qh) >> (vec4<u32>(0u, 1u, 2u, 3u) + 4u * q)) & vec4<u32>(1u);
        r[q] = vec4<f32>(lo | (hi << vec4<u32>(4u))) * d + m;
    }
    return r;
}
