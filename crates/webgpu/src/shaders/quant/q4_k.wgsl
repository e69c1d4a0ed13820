// Q4_K (144 bytes, aligned): d, dmin @0 (word 0), scales[12] @4, qs[128] @16 (words 4..35).
// Unit u = sub-block s (0..8) with 6-bit (sc, m) from the 12-byte packing (see k_scale_min):
// q = nibble (low for even s, high for odd) of qs[32·(s/2) + l]; y = d·sc·q − dmin·m.
const UNITS_PER_BLOCK: u32 = 8u;
const BLOCK_U32S: u32 = 36u;

// (scale, min) of sub-block s from the 12 packed bytes at byte 4 of the block (ggml's get_scale_min_k4).
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
        r[q] = bytes4(w[b + 4u + 8u * (s >> 1u) + q], 4u * (s & 1u), 0xFu) * dl - ml;
    }
    return r;
}
