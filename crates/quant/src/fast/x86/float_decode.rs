//! F32, F16 and BF16 weights × one f32 activation row (decode) on 512-bit vectors.
//!
//! A decode matvec streams each weight once, so the loop is built around the stream: 64 elements
//! per step (whole cache lines: one prefetch per line, no masks), two rows in flight (two
//! independent FMA chains, one per row, so each row's sum keeps the multi-row kernel's order), and
//! a masked tail only at the row's end.

use core::arch::x86_64::*;

use super::float::{F16, F32};

/// Elements per main-loop step (whole cache lines of every type).
const STEP: usize = 64;
/// Rows in flight: two FMA chains (two weight streams; four measured slower from DRAM).
const ROWS: usize = 2;

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
#[inline]
unsafe fn widen16<const TY: u8>(p: *const u8, mask: __mmask16) -> __m512 {
    match TY {
        F32 => _mm512_maskz_loadu_ps(mask, p as *const f32),
        F16 => _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p as *const i16)),
        _ => _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, p as *const i16)), 16)),
    }
}

/// Sixteen whole elements (no mask: the main loop).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
#[inline]
unsafe fn widen16_full<const TY: u8>(p: *const u8) -> __m512 {
    match TY {
        F32 => _mm512_loadu_ps(p as *const f32),
        F16 => _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i)),
        _ => _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(p as *const __m256i)), 16)),
    }
}

/// `out[r·os] = w[r] · a[0]` for `rows` rows of `n` elements (the N = 1 entry of the kernel table).
/// `ROWS` rows at a time, one FMA chain each: per row the operations and their order are exactly
/// those of `float::avx512::dot` (16-element steps into one accumulator, then
/// `_mm512_reduce_add_ps`), so a token gives bit-identical results whichever tile width computed it
/// (prefill remainders run this kernel too, and state save/restore tests compare bits).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
pub(crate) unsafe fn dot1<const TY: u8>(w0: *const u8, rb: usize, rows: usize, n: usize, a: &[*const u8], out: *mut f32, os: usize) {
    let x = a[0] as *const f32;
    let eb = if TY == F32 { 4 } else { 2 };
    let mut r = 0;
    while r < rows {
        let group = (rows - r).min(ROWS);
        let mut w = [w0.add(r * rb); ROWS];
        for (g, wg) in w.iter_mut().enumerate().take(group) {
            *wg = w0.add((r + g) * rb);
        }
        let mut acc = [_mm512_setzero_ps(); ROWS];
        let mut i = 0;
        while i + STEP <= n {
            for wg in &w[..group] {
                for line in 0..eb {
                    _mm_prefetch::<_MM_HINT_T0>(wg.wrapping_add(i * eb + crate::fast::PREFETCH_AHEAD + 64 * line) as *const i8);
                }
            }
            for v in 0..STEP / 16 {
                let xv = _mm512_loadu_ps(x.add(i + 16 * v));
                for g in 0..ROWS {
                    if g < group {
                        acc[g] = _mm512_fmadd_ps(widen16_full::<TY>(w[g].add((i + 16 * v) * eb)), xv, acc[g]);
                    }
                }
            }
            i += STEP;
        }
        while i < n {
            let left = (n - i).min(16);
            let mask: __mmask16 = if left == 16 { !0 } else { (1u16 << left) - 1 };
            let xv = _mm512_maskz_loadu_ps(mask, x.add(i));
            for g in 0..group {
                acc[g] = _mm512_fmadd_ps(widen16::<TY>(w[g].add(i * eb), mask), xv, acc[g]);
            }
            i += left;
        }
        for g in 0..group {
            *out.add((r + g) * os) = _mm512_reduce_add_ps(acc[g]);
        }
        r += group;
    }
}
