//! Q4_K — 256 elements in 144 bytes: `d: f16 @0`, `dmin: f16 @2`, `scales[12] @4`, `qs[128] @16`.
//!
//! Eight sub-blocks of 32 with 6-bit scale and min (packing in `scale_min`): y = d·sc·q − dmin·m, 4-bit q.
//! Sub-block s uses the low (s even) or high (s odd) nibbles of qs[32·(s/2) .. 32·(s/2) + 32].

use super::search::{make_qkx2_quants, nearest_int, Qkx2Search};
use super::{scale_min, QK_K};
use crate::fields::{get_f16, put_f16};

pub const BLOCK_ELEMS: usize = QK_K;
pub const BLOCK_BYTES: usize = 144;

pub fn dequantize_block(b: &[u8; BLOCK_BYTES], y: &mut [f32; BLOCK_ELEMS]) {
    let d = get_f16(b, 0);
    let dmin = get_f16(b, 2);
    let scales = &b[4..16];
    let qs = &b[16..144];
    for s in 0..8 {
        let (sc, m) = scale_min::get(scales, s);
        let dl = d * sc as f32;
        let ml = dmin * m as f32;
        let shift = 4 * (s % 2);
        for l in 0..32 {
            let q = (qs[32 * (s / 2) + l] >> shift) & 0x0F;
            y[32 * s + l] = dl * q as f32 - ml;
        }
    }
}

pub fn dot_block(b: &[u8; BLOCK_BYTES], x: &[f32; BLOCK_ELEMS]) -> f32 {
    crate::row::dot_block(dequantize_block, b, x)
}

/// Per-sub-block asymmetric fits for Q4_K/Q5_K (`quantize_row_q{4,5}_K_ref`): weights av|x| + |x|,
/// then scales and mins quantized to 6 bits against the largest of each. Returns (d, dmin) as
/// stored (f16-rounded) and the packed scales; `b` receives d at 0 and dmin at 2.
pub(crate) fn fit_scales(
    x: &[f32; QK_K],
    nmax: i32,
    search: &Qkx2Search,
    levels: &mut [u8; QK_K],
    b: &mut [u8],
) -> (f32, f32, [u8; 12]) {
    let mut scales = [0.0f32; 8];
    let mut mins = [0.0f32; 8];
    let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
    for j in 0..8 {
        let xs = &x[32 * j..32 * j + 32];
        let sum_x2: f32 = xs.iter().map(|v| v * v).sum();
        let av_x = (sum_x2 / 32.0).sqrt();
        let mut weights = [0.0f32; 32];
        for (w, v) in weights.iter_mut().zip(xs) {
            *w = av_x + v.abs();
        }
        let (scale, min) =
            make_qkx2_quants(nmax, xs, &weights, &mut levels[32 * j..32 * j + 32], search);
        scales[j] = scale;
        mins[j] = min;
        max_scale = max_scale.max(scale);
        max_min = max_min.max(min);
    }
    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let mut ls = [0u8; 8];
    let mut lm = [0u8; 8];
    for j in 0..8 {
        ls[j] = nearest_int(inv_scale * scales[j]).clamp(0, 63) as u8;
        lm[j] = nearest_int(inv_min * mins[j]).clamp(0, 63) as u8;
    }
    let d = put_f16(b, 0, max_scale / 63.0);
    let dmin = put_f16(b, 2, max_min / 63.0);
    (d, dmin, scale_min::pack(&ls, &lm))
}

/// Recomputes the levels (0..=nmax) of every sub-block from the stored scales and mins.
pub(crate) fn requantize(
    x: &[f32; QK_K],
    nmax: i32,
    d: f32,
    dmin: f32,
    packed: &[u8; 12],
    levels: &mut [u8; QK_K],
) {
    for j in 0..8 {
        let (sc, m) = scale_min::get(packed, j);
        let dl = d * sc as f32;
        if dl == 0.0 {
            continue;
        }
        let ml = dmin * m as f32;
        for i in 32 * j..32 * j + 32 {
            levels[i] = nearest_int((x[i] + ml) / dl).clamp(0, nmax) as u8;
        }
    }
}

/// ggml's `quantize_row_q4_K_ref`.
pub fn quantize_block(x: &[f32; BLOCK_ELEMS], b: &mut [u8; BLOCK_BYTES]) {
    let search = Qkx2Search {
        rmin: -1.0,
        rdelta: 0.1,
        nstep: 20,
        use_mad: false,
    };
    let mut levels = [0u8; QK_K];
    let (d, dmin, packed) = fit_scales(x, 15, &search, &mut levels, b);
    b[4..16].copy_from_slice(&packed);
    requantize(x, 15, d, dmin, &packed, &mut levels);
    for chunk in 0..4 {
        for l in 0..32 {
            let e = 64 * chunk + l;
            b[16 + 32 * chunk + l] = levels[e] | (levels[e + 32] << 4);
        }
    }
}
