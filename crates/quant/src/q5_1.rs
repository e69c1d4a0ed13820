//! Q5_1 — 32 elements in 24 bytes: `d: f16 @0`, `m: f16 @2`, `qh: u32 @4`, `qs[16] @8`; y = q·d + m, 5-bit q.
//! Bit layout as Q5_0.

use crate::fields::{get_f16, get_u32, put_f16, put_u32};

pub const BLOCK_ELEMS: usize = 32;
pub const BLOCK_BYTES: usize = 24;

pub fn dequantize_block(b: &[u8; BLOCK_BYTES], y: &mut [f32; BLOCK_ELEMS]) {
    let d = get_f16(b, 0);
    let m = get_f16(b, 2);
    let qh = get_u32(b, 4);
    let qs = &b[8..24];
    for j in 0..16 {
        let h0 = ((qh >> j) & 1) as u8;
        let h1 = ((qh >> (j + 16)) & 1) as u8;
        y[j] = ((qs[j] & 0x0F) | (h0 << 4)) as f32 * d + m;
        y[j + 16] = ((qs[j] >> 4) | (h1 << 4)) as f32 * d + m;
    }
}

pub fn dot_block(b: &[u8; BLOCK_BYTES], x: &[f32; BLOCK_ELEMS]) -> f32 {
    crate::row::dot_block(dequantize_block, b, x)
}

/// ggml's `quantize_row_q5_1_ref`: min/max of the block span the 32 levels.
pub fn quantize_block(x: &[f32; BLOCK_ELEMS], b: &mut [u8; BLOCK_BYTES]) {
    let mut min = f32::MAX;
    let mut max = -f32::MAX;
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    let d = (max - min) / 31.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    put_f16(b, 0, d);
    put_f16(b, 2, min);
    let mut qh = 0u32;
    for j in 0..16 {
        // ggml does not clamp here; clamping to 31 only differs where rounding would reach 32.
        let q0 = (((x[j] - min) * id + 0.5) as u8).min(31);
        let q1 = (((x[j + 16] - min) * id + 0.5) as u8).min(31);
        b[8 + j] = (q0 & 0x0F) | ((q1 & 0x0F) << 4);
        qh |= ((q0 >> 4) as u32) << j;
        qh |= ((q1 >> 4) as u32) << (j + 16);
    }
    put_u32(b, 4, qh);
}
