//! Q5_0 — 32 elements in 22 bytes: `d: f16 @0`, `qh: u32 @2`, `qs[16] @6`; y = (q − 16)·d, 5-bit q.
//! Low 4 bits as Q4_0 (low nibbles = elements 0..15); bit 4 of element e is bit e of qh.

use crate::fields::{get_f16, get_u32, put_f16, put_u32};

pub const BLOCK_ELEMS: usize = 32;
pub const BLOCK_BYTES: usize = 22;

pub fn dequantize_block(b: &[u8; BLOCK_BYTES], y: &mut [f32; BLOCK_ELEMS]) {
    let d = get_f16(b, 0);
    let qh = get_u32(b, 2);
    let qs = &b[6..22];
    for j in 0..16 {
        let h0 = ((qh >> j) & 1) as u8;
        let h1 = ((qh >> (j + 16)) & 1) as u8;
        y[j] = (((qs[j] & 0x0F) | (h0 << 4)) as i32 - 16) as f32 * d;
        y[j + 16] = (((qs[j] >> 4) | (h1 << 4)) as i32 - 16) as f32 * d;
    }
}

pub fn dot_block(b: &[u8; BLOCK_BYTES], x: &[f32; BLOCK_ELEMS]) -> f32 {
    crate::row::dot_block(dequantize_block, b, x)
}

/// ggml's `quantize_row_q5_0_ref`: d = max / −16 for the signed value of largest magnitude.
pub fn quantize_block(x: &[f32; BLOCK_ELEMS], b: &mut [u8; BLOCK_BYTES]) {
    let mut amax = 0.0f32;
    let mut max = 0.0f32;
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    let d = max / -16.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    put_f16(b, 0, d);
    let mut qh = 0u32;
    for j in 0..16 {
        let q0 = ((x[j] * id + 16.5) as i8).clamp(0, 31) as u8;
        let q1 = ((x[j + 16] * id + 16.5) as i8).clamp(0, 31) as u8;
        b[6 + j] = (q0 & 0x0F) | ((q1 & 0x0F) << 4);
        qh |= ((q0 >> 4) as u32) << j;
        qh |= ((q1 >> 4) as u32) << (j + 16);
    }
    put_u32(b, 2, qh);
}
