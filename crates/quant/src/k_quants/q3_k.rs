//! Q3_K — 256 elements in 110 bytes: `hmask[32] @0`, `qs[64] @32`, `scales[12] @96`, `d: f16 @108`.
//!
//! Symmetric: y = d·S·q with sixteen signed 6-bit sub-block scales S (stored +32) and 3-bit q in −4..3.
//! Element e = 128·half + 32·j + l: low 2 bits from bits 2j..2j+1 of qs[32·half + l], high bit from bit
//! 4·half + j of hmask[l] (set means no −4), sub-block 8·half + 2·j + (l ≥ 16).
//! Scale s: low 4 bits in scales[s] (s < 8, low nibble) or scales[s − 8] (high nibble); high 2 bits at
//! bit 2·(s / 4) of scales[8 + s mod 4].

use super::search::{make_q3_quants, nearest_int};
use super::QK_K;
use crate::fields::{get_f16, put_f16};

pub const BLOCK_ELEMS: usize = QK_K;
pub const BLOCK_BYTES: usize = 110;

/// Signed scale of sub-block `s` (0..16), in −32..31.
fn scale(packed: &[u8], s: usize) -> i32 {
    let low4 = if s < 8 {
        packed[s] & 0x0F
    } else {
        packed[s - 8] >> 4
    };
    let high2 = (packed[8 + s % 4] >> (2 * (s / 4))) & 3;
    (low4 | (high2 << 4)) as i32 - 32
}

/// Stores `l` (0..64, the scale +32) for sub-block `s`; `packed` starts zeroed.
fn put_scale(packed: &mut [u8], s: usize, l: u8) {
    if s < 8 {
        packed[s] |= l & 0x0F;
    } else {
        packed[s - 8] |= (l & 0x0F) << 4;
    }
    packed[8 + s % 4] |= (l >> 4) << (2 * (s / 4));
}

pub fn dequantize_block(b: &[u8; BLOCK_BYTES], y: &mut [f32; BLOCK_ELEMS]) {
    let hmask = &b[0..32];
    let qs = &b[32..96];
    let scales = &b[96..108];
    let d = get_f16(b, 108);
    for half in 0..2 {
        for j in 0..4 {
            for sub in 0..2 {
                let dl = d * scale(scales, 8 * half + 2 * j + sub) as f32;
                for l in 16 * sub..16 * sub + 16 {
                    let q2 = ((qs[32 * half + l] >> (2 * j)) & 3) as i32;
                    let high = (hmask[l] >> (4 * half + j)) & 1;
                    let q = q2 - if high == 1 { 0 } else { 4 };
                    y[128 * half + 32 * j + l] = dl * q as f32;
                }
            }
        }
    }
}

pub fn dot_block(b: &[u8; BLOCK_BYTES], x: &[f32; BLOCK_ELEMS]) -> f32 {
    crate::row::dot_block(dequantize_block, b, x)
}

/// ggml's `quantize_row_q3_K_ref`: per sub-block a symmetric 3-bit fit (weights x², coordinate descent),
/// then the scales quantized to 6 bits against the one of largest magnitude, then levels recomputed
/// with the stored scales.
pub fn quantize_block(x: &[f32; BLOCK_ELEMS], b: &mut [u8; BLOCK_BYTES]) {
    let mut levels = [0i8; QK_K];
    let mut scales = [0.0f32; 16];
    let (mut max_scale, mut amax) = (0.0f32, 0.0f32);
    for j in 0..16 {
        scales[j] = make_q3_quants(4, &x[16 * j..16 * j + 16], &mut levels[16 * j..16 * j + 16]);
        if scales[j].abs() > amax {
            amax = scales[j].abs();
            max_scale = scales[j];
        }
    }

    let mut packed = [0u8; 12];
    let d = if max_scale != 0.0 {
        let iscale = -32.0 / max_scale;
        for (j, &scale) in scales.iter().enumerate() {
            let l = nearest_int(iscale * scale).clamp(-32, 31) + 32;
            put_scale(&mut packed, j, l as u8);
        }
        put_f16(b, 108, 1.0 / iscale)
    } else {
        put_f16(b, 108, 0.0)
    };
    b[96..108].copy_from_slice(&packed);

    for j in 0..16 {
        let dl = d * scale(&packed, j) as f32;
        if dl == 0.0 {
            continue;
        }
        for i in 16 * j..16 * j + 16 {
            levels[i] = (nearest_int(x[i] / dl).clamp(-4, 3) + 4) as i8;
        }
    }

    // High bit of element e goes to bit e / 32 of hmask[e mod 32].
    let mut hmask = [0u8; 32];
    for (e, level) in levels.iter_mut().enumerate() {
        if *level > 3 {
            hmask[e % 32] |= 1 << (e / 32);
            *level -= 4;
        }
    }
    b[0..32].copy_from_slice(&hmask);
    for half in 0..2 {
        for l in 0..32 {
            let e = 128 * half + l;
            let q = |k: usize| levels[e + 32 * k] as u8;
            b[32 + 32 * half + l] = q(0) | (q(1) << 2) | (q(2) << 4) | (q(3) << 6);
        }
    }
}
