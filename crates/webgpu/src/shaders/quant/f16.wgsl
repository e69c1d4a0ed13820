// F16 rows, two halves per word (rows padded to whole words): 16 words per unit.
const UNITS_PER_BLOCK: u32 = 1u;
const BLOCK_U32S: u32 = 16u;

fn decode_unit(row_base: u32, u: u32) -> array<vec4<f32>, 8> {
    let b = row_base + u * 16u;
    var r: array<vec4<f32>, 8>;
    for (var q = 0u; q < 8u; q++) {
        r[q] = vec4<f32>(unpack2x16float(w[b + 2u * q]), unpack2x16float(w[b + 2u * q + 1u]));
    }
    return r;
}
