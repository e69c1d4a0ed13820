//! Q8_1 (activation format, not a storage type aviary computes on) — 32 elements in 36 bytes:
//! `d: f16 @0`, `s: f16 @2` (= d·Σq), `qs[32]: i8 @4`; y = q·d.
//! ggml quantizes activations to Q8_1 for Q4_1/Q5_1 weights; kept here for parity experiments.

use crate::fields::{get_f16, put_f16};

pub const BLOCK_ELEMS: usize = 32;
pub const BLOCK_BYTES: usize = 36;

pub fn dequantize_block(b: &[u8; BLOCK_BYTES], y: &mut [f32; BLOCK_ELEMS]) {
    let d = get_f16(b, 0);
    for j in 0..32 {
        y[j] = b[4 + j] as i8 as f32 * d;
    }
}

/// ggml's `quantize_row_q8_1_ref`.
pub fn quantize_block(x: &[f32; BLOCK_ELEMS], b: &mut [u8; BLOCK_BYTES]) {
    let amax = x.iter().fold(0.0f32, |a, v| a.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    put_f16(b, 0, d);
    let mut sum = 0i32;
    for j in 0..32 {
        let q = (x[j] * id).round() as i8;
        b[4 + j] = q as u8;
        sum += q as i32;
    }
    // ggml multiplies by the unrounded d here.
    put_f16(b, 2, sum as f32 * d);
}
