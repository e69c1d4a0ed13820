// Q6_K, re-packed to 224 bytes (16-byte aligned): ql[128] @0 (words 0..31), qh[64] @128 (words 32..47), scales[16] i8
// @192 (bytes 192..207), d @208 (word 52, low half; 14 bytes padding).
// Unit u = 4·half + quarter covers elements 128·half + 32·quarter + l: low 4 bits from
// ql[64·half + 32·(quarter mod 2) + l] (low nibble for quarter < 2), high 2 bits at bit 2·quarter of
// qh[32·half + l]; scale index 8·half + 2·quarter + l/16; y = d·scale·(q − 32).
const UNITS_PER_BLOCK: u32 = 8u;
const BLOCK_U32S: u32 = 56u;

fn decode_unit(row_base: u32, u: u32) -> array<vec4<f32>, 8> {
    let b = block_base(row_base, u);
    let s = u % 8u;
    let half = s >> 2u;
    let quarter = s & 3u;
    let d = half_lo(w[b + 52u]);
    let dl0 = d * f32(sext8(byte_of(b, 192u + 8u * half + 2u * quarter)));
    let dl1 = d * f32(sext8(byte_of(b, 193u + 8u * half + 2u * quarter)));
    var r: array<vec4<f32>, 8>;
    for (var q = 0u; q < 8u; q++) {
        let lo = bytes4u(w[b + 16u * half + 8u * (quarter & 1u) + q], 4u * (quarter >> 1u), 0xFu);
        let hi = bytes4u(w[b + 32u + 8u * half + q], 2u * quarter, 3u);
        r[q] = (vec4<f32>(lo | (hi << vec4<u32>(4u))) - 32.0) * select(dl0, dl1, q >= 4u);
    }
    return r;
}
