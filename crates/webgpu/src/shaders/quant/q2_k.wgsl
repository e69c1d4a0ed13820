// Q2_K (84 bytes, aligned): scales[16] @0 (words 0..3), qs[64] @16 (words 4..19), d, dmin @80 (word 20).
// Unit u = 4·half + j covers elements 128·half + 32·j + l (l < 32): q = bits 2j..2j+1 of
// qs[32·half + l]; sub-block 8·half + 2·j + (l ≥ 16) with scale byte sc: y = d·(sc & 15)·q − dmin·(sc >> 4).
const UNITS_PER_BLOCK: u32 = 8u;
const BLOCK_U32S: u32 = 21u;

fn decode_unit(row_base: u32, u: u32) -> array<vec4<f32>, 8> {
    let b = block_base(row_base, u);
    let s = u % 8u;
    let half = s >> 2u;
    let j = s & 3u;
    let d = half_lo(w[b + 20u]);
    let dmin = half_hi(w[b + 20u]);
    let sc0 = byte_of(b, 8u * half + 2u * j);
    let sc1 = byte_of(b, 8u * half + 2u * j + 1u);
    var r: array<vec4<f32>, 8>;
    for (var q = 0u; q < 8u; q++) {
        let sc = select(sc0, sc1, q >= 4u);
        let qv = bytes4(w[b + 4u + 8u * half + q], 2u * j, 3u);
        r[q] = qv * (d * f32(sc & 0xFu)) - dmin * f32(sc >> 4u);
    }
    return r;
}
