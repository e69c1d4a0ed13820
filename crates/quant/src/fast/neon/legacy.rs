//! The 32-element formats: Q8_0 / Q4_0 / Q5_0 weights (signed levels, one f16 scale) × Q8_0
//! activations, and Q4_1 / Q5_1 (`q·d + m`) × Q8_1 activations. Each weight block is decoded to
//! two vectors of signed bytes once and dotted with every activation row; NEON multiplies
//! signed × signed, so no offset needs moving onto the activations.

use core::arch::aarch64::*;

use super::prims::{bytes_from_bits, dot32z, h16, ld_s8, nibbles, prefetch_ahead, s8};
use crate::fast::layout as lay;

pub(crate) const SYM_Q8_0: u8 = 0;
pub(crate) const SYM_Q4_0: u8 = 1;
pub(crate) const SYM_Q5_0: u8 = 2;

/// Q8_0 / Q4_0 / Q5_0 weights × Q8_0 activations.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn sym32<const TY: u8, const DOT: bool, const N: usize>(
    w0: *const u8,
    rb: usize,
    rows: usize,
    nb: usize,
    a: &[*const u8],
    out: *mut f32,
    os: usize,
) {
    let bb = match TY {
        SYM_Q8_0 => 34,
        SYM_Q4_0 => 18,
        _ => 22,
    };
    for r in 0..rows {
        let w = w0.add(r * rb);
        let mut acc = [vdupq_n_f32(0.0); N];
        for b in 0..nb {
            let wb = w.add(b * bb);
            if N <= 2 {
                prefetch_ahead(wb, bb);
            }
            let d = h16(wb);
            let (q0, q1) = match TY {
                SYM_Q8_0 => (ld_s8(wb.add(2)), ld_s8(wb.add(18))),
                SYM_Q4_0 => {
                    let (lo, hi) = nibbles(wb.add(2));
                    let eight = vdupq_n_s8(8);
                    (vsubq_s8(s8(lo), eight), vsubq_s8(s8(hi), eight))
                }
                _ => {
                    // Bit e of qh is bit 4 of element e: elements 0–15 are the low nibbles.
                    let (h0, h1) = bytes_from_bits((wb.add(2) as *const u32).read_unaligned());
                    let (lo, hi) = nibbles(wb.add(6));
                    let (b4, sixteen) = (vdupq_n_u8(0x10), vdupq_n_s8(16));
                    (
                        vsubq_s8(s8(vorrq_u8(lo, vandq_u8(h0, b4))), sixteen),
                        vsubq_s8(s8(vorrq_u8(hi, vandq_u8(h1, b4))), sixteen),
                    )
                }
            };
            for t in 0..N {
                let ab = a[t].add(b * lay::Q8_0_BYTES);
                let p = dot32z::<DOT>(q0, q1, ab.add(2));
                acc[t] = vfmaq_n_f32(acc[t], vcvtq_f32_s32(p), d * h16(ab));
            }
        }
        for (t, &v) in acc.iter().enumerate() {
            *out.add(r * os + t) = vaddvq_f32(v);
        }
    }
}

pub(crate) const ASYM_Q4_1: u8 = 0;
pub(crate) const ASYM_Q5_1: u8 = 1;

/// Q4_1 / Q5_1 weights × Q8_1 activations, whose stored `s = d·Σq` carries the min term (so, as in
/// ggml, that term sees the f16 rounding of `s`).
#[target_feature(enable = "neon")]
pub(crate) unsafe fn asym32<const TY: u8, const DOT: bool, const N: usize>(
    w0: *const u8,
    rb: usize,
    rows: usize,
    nb: usize,
    a: &[*const u8],
    out: *mut f32,
    os: usize,
) {
    let bb = if TY == ASYM_Q4_1 { 20 } else { 24 };
    for r in 0..rows {
        let w = w0.add(r * rb);
        let mut acc = [vdupq_n_f32(0.0); N];
        let mut accm = [0f32; N];
        for b in 0..nb {
            let wb = w.add(b * bb);
            if N <= 2 {
                prefetch_ahead(wb, bb);
            }
            let (d, m) = (h16(wb), h16(wb.add(2)));
            // Levels 0..15 (0..31) are valid non-negative i8s.
            let (q0, q1) = if TY == ASYM_Q4_1 {
                let (lo, hi) = nibbles(wb.add(4));
                (s8(lo), s8(hi))
            } else {
                let (h0, h1) = bytes_from_bits((wb.add(4) as *const u32).read_unaligned());
                let (lo, hi) = nibbles(wb.add(8));
                let b4 = vdupq_n_u8(0x10);
                (s8(vorrq_u8(lo, vandq_u8(h0, b4))), s8(vorrq_u8(hi, vandq_u8(h1, b4))))
            };
            for t in 0..N {
                let ab = a[t].add(b * lay::Q8_1_BYTES);
                let p = dot32z::<DOT>(q0, q1, ab.add(4));
                acc[t] = vfmaq_n_f32(acc[t], vcvtq_f32_s32(p), d * h16(ab));
                accm[t] += m * h16(ab.add(2));
            }
        }
        for t in 0..N {
            *out.add(r * os + t) = vaddvq_f32(acc[t]) + accm[t];
        }
    }
}
