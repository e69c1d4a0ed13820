// Q4_0, re-packed to 20 bytes: word 0 = d (f16, low half; high half padding), words 1..4 = qs[16].
// y[j] = (lo nibble of qs[j] − 8)·d, y[j + 16] = (hi nibble of qs[j] − 8)·d.
const UNITS_PER_BLOCK: u32 = 1u;
const BLOCK_U32S: u32 = 5u;

fn decode_unit(row_base: u32, u: u32) -> array<vec4<f32>, 8> {
    let b = block_base(row_base, u);
    let d = half_lo(w[b]);
    var r: array<vec4<f32>, 8>;
    for (var q = 0u; q < 8u; q++) {
        r[q] = (bytes4(w[b + 1u + (q & 3u)], (q >> 2u) * 4u, 0xFu) - 8.0) * d;
    }
    return r;
}
