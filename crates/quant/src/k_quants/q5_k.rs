//! Q5_K — 256 elements in 176 bytes: `d: f16 @0`, `dmin: f16 @2`, `scales[12] @4`, `qh[32] @16`,
//! `qs[128] @48`.
//!
//! As Q4_K with a 5th bit: q += 16 · bit s of qh[l] for element 32·s + l (s = sub-block 0..8).

use super::q4_k::{fit_scales, requantize};
use super::search::Qkx2Search;
use super::{scale_min, QK_K};
use crate::fields::get_f16;

pub const BLOCK_ELEMS: usize = QK_K;
pub const BLOCK_BYTES: usize = 176;

pub fn dequantize_block(b: &[u8; BLOCK_BYTES], y: &mut [f32; BLOCK_ELEMS]) {
    let d = get_f16(b, 0);
    let dmin = get_f16(b, 2);
    let scales = &b[4..16];
    let qh = &b[16..48];
    let qs = &b[48..176];
    for s in 0..8 {
        let (sc, m) = scale_min::get(scales, s);
        let dl = d * sc as f32;
        let ml = dmin * m as f32;
        let shift = 4 * (s % 2);
        for l in 0..32 {
            let low = (qs[32 * (s / 2) + l] >> shift) & 0x0F;
            let high = (qh[l] >> s) & 1;
            y[32 * s + l] = dl * (low | (high << 4)) as f32 - ml;
        }
    }
}

pub fn dot_block(b: &[u8; BLOCK_BYTES], x: &[f32; BLOCK_ELEMS]) -> f32 {
    crate::row::dot_block(dequantize_block, b, x)
}

/// ggml's `quantize_row_q5_K_ref`.
pub fn quantize_block(x: &[f32; BLOCK_ELEMS], b: &mut [u8; BLOCK_BYTES]) {
    let search = Qkx2Search {
        rmin: -0.5,
        rdelta: 0.1,
        nstep: 15,
        use_mad: false,
    };
    let mut levels = [0u8; QK_K];
    let (d, dmin, packed) = fit_scales(x, 31, &search, &mut levels, b);
    b[4..16].copy_from_slice(&packed);
    requantize(x, 31, d, dmin, &packed, &mut levels);
    let mut qh = [0u8; 32];
    for (e, &level) in levels.iter().enumerate() {
        qh[e % 32] |= (level >> 4) << (e / 32);
    }
    b[16..48].copy_from_slice(&qh);
    for chunk in 0..4 {
        for l in 0..32 {
            let e = 64 * chunk + l;
            b[48 + 32 * chunk + l] = (levels[e] & 0x0F) | ((levels[e + 32] & 0x0F) << 4);
        }
    }
}
