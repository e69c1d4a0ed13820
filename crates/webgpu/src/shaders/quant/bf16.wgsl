// BF16 rows, two per word (rows padded to whole words): a bf16 is the top half of an f32.
const UNITS_PER_BLOCK: u32 = 1u;
const BLOCK_U32S: u32 = 16u;

fn bf16_pair(word: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xFFFF0000u));
}

fn decode_unit(row_base: u32, u: u32) -> array<vec4<f32>, 8> {
    let b = row_base + u * 16u;
    var r: array<vec4<f32>, 8>;
    for (var q = 0u; q < 8u; q++) {
        r[q] = vec4<f32>(bf16_pair(w[b + 2u * q]), bf16_pair(w[b + 2u * q + 1u]));
    }
    return r;
}
