//! F32, F16 and BF16 weights × f32 activations: weights widened to f32 in registers (F16 by bit
//! manipulation, since stable Rust lacks the fp16 vector types; BF16 by a 16-bit shift), f32 FMA
//! accumulation. Activations stay f32, as on x86.

use core::arch::aarch64::*;

use super::prims::{f16_bits_to_f32, f16x4_to_f32};

pub(crate) const F32: u8 = 0;
pub(crate) const F16: u8 = 1;
pub(crate) const BF16: u8 = 2;

/// Bytes per element of each float format.
const fn elem_bytes(ty: u8) -> usize {
    if ty == F32 {
        4
    } else {
        2
    }
}

/// Eight weights at `p` as two f32 vectors.
#[inline(always)]
unsafe fn widen8<const TY: u8>(p: *const u8) -> (float32x4_t, float32x4_t) {
    match TY {
        F32 => (vld1q_f32(p as *const f32), vld1q_f32((p as *const f32).add(4))),
        F16 => {
            let h = vld1q_u16(p as *const u16);
            (f16x4_to_f32(vmovl_u16(vget_low_u16(h))), f16x4_to_f32(vmovl_high_u16(h)))
        }
        _ => {
            let h = vld1q_u16(p as *const u16);
            (vreinterpretq_f32_u32(vshll_n_u16::<16>(vget_low_u16(h))), vreinterpretq_f32_u32(vshll_high_n_u16::<16>(h)))
        }
    }
}

#[inline(always)]
unsafe fn widen1<const TY: u8>(p: *const u8) -> f32 {
    match TY {
        F32 => (p as *const f32).read_unaligned(),
        F16 => f16_bits_to_f32((p as *const u16).read_unaligned()),
        _ => f32::from_bits(((p as *const u16).read_unaligned() as u32) << 16),
    }
}

/// `rows` weight rows of `n` elements × N activation rows, with four FMA chains per row so the
/// adds are not latency-bound. Every activation row sees the same operations in the same order
/// whatever N is, so a token's result does not depend on how tokens were grouped (serial decode
/// and chunked prefill agree exactly). 4·N accumulators: tables are called with N ≤ 4
/// ([`super::max_rows`]); larger N works but spills registers.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn dot<const TY: u8, const N: usize>(w0: *const u8, rb: usize, rows: usize, n: usize, a: &[*const u8], out: *mut f32, os: usize) {
    let eb = elem_bytes(TY);
    let x = |t: usize, i: usize| vld1q_f32((a[t] as *const f32).add(i));
    for r in 0..rows {
        let w = w0.add(r * rb);
        let mut acc = [[vdupq_n_f32(0.0); 4]; N];
        let mut i = 0;
        while i + 16 <= n {
            if N <= 2 {
                super::prims::prefetch_ahead(w.add(i * eb), 16 * eb);
            }
            let (p0, p1) = widen8::<TY>(w.add(i * eb));
            let (p2, p3) = widen8::<TY>(w.add((i + 8) * eb));
            for (t, c) in acc.iter_mut().enumerate() {
                c[0] = vfmaq_f32(c[0], p0, x(t, i));
                c[1] = vfmaq_f32(c[1], p1, x(t, i + 4));
                c[2] = vfmaq_f32(c[2], p2, x(t, i + 8));
                c[3] = vfmaq_f32(c[3], p3, x(t, i + 12));
            }
            i += 16;
        }
        if i + 8 <= n {
            let (p0, p1) = widen8::<TY>(w.add(i * eb));
            for (t, c) in acc.iter_mut().enumerate() {
                c[0] = vfmaq_f32(c[0], p0, x(t, i));
                c[1] = vfmaq_f32(c[1], p1, x(t, i + 4));
            }
            i += 8;
        }
        for t in 0..N {
            let [a0, a1, a2, a3] = acc[t];
            let mut s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a2), vaddq_f32(a1, a3)));
            for j in i..n {
                s += widen1::<TY>(w.add(j * eb)) * (a[t] as *const f32).add(j).read_unaligned();
            }
            *out.add(r * os + t) = s;
        }
    }
}
