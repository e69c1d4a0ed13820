//! Q6_K — 256 elements in 210 bytes: `ql[128] @0`, `qh[64] @128`, `scales[16]: i8 @192`, `d: f16 @208`.
//!
//! Symmetric: y = d·scale·(q − 32) with 6-bit q and signed 8-bit scales per sub-block of 16.
//! Element e = 128·half + 32·quarter + l: low 4 bits from ql[64·half + l + 32·(quarter mod 2)] (low
//! nibble for quarter < 2, else high), high 2 bits at bit 2·quarter of qh[32·half + l];
//! scale index 8·half + 2·quarter + l/16.

use super::search::{make_qx_quants, nearest_int, GROUP_MAX_EPS};
use super::QK_K;
use crate::fields::{get_f16, put_f16};

pub const BLOCK_ELEMS: usize = QK_K;
pub const BLOCK_BYTES: usize = 210;

pub fn dequantize_block(b: &[u8; BLOCK_BYTES], y: &mut [f32; BLOCK_ELEMS]) {
    let ql = &b[0..128];
    let qh = &b[128..192];
    let scales = &b[192..208];
    let d = get_f16(b, 208);
    for half in 0..2 {
        for quarter in 0..4 {
            for l in 0..32 {
                let byte = ql[64 * half + l + 32 * (quarter % 2)];
                let low4 = if quarter < 2 { byte & 0x0F } else { byte >> 4 };
                let high2 = (qh[32 * half + l] >> (2 * quarter)) & 3;
                let q = (low4 | (high2 << 4)) as i32 - 32;
                let sc = scales[8 * half + 2 * quarter + l / 16] as i8;
                y[128 * half + 32 * quarter + l] = d * sc as f32 * q as f32;
            }
        }
    }
}

pub fn dot_block(b: &[u8; BLOCK_BYTES], x: &[f32; BLOCK_ELEMS]) -> f32 {
    crate::row::dot_block(dequantize_block, b, x)
}

/// ggml's `quantize_row_q6_K_ref`: per sub-block of 16 a symmetric 6-bit fit (`make_qx_quants`,
/// weights x²), the scales quantized to i8 against the one of largest magnitude (which maps to −128),
/// then levels recomputed with the stored scales.
pub fn quantize_block(x: &[f32; BLOCK_ELEMS], b: &mut [u8; BLOCK_BYTES]) {
    let mut levels = [0i8; QK_K];
    let mut scales = [0.0f32; 16];
    let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
    for j in 0..16 {
        scales[j] = make_qx_quants(
            32,
            &x[16 * j..16 * j + 16],
            &mut levels[16 * j..16 * j + 16],
        );
        if scales[j].abs() > max_abs_scale {
            max_abs_scale = scales[j].abs();
            max_scale = scales[j];
        }
    }
    if max_abs_scale < GROUP_MAX_EPS {
        b.fill(0);
        return;
    }

    let iscale = -128.0 / max_scale;
    let d = put_f16(b, 208, 1.0 / iscale);
    let mut stored = [0i8; 16];
    for (j, (s, &scale)) in stored.iter_mut().zip(&scales).enumerate() {
        *s = nearest_int(iscale * scale).clamp(-128, 127) as i8;
        b[192 + j] = *s as u8;
    }

    for (j, &s) in stored.iter().enumerate() {
        let dl = d * s as f32;
        if dl == 0.0 {
            continue;
        }
        for i in 16 * j..16 * j + 16 {
            levels[i] = (nearest_int(x[i] / dl).clamp(-32, 31) + 32) as i8;
        }
    }

    for half in 0..2 {
        for l in 0..32 {
            let e = 128 * half + l;
            let q = |k: usize| levels[e + 32 * k] as u8;
            b[64 * half + l] = (q(0) & 0x0F) | ((q(2) & 0x0F) << 4);
            b[64 * half + l + 32] = (q(1) & 0x0F) | ((q(3) & 0x0F) << 4);
            b[128 + 32 * half + l] =
                (q(0) >> 4) | ((q(1) >> 4) << 2) | ((q(2) >> 4) << 4) | ((q(3) >> 4) << 6);
        }
    }
}
