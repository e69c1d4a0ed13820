//! Little-endian field access inside a block. Offsets are constants of each format, always in range.

use half::f16;

/// The f16 at byte `off`, widened to f32.
pub(crate) fn get_f16(b: &[u8], off: usize) -> f32 {
    f16::from_le_bytes([b[off], b[off + 1]]).to_f32()
}

/// Stores `v` rounded to f16 (nearest, ties to even, as ggml's FP32_TO_FP16) and returns the stored value,
/// because the quantizers continue with the rounded scale, as ggml's do.
pub(crate) fn put_f16(b: &mut [u8], off: usize, v: f32) -> f32 {
    let h = f16::from_f32(v);
    b[off..off + 2].copy_from_slice(&h.to_le_bytes());
    h.to_f32()
}

pub(crate) fn get_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

pub(crate) fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
