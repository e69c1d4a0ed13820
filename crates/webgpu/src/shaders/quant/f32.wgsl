// F32 rows: 32 consecutive words per unit (the last unit of a row may run past it; the caller masks).
const UNITS_PER_BLOCK: u32 = 1u;
const BLOCK_U32S: u32 = 32u;

fn decode_unit(row_base: u32, u: u32) -> array<vec4<f32>, 8> {
    let b = row_base + u * 32u;
    var r: array<vec4<f32>, 8>;
    for (var q = 0u; q < 8u; q++) {
        let i = b + 4u * q;
        r[q] = vec4<f32>(bitcast<f32>(w[i]), bitcast<f32>(w[i + 1u]), bitcast<f32>(w[i + 2u]), bitcast<f32>(w[i + 3u]));
    }
    return r;
}
