// Q3_K, re-packed to 112 bytes: hmask[32] @0 (words 0..7), qs[64] @32 (words 8..23), scales[12] @96
// (bytes 96..107), d @108 (word 27, low half; 2 bytes padding).
// Unit u = 4·half + j covers elements 128·half + 32·j + l: q = (bits 2j..2j+1 of qs[32·half + l]) − 4
// unless bit 4·half + j of hmask[l] is set; sub-block s = 8·half + 2·j + (l ≥ 16) has the signed
// 6-bit scale S(s) (low 4 bits in scales[s mod 8], nibble s / 8; high 2 bits at bit 2·(s / 4) of
// scales[8 + s mod 4]) − 32. y = d·S·q.
const UNITS_PER_BLOCK: u32 = 8u;
const BLOCK_U32S: u32 = 28u;

fn q3k_scale(b: u32, s: u32) -> f32 {
    let low4 = (byte_of(b, 96u + (s & 7u)) >> (4u * (s >> 3u))) & 0xFu;
    let high2 = (byte_of(b, 104u + (s & 3u)) >> (2u * (s >> 2u))) & 3u;
    return f32(i32(low4 | (high2 << 4u)) - 32);
}

fn decode_unit(row_base: u32, u: u32) -> array<vec4<f32>, 8> {
    let b = block_base(row_base, u);
    let s = u % 8u;
    let half = s >> 2u;
    let j = s & 3u;
    let d = half_lo(w[b + 27u]);
    let dl0 = d * q3k_scale(b, 8u * half + 2u * j);
    let dl1 = d * q3k_scale(b, 8u * half + 2u * j + 1u);
    var r: array<vec4<f32>, 8>;
    for (var q = 0u; q < 8u; q++) {
        let q2 = bytes4(w[b + 8u + 8u * half + q], 2u * j, 3u);
        let hm = bytes4(w[b + q], 4u * half + j, 1u);
        r[q] = (q2 + hm * 4.0 - 4.0) * select(dl0, dl1, q >= 4u);
    }
    return r;
}
