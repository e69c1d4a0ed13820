//! K-quant weights (Q2_K … Q6_K, 256 elements per block) × Q8_K activations.
//!
//! Weights are decoded to signed bytes 64 elements at a time (symmetric offsets such as Q3_K's −4
//! and Q6_K's −32 applied in the bytes, since NEON multiplies signed × signed), dotted with each
//! activation row into a fresh i32 vector per sub-block, and that is multiply-added with the
//! sub-block's integer scale into one i32 accumulator per row; the float scale is applied once per
//! block. Mins of the asymmetric formats (Q2_K, Q4_K, Q5_K) go through Q8_K's block sums.
//! No i32 sum can overflow: a block's |Σ scale·q·a| stays below 2^28 for every format.

use core::arch::aarch64::*;

use super::prims::{dot16z, dot32z, f32_at, h16, ld_s8, ld_u8, prefetch_ahead, s8};
use crate::fast::layout as lay;

/// Adds sub-blocks of 16 (`w0` with scale `s0`, then `w1` with `s1`) dotted with the 32 activation
/// bytes at `off` in every row to `sumi`.
#[inline(always)]
unsafe fn pair16<const DOT: bool, const N: usize>(
    sumi: &mut [int32x4_t; N],
    (w0, w1): (int8x16_t, int8x16_t),
    (s0, s1): (int32x4_t, int32x4_t),
    a: &[*const u8],
    off: usize,
) {
    for t in 0..N {
        let ab = a[t].add(off);
        let p0 = dot16z::<DOT>(w0, ld_s8(ab));
        let p1 = dot16z::<DOT>(w1, ld_s8(ab.add(16)));
        sumi[t] = vmlaq_s32(vmlaq_s32(sumi[t], p0, s0), p1, s1);
    }
}

/// The 16 i16 block sums of a Q8_K activation block (one per 16 elements).
#[inline(always)]
unsafe fn bsums(ab: *const u8) -> (int16x8_t, int16x8_t) {
    let p = ab.add(lay::Q8K_BSUMS) as *const i16;
    (vld1q_s16(p), vld1q_s16(p.add(8)))
}

/// Σ x·y over eight i16 lanes, widened.
#[inline(always)]
unsafe fn dot_i16x8(x: int16x8_t, y: int16x8_t) -> int32x4_t {
    vmlal_high_s16(vmull_s16(vget_low_s16(x), vget_low_s16(y)), x, y)
}

/// Writes `Σ acc − accm` of every activation row.
#[inline(always)]
unsafe fn store<const N: usize>(acc: &[float32x4_t; N], accm: &[f32; N], out: *mut f32) {
    for t in 0..N {
        *out.add(t) = vaddvq_f32(acc[t]) - accm[t];
    }
}

/// Q4_K/Q5_K's 12-byte (scale, min) packing unpacked with 32-bit masks: (8 scales, 8 mins) as
/// little-endian byte lanes of u64s.
#[inline(always)]
unsafe fn k4_scales(p: *const u8) -> (u64, u64) {
    let u0 = (p as *const u32).read_unaligned();
    let u1 = (p.add(4) as *const u32).read_unaligned();
    let u2 = (p.add(8) as *const u32).read_unaligned();
    let sc_lo = u0 & 0x3F3F_3F3F;
    let mn_lo = u1 & 0x3F3F_3F3F;
    let sc_hi = (u2 & 0x0F0F_0F0F) | (((u0 >> 6) & 0x0303_0303) << 4);
    let mn_hi = ((u2 >> 4) & 0x0F0F_0F0F) | (((u1 >> 6) & 0x0303_0303) << 4);
    (((sc_hi as u64) << 32) | sc_lo as u64, ((mn_hi as u64) << 32) | mn_lo as u64)
}

/// Q4_K (`FIVE = false`) and Q5_K weights: eight sub-blocks of 32 with 6-bit scales and mins.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn q45_k<const FIVE: bool, const DOT: bool, const N: usize>(
    w0: *const u8,
    rb: usize,
    rows: usize,
    nb: usize,
    a: &[*const u8],
    out: *mut f32,
    os: usize,
) {
    let (bb, qs_off) = if FIVE { (176, 48) } else { (144, 16) };
    let (m4, one, two) = (vdupq_n_u8(0x0F), vdupq_n_u8(1), vdupq_n_u8(2));
    for r in 0..rows {
        let w = w0.add(r * rb);
        let mut acc = [vdupq_n_f32(0.0); N];
        let mut accm = [0f32; N];
        for b in 0..nb {
            let wb = w.add(b * bb);
            if N <= 2 {
                prefetch_ahead(wb, bb);
            }
            let (d, dmin) = (h16(wb), h16(wb.add(2)));
            let (sc, mn) = k4_scales(wb.add(4));
            let sc = sc.to_le_bytes();
            let mins = vreinterpretq_s16_u16(vmovl_u8(vcreate_u8(mn)));
            let (mut h0, mut h1) = if FIVE { (ld_u8(wb.add(16)), ld_u8(wb.add(32))) } else { (one, one) };
            let mut sumi = [vdupq_n_s32(0); N];
            for p in 0..4 {
                let x0 = ld_u8(wb.add(qs_off + 32 * p));
                let x1 = ld_u8(wb.add(qs_off + 32 * p + 16));
                let (mut lo0, mut lo1) = (vandq_u8(x0, m4), vandq_u8(x1, m4));
                let (mut hi0, mut hi1) = (vshrq_n_u8::<4>(x0), vshrq_n_u8::<4>(x1));
                if FIVE {
                    // Sub-block 2p takes bit 2p of qh, 2p + 1 bit 2p + 1; qh is shifted as p advances.
                    lo0 = vorrq_u8(lo0, vshlq_n_u8::<4>(vandq_u8(h0, one)));
                    lo1 = vorrq_u8(lo1, vshlq_n_u8::<4>(vandq_u8(h1, one)));
                    hi0 = vorrq_u8(hi0, vshlq_n_u8::<3>(vandq_u8(h0, two)));
                    hi1 = vorrq_u8(hi1, vshlq_n_u8::<3>(vandq_u8(h1, two)));
                    h0 = vshrq_n_u8::<2>(h0);
                    h1 = vshrq_n_u8::<2>(h1);
                }
                let (s_lo, s_hi) = (vdupq_n_s32(sc[2 * p] as i32), vdupq_n_s32(sc[2 * p + 1] as i32));
                for t in 0..N {
                    let ab = a[t].add(b * lay::Q8K_BYTES + lay::Q8K_QS + 64 * p);
                    let pl = dot32z::<DOT>(s8(lo0), s8(lo1), ab);
                    let ph = dot32z::<DOT>(s8(hi0), s8(hi1), ab.add(32));
                    sumi[t] = vmlaq_s32(vmlaq_s32(sumi[t], pl, s_lo), ph, s_hi);
                }
            }
            for t in 0..N {
                let ab = a[t].add(b * lay::Q8K_BYTES);
                let da = f32_at(ab);
                acc[t] = vfmaq_n_f32(acc[t], vcvtq_f32_s32(sumi[t]), d * da);
                // Pairs of the per-16 block sums are the per-32 sums the mins multiply.
                let (b0, b1) = bsums(ab);
                let m = vaddvq_s32(dot_i16x8(vpaddq_s16(b0, b1), mins));
                accm[t] += dmin * da * m as f32;
            }
        }
        store(&acc, &accm, out.add(r * os));
    }
}

/// Q6_K weights: 6-bit levels − 32, signed 8-bit scales per sub-block of 16.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn q6_k<const DOT: bool, const N: usize>(w0: *const u8, rb: usize, rows: usize, nb: usize, a: &[*const u8], out: *mut f32, os: usize) {
    let (m4, m30, k32) = (vdupq_n_u8(0x0F), vdupq_n_u8(0x30), vdupq_n_s8(32));
    // Low 4 bits | two high bits already at bits 4–5, minus 32.
    let level = |low: uint8x16_t, high: uint8x16_t| vsubq_s8(s8(vorrq_u8(low, vandq_u8(high, m30))), k32);
    for r in 0..rows {
        let w = w0.add(r * rb);
        let mut acc = [vdupq_n_f32(0.0); N];
        for b in 0..nb {
            let wb = w.add(b * 210);
            if N <= 2 {
                prefetch_ahead(wb, 210);
            }
            let d = h16(wb.add(208));
            let sc = |c: usize| vdupq_n_s32(*(wb.add(192 + c) as *const i8) as i32);
            let mut sumi = [vdupq_n_s32(0); N];
            for half in 0..2 {
                let ql = wb.add(64 * half);
                let (qa0, qa1, qb0, qb1) = (ld_u8(ql), ld_u8(ql.add(16)), ld_u8(ql.add(32)), ld_u8(ql.add(48)));
                let (h0, h1) = (ld_u8(wb.add(128 + 32 * half)), ld_u8(wb.add(144 + 32 * half)));
                // Quarter q takes bits 2q..2q+1 of qh, moved to bits 4–5.
                let quarters = [
                    (level(vandq_u8(qa0, m4), vshlq_n_u8::<4>(h0)), level(vandq_u8(qa1, m4), vshlq_n_u8::<4>(h1))),
                    (level(vandq_u8(qb0, m4), vshlq_n_u8::<2>(h0)), level(vandq_u8(qb1, m4), vshlq_n_u8::<2>(h1))),
                    (level(vshrq_n_u8::<4>(qa0), h0), level(vshrq_n_u8::<4>(qa1), h1)),
                    (level(vshrq_n_u8::<4>(qb0), vshrq_n_u8::<2>(h0)), level(vshrq_n_u8::<4>(qb1), vshrq_n_u8::<2>(h1))),
                ];
                for (q, &ws) in quarters.iter().enumerate() {
                    let c = 8 * half + 2 * q;
                    let off = b * lay::Q8K_BYTES + lay::Q8K_QS + 128 * half + 32 * q;
                    pair16::<DOT, N>(&mut sumi, ws, (sc(c), sc(c + 1)), a, off);
                }
            }
            for t in 0..N {
                let da = f32_at(a[t].add(b * lay::Q8K_BYTES));
                acc[t] = vfmaq_n_f32(acc[t], vcvtq_f32_s32(sumi[t]), d * da);
            }
        }
        store(&acc, &[0.0; N], out.add(r * os));
    }
}

/// Q2_K weights: 2-bit levels, 4-bit scales and mins per sub-block of 16.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn q2_k<const DOT: bool, const N: usize>(w0: *const u8, rb: usize, rows: usize, nb: usize, a: &[*const u8], out: *mut f32, os: usize) {
    let m3 = vdupq_n_u8(3);
    for r in 0..rows {
        let w = w0.add(r * rb);
        let mut acc = [vdupq_n_f32(0.0); N];
        let mut accm = [0f32; N];
        for b in 0..nb {
            let wb = w.add(b * 84);
            if N <= 2 {
                prefetch_ahead(wb, 84);
            }
            let (d, dmin) = (h16(wb.add(80)), h16(wb.add(82)));
            let packed = ld_u8(wb);
            let mins = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(vshrq_n_u8::<4>(packed))));
            let mins_hi = vreinterpretq_s16_u16(vmovl_high_u8(vshrq_n_u8::<4>(packed)));
            let sc = |c: usize| vdupq_n_s32((*wb.add(c) & 0x0F) as i32);
            let mut sumi = [vdupq_n_s32(0); N];
            for half in 0..2 {
                let (mut q0, mut q1) = (ld_u8(wb.add(16 + 32 * half)), ld_u8(wb.add(32 + 32 * half)));
                for j in 0..4 {
                    let ws = (s8(vandq_u8(q0, m3)), s8(vandq_u8(q1, m3)));
                    q0 = vshrq_n_u8::<2>(q0);
                    q1 = vshrq_n_u8::<2>(q1);
                    let c = 8 * half + 2 * j;
                    let off = b * lay::Q8K_BYTES + lay::Q8K_QS + 128 * half + 32 * j;
                    pair16::<DOT, N>(&mut sumi, ws, (sc(c), sc(c + 1)), a, off);
                }
            }
            for t in 0..N {
                let ab = a[t].add(b * lay::Q8K_BYTES);
                let da = f32_at(ab);
                acc[t] = vfmaq_n_f32(acc[t], vcvtq_f32_s32(sumi[t]), d * da);
                let (b0, b1) = bsums(ab);
                let m = vaddvq_s32(vaddq_s32(dot_i16x8(b0, mins), dot_i16x8(b1, mins_hi)));
                accm[t] += dmin * da * m as f32;
            }
        }
        store(&acc, &accm, out.add(r * os));
    }
}

/// Q3_K weights: levels `low2 + 4·hbit − 4` in −4..3, signed 6-bit scales per sub-block of 16.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn q3_k<const DOT: bool, const N: usize>(w0: *const u8, rb: usize, rows: usize, nb: usize, a: &[*const u8], out: *mut f32, os: usize) {
    let (m3, one, k4) = (vdupq_n_u8(3), vdupq_n_u8(1), vdupq_n_s8(4));
    for r in 0..rows {
        let w = w0.add(r * rb);
        let mut acc = [vdupq_n_f32(0.0); N];
        for b in 0..nb {
            let wb = w.add(b * 110);
            if N <= 2 {
                prefetch_ahead(wb, 110);
            }
            let d = h16(wb.add(108));
            let scales = lay::q3k_scales(&*(wb.add(96) as *const [u8; 12]));
            let sc = |c: usize| vdupq_n_s32(scales[c] as i32);
            // hmask bit 4·half + j belongs to step (half, j): one right shift per step.
            let (mut h0, mut h1) = (ld_u8(wb), ld_u8(wb.add(16)));
            let mut sumi = [vdupq_n_s32(0); N];
            for half in 0..2 {
                let (mut q0, mut q1) = (ld_u8(wb.add(32 + 32 * half)), ld_u8(wb.add(48 + 32 * half)));
                for j in 0..4 {
                    let l0 = vorrq_u8(vandq_u8(q0, m3), vshlq_n_u8::<2>(vandq_u8(h0, one)));
                    let l1 = vorrq_u8(vandq_u8(q1, m3), vshlq_n_u8::<2>(vandq_u8(h1, one)));
                    let ws = (vsubq_s8(s8(l0), k4), vsubq_s8(s8(l1), k4));
                    q0 = vshrq_n_u8::<2>(q0);
                    q1 = vshrq_n_u8::<2>(q1);
                    h0 = vshrq_n_u8::<1>(h0);
                    h1 = vshrq_n_u8::<1>(h1);
                    let c = 8 * half + 2 * j;
                    let off = b * lay::Q8K_BYTES + lay::Q8K_QS + 128 * half + 32 * j;
                    pair16::<DOT, N>(&mut sumi, ws, (sc(c), sc(c + 1)), a, off);
                }
            }
            for t in 0..N {
                let da = f32_at(a[t].add(b * lay::Q8K_BYTES));
                acc[t] = vfmaq_n_f32(acc[t], vcvtq_f32_s32(sumi[t]), d * da);
            }
        }
        store(&acc, &[0.0; N], out.add(r * os));
    }
}
