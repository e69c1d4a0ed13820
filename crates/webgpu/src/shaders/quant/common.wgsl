// Helpers shared by the weight decoders in this folder. Every decoder reads the weight matrix from a
// storage binding named `w` (array<u32>) that the including kernel declares, and defines:
//   const UNITS_PER_BLOCK: u32;   units of 32 elements per stored block
//   const BLOCK_U32S: u32;        u32 words per stored (re-packed, 4-byte aligned) block
//   fn decode_unit(row_base: u32, u: u32) -> array<vec4<f32>, 8>
// which returns elements 32·u .. 32·u + 31 of the row whose first word is `row_base`, as 8 vec4s.
// Decoding is exact in f32 (the stored values are small integers times f16 scales).

// Low and high f16 halves of a word, as f32.
fn half_lo(word: u32) -> f32 { return unpack2x16float(word).x; }
fn half_hi(word: u32) -> f32 { return unpack2x16float(word).y; }

// The 4 bytes of `word`, each shifted right by `shift` and masked with `mask`.
fn bytes4u(word: u32, shift: u32, mask: u32) -> vec4<u32> {
    let v = vec4<u32>(word, word >> 8u, word >> 16u, word >> 24u);
    return (v >> vec4<u32>(shift)) & vec4<u32>(mask);
}

fn bytes4(word: u32, shift: u32, mask: u32) -> vec4<f32> {
    return vec4<f32>(bytes4u(word, shift, mask));
}

// Byte `i` of the block that starts at word `base`.
fn byte_of(base: u32, i: u32) -> u32 {
    return (w[base + (i >> 2u)] >> ((i & 3u) * 8u)) & 0xFFu;
}

// Sign-extends a byte (0..255) to i32.
fn sext8(b: u32) -> i32 {
    return bitcast<i32>(b << 24u) >> 24u;
}

// Word offset of the block holding unit `u` of a row.
fn block_base(row_base: u32, u: u32) -> u32 {
    return row_base + (u / UNITS_PER_BLOCK) * BLOCK_U32S;
}
