//! Q8_K (activation format, not a storage type aviary computes on) — 256 elements in 292 bytes:
//! `d: f32 @0`, `qs[256]: i8 @4`, `bsums[16]: i16 @260` (sums of 16-element groups); y = d·q.
//! ggml quantizes activations to Q8_K for K-quant weights; kept here for parity experiments.

use super::search::nearest_int;
use super::QK_K;

pub const BLOCK_ELEMS: usize = QK_K;
pub const BLOCK_BYTES: usize = 292;

pub fn dequantize_block(b: &[u8; BLOCK_BYTES], y: &mut [f32; BLOCK_ELEMS]) {
    let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    for (yi, &q) in y.iter_mut().zip(&b[4..260]) {
        *yi = d * q as i8 as f32;
    }
}

/// ggml's `quantize_row_q8_K_ref`: the signed value of largest magnitude maps to −127 (so +127 is
/// clamped from 128 where needed), d = 1/iscale stored as f32.
pub fn quantize_block(x: &[f32; BLOCK_ELEMS], b: &mut [u8; BLOCK_BYTES]) {
    let (mut max, mut amax) = (0.0f32, 0.0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    b.fill(0);
    if amax == 0.0 {
        return;
    }
    let iscale = -127.0 / max;
    for (j, &v) in x.iter().enumerate() {
        b[4 + j] = nearest_int(iscale * v).clamp(-128, 127) as i8 as u8;
    }
    for g in 0..16 {
        let sum: i32 = b[4 + 16 * g..4 + 16 * g + 16]
            .iter()
            .map(|&q| q as i8 as i32)
            .sum();
        b[260 + 2 * g..262 + 2 * g].copy_from_slice(&(sum as i16).to_le_bytes());
    }
    b[0..4].copy_from_slice(&(1.0 / iscale).to_le_bytes());
}
