//! Q4_0 — 32 elements in 18 bytes: `d: f16 @0`, `qs[16] @2`; y = (q − 8)·d, 4-bit q.
//! Low nibbles hold elements 0..15, high nibbles elements 16..31.

use crate::fields::{get_f16, put_f16};

pub const BLOCK_ELEMS: usize = 32;
pub const BLOCK_BYTES: usize = 18;

pub fn dequantize_block(b: &[u8; BLOCK_BYTES], y: &mut [f32; BLOCK_ELEMS]) {
    let d = get_f16(b, 0);
    let qs = &b[2..18];
    for j in 0..16 {
        y[j] = ((qs[j] & 0x0F) as i32 - 8) as f32 * d;
        y[j + 16] = ((qs[j] >> 4) as i32 - 8) as f32 * d;
    }
}

pub fn dot_block(b: &[u8; BLOCK_BYTES], x: &[f32; BLOCK_ELEMS]) -> f32 {
    crate::row::dot_block(dequantize_block, b, x)
}

/// ggml's `quantize_row_q4_0_ref`: the signed value of largest magnitude maps to −8, so d = max / −8.
pub fn quantize_block(x: &[f32; BLOCK_ELEMS], b: &mut [u8; BLOCK_BYTES]) {
    let mut amax = 0.0f32;
    let mut max = 0.0f32;
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    let d = max / -8.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    put_f16(b, 0, d);
    for j in 0..16 {
        // Truncation after +8.5 is ggml's rounding; `as` saturates where C would overflow.
        let q0 = ((x[j] * id + 8.5) as i8).clamp(0, 15) as u8;
        let q1 = ((x[j + 16] * id + 8.5) as i8).clamp(0, 15) as u8;
        b[2 + j] = q0 | (q1 << 4);
    }
}
