//! Byte offsets of the activation formats and the scale unpacking the kernels share.

/// Q8_0 activation block: `d: f16 @0`, `qs[32] @2`.
pub(crate) const Q8_0_BYTES: usize = crate::q8_0::BLOCK_BYTES;
/// Q8_1 activation block: `d: f16 @0`, `s: f16 @2`, `qs[32] @4`.
pub(crate) const Q8_1_BYTES: usize = crate::q8_1::BLOCK_BYTES;
/// Q8_K activation block: `d: f32 @0`, `qs[256] @4`, `bsums[16]: i16 @260`.
pub(crate) const Q8K_BYTES: usize = crate::q8_k::BLOCK_BYTES;
pub(crate) const Q8K_QS: usize = 4;
pub(crate) const Q8K_BSUMS: usize = 260;

/// Q3_K's sixteen signed 6-bit scales (stored +32): low 4 bits in the nibbles of bytes 0–7
/// (scales 0–7 low nibbles, 8–15 high nibbles), high 2 bits at bit 2·(s/4) of byte 8 + s mod 4.
#[inline(always)]
pub(crate) fn q3k_scales(p: &[u8; 12]) -> [i16; 16] {
    let mut out = [0i16; 16];
    for (s, o) in out.iter_mut().enumerate() {
        let low4 = if s < 8 { p[s] & 0x0F } else { p[s - 8] >> 4 };
        let high2 = (p[8 + s % 4] >> (2 * (s / 4))) & 3;
        *o = (low4 | (high2 << 4)) as i16 - 32;
    }
    out
}
