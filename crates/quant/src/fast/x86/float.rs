//! F32, F16 and BF16 weights × f32 activations: weights widened to f32 in registers (F16C
//! `vcvtph2ps`, BF16 by a 16-bit shift), f32 FMA accumulation. Activations stay f32, so these are
//! more precise than ggml's (which rounds activations to F16/BF16 first).

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

/// 256-bit kernels (AVX2 + FMA + F16C).
pub(crate) mod avx2 {
    use core::arch::x86_64::*;

    use super::{elem_bytes, F16, F32};

    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    unsafe fn widen8<const TY: u8>(p: *const u8) -> __m256 {
        match TY {
            F32 => _mm256_loadu_ps(p as *const f32),
            F16 => _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)),
            _ => _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(p as *const __m128i)), 16)),
        }
    }

    fn widen1<const TY: u8>(p: &[u8]) -> f32 {
        match TY {
            F32 => f32::from_le_bytes([p[0], p[1], p[2], p[3]]),
            F16 => half::f16::from_le_bytes([p[0], p[1]]).to_f32(),
            _ => half::bf16::from_le_bytes([p[0], p[1]]).to_f32(),
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    unsafe fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }

    /// `n` elements; two vectors per step so one token still has two FMA chains in flight.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn dot<const TY: u8, const N: usize>(w0: *const u8, rb: usize, rows: usize, n: usize, a: &[*const u8], out: *mut f32, os: usize) {
            for r in 0..rows {
            let w = w0.add(r * rb);
        let eb = elem_bytes(TY);
        let mut acc0 = [_mm256_setzero_ps(); N];
        let mut acc1 = [_mm256_setzero_ps(); N];
        let mut i = 0;
        while i + 16 <= n {
            if N <= 2 {
                _mm_prefetch::<_MM_HINT_T0>(w.wrapping_add(i * eb + crate::fast::PREFETCH_AHEAD) as *const i8);
            }
            let w0 = widen8::<TY>(w.add(i * eb));
            let w1 = widen8::<TY>(w.add((i + 8) * eb));
            for t in 0..N {
                let x = a[t] as *const f32;
                acc0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x.add(i)), acc0[t]);
                acc1[t] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x.add(i + 8)), acc1[t]);
            }
            i += 16;
        }
        if i + 8 <= n {
            let w0 = widen8::<TY>(w.add(i * eb));
            for t in 0..N {
                acc0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps((a[t] as *const f32).add(i)), acc0[t]);
            }
            i += 8;
        }
        for t in 0..N {
            let mut s = hsum(_mm256_add_ps(acc0[t], acc1[t]));
            for j in i..n {
                let wj = widen1::<TY>(core::slice::from_raw_parts(w.add(j * eb), eb));
                s += wj * (a[t] as *const f32).add(j).read_unaligned();
            }
            *out.add(r * os + t) = s;
        }
    }
        }
}

/// 512-bit kernels (AVX-512 F/BW/VL), masked tail.
pub(crate) mod avx512 {
    use core::arch::x86_64::*;

    use super::{elem_bytes, F16, F32};

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
    #[inline]
    unsafe fn widen16<const TY: u8>(p: *const u8, mask: __mmask16) -> __m512 {
        match TY {
            F32 => _mm512_maskz_loadu_ps(mask, p as *const f32),
            F16 => _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p as *const i16)),
            _ => _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, p as *const i16)), 16)),
        }
    }

    /// `rows` weight rows × N activation rows, two weight rows at a time: each activation vector
    /// loaded feeds two FMAs, so prefill is FMA-bound rather than load-bound.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
    pub(crate) unsafe fn dot<const TY: u8, const N: usize>(w0: *const u8, rb: usize, rows: usize, n: usize, a: &[*const u8], out: *mut f32, os: usize) {
        let eb = elem_bytes(TY);
        let mut r = 0;
        while r < rows {
            let pair = r + 1 < rows;
            let wa = w0.add(r * rb);
            let wb = if pair { w0.add((r + 1) * rb) } else { wa };
            let mut acc0 = [_mm512_setzero_ps(); N];
            let mut acc1 = [_mm512_setzero_ps(); N];
            let mut i = 0;
            while i < n {
                let left = (n - i).min(16);
                let mask: __mmask16 = if left == 16 { !0 } else { (1u16 << left) - 1 };
                if N <= 2 {
                    _mm_prefetch::<_MM_HINT_T0>(wa.wrapping_add(i * eb + crate::fast::PREFETCH_AHEAD) as *const i8);
                    _mm_prefetch::<_MM_HINT_T0>(wb.wrapping_add(i * eb + crate::fast::PREFETCH_AHEAD) as *const i8);
                }
                let x0 = widen16::<TY>(wa.add(i * eb), mask);
                let x1 = widen16::<TY>(wb.add(i * eb), mask);
                for t in 0..N {
                    let x = _mm512_maskz_loadu_ps(mask, (a[t] as *const f32).add(i));
                    acc0[t] = _mm512_fmadd_ps(x0, x, acc0[t]);
                    acc1[t] = _mm512_fmadd_ps(x1, x, acc1[t]);
                }
                i += left;
            }
            for t in 0..N {
                *out.add(r * os + t) = _mm512_reduce_add_ps(acc0[t]);
                if pair {
                    *out.add((r + 1) * os + t) = _mm512_reduce_add_ps(acc1[t]);
                }
            }
            r += 2;
        }
    }
}
