//! Q2_K — 256 elements in 84 bytes: `scales[16] @0`, `qs[64] @16`, `d: f16 @80`, `dmin: f16 @82`.
//!
//! Sixteen sub-blocks of 16; scales[s] holds a 4-bit scale (low nibble) and 4-bit min (high nibble):
//! y = d·sc·q − dmin·m with 2-bit q. Element e = 128·half + 32·j + l takes bits 2j..2j+1 of
//! qs[32·half + l] and sub-block 8·half + 2·j + (l ≥ 16).

use super::search::{make_qkx2_quants, nearest_int, Qkx2Search};
use super::QK_K;
use crate::fields::{get_f16, put_f16};

pub const BLOCK_ELEMS: usize = QK_K;
pub const BLOCK_BYTES: usize = 84;

pub fn dequantize_block(b: &[u8; BLOCK_BYTES], y: &mut [f32; BLOCK_ELEMS]) {
    let scales = &b[0..16];
    let qs = &b[16..80];
    let d = get_f16(b, 80);
    let dmin = get_f16(b, 82);
    for half in 0..2 {
        for j in 0..4 {
            for sub in 0..2 {
                let sc = scales[8 * half + 2 * j + sub];
                let dl = d * (sc & 0x0F) as f32;
                let ml = dmin * (sc >> 4) as f32;
                for l in 16 * sub..16 * sub + 16 {
                    let q = (qs[32 * half + l] >> (2 * j)) & 3;
                    y[128 * half + 32 * j + l] = dl * q as f32 - ml;
                }
            }
        }
    }
}

pub fn dot_block(b: &[u8; BLOCK_BYTES], x: &[f32; BLOCK_ELEMS]) -> f32 {
    crate::row::dot_block(dequantize_block, b, x)
}

/// ggml's `quantize_row_q2_K_ref`: per sub-block an asymmetric 2-bit fit weighted by |x| (mean
/// absolute error), then scales and mins quantized to 4 bits against the largest of each, then the
/// levels recomputed with the stored scales.
pub fn quantize_block(x: &[f32; BLOCK_ELEMS], b: &mut [u8; BLOCK_BYTES]) {
    const Q4SCALE: f32 = 15.0;
    let search = Qkx2Search {
        rmin: -0.5,
        rdelta: 0.1,
        nstep: 15,
        use_mad: true,
    };
    let mut levels = [0u8; QK_K];
    let mut scales = [0.0f32; 16];
    let mut mins = [0.0f32; 16];
    let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
    for j in 0..16 {
        let xs = &x[16 * j..16 * j + 16];
        let mut weights = [0.0f32; 16];
        for (w, v) in weights.iter_mut().zip(xs) {
            *w = v.abs();
        }
        let (scale, min) =
            make_qkx2_quants(3, xs, &weights, &mut levels[16 * j..16 * j + 16], &search);
        scales[j] = scale;
        mins[j] = min;
        max_scale = max_scale.max(scale);
        max_min = max_min.max(min);
    }

    let mut packed = [0u8; 16];
    let d = if max_scale > 0.0 {
        let iscale = Q4SCALE / max_scale;
        for j in 0..16 {
            packed[j] = nearest_int(iscale * scales[j]).clamp(0, 15) as u8;
        }
        put_f16(b, 80, max_scale / Q4SCALE)
    } else {
        put_f16(b, 80, 0.0)
    };
    let dmin = if max_min > 0.0 {
        let iscale = Q4SCALE / max_min;
        for j in 0..16 {
            packed[j] |= (nearest_int(iscale * mins[j]).clamp(0, 15) as u8) << 4;
        }
        put_f16(b, 82, max_min / Q4SCALE)
    } else {
        put_f16(b, 82, 0.0)
    };
    b[0..16].copy_from_slice(&packed);

    for (j, &sc) in packed.iter().enumerate() {
        let dl = d * (sc & 0x0F) as f32;
        if dl == 0.0 {
            continue;
        }
        let ml = dmin * (sc >> 4) as f32;
        for i in 16 * j..16 * j + 16 {
            levels[i] = nearest_int((x[i] + ml) / dl).clamp(0, 3) as u8;
        }
    }

    for half in 0..2 {
        for l in 0..32 {
            let e = 128 * half + l;
            b[16 + 32 * half + l] =
                levels[e] | (levels[e + 32] << 2) | (levels[e + 64] << 4) | (levels[e + 96] << 6);
        }
    }
}
