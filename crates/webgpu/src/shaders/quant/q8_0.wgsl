// Q8_0, re-packed to 36 bytes: word 0 = d (low half), words 1..8 = qs[32] as i8. y = q·d.
const UNITS_PER_BLOCK: u32 = 1u;
const BLOCK_U32S: u32 = 9u;

fn decode_unit(row_base: u32, u: u32) -> array<vec4<f32>, 8> {
    let b = block_base(row_base, u);
    let d = half_lo(w[b]);
    var r: array<vec4<f32>, 8>;
    for (var q = 0u; q < 8u; q++) {
        let word = w[b + 1u + q];
        let s = vec4<i32>(bitcast<i32>(word << 24u), bitcast<i32>(word << 16u), bitcast<i32>(word << 8u), bitcast<i32>(word));
        r[q] = vec4<f32>(s >> vec4<u32>(24u)) * d;
    }
    return r;
}
