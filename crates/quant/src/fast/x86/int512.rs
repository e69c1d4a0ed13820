//! 512-bit versions of the K-quant kernels for the AVX-512 levels (Q4_K, Q5_K, Q6_K: the types of
//! Q4_K_M files). One zmm holds two 32-element sub-blocks whose activations are contiguous in the
//! Q8_K block, so each u8·i8 step covers 64 weights with one scale vector (`vpermw` of the
//! sub-block scales); otherwise the maths is that of `int256` (offsets and mins via `bsums`).

macro_rules! int512_kernels {
    ($feat:literal, $vnni:expr) => {
        use core::arch::x86_64::*;

        use crate::fast::layout as lay;

        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn h16(p: *const u8) -> f32 {
            let bits = (p as *const u16).read_unaligned();
            _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
        }

        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn f32_at(p: *const u8) -> f32 {
            (p as *const f32).read_unaligned()
        }

        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn load(p: *const u8) -> __m512i {
            _mm512_loadu_si512(p as *const __m512i)
        }

        /// 32 bytes at `p` in both 256-bit halves.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn load_twice(p: *const u8) -> __m512i {
            _mm512_broadcast_i64x4(_mm256_loadu_si256(p as *const __m256i))
        }

        /// Prefetches the weight bytes `PREFETCH_AHEAD` past a block of `bytes` at `p` (decode only:
        /// a token step streams each weight once, and the hardware prefetchers stop at page ends).
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn prefetch_ahead(p: *const u8, bytes: usize) {
            let mut off = 0;
            while off < bytes {
                _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(crate::fast::PREFETCH_AHEAD + off) as *const i8);
                off += 64;
            }
        }

        /// `acc + Σ pairs of (u8·i8 pair sums) · sc16`.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn mulsum_scaled(acc: __m512i, u: __m512i, s: __m512i, sc16: __m512i) -> __m512i {
            let p = _mm512_maddubs_epi16(u, s);
            if $vnni {
                _mm512_dpwssd_epi32(acc, p, sc16)
            } else {
                _mm512_add_epi32(acc, _mm512_madd_epi16(p, sc16))
            }
        }

        /// i16 lane indices: `a` for lanes 0–15 and `b` for 16–31 (two 32-weight sub-blocks).
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn idx2(a: i16, b: i16) -> __m512i {
            _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi16(a)), _mm256_set1_epi16(b), 1)
        }

        /// i16 lane indices `a, a+1, a+2, a+3` for lanes 0–7, 8–15, 16–23, 24–31 (four 16-weight groups).
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn idx4(a: i16) -> __m512i {
            let lo = _mm256_set_m128i(_mm_set1_epi16(a + 1), _mm_set1_epi16(a));
            let hi = _mm256_set_m128i(_mm_set1_epi16(a + 3), _mm_set1_epi16(a + 2));
            _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1)
        }

        /// Q4_K/Q5_K scales as 8 i16 (in the low 128 bits of a zmm) and the mins repeated per
        /// 16-element half (16 i16) to pair with `bsums`.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn k4_scales(p: *const u8) -> (__m512i, __m256i) {
            let u0 = (p as *const u32).read_unaligned();
            let u1 = (p.add(4) as *const u32).read_unaligned();
            let u2 = (p.add(8) as *const u32).read_unaligned();
            let sc_lo = u0 & 0x3F3F_3F3F;
            let mn_lo = u1 & 0x3F3F_3F3F;
            let sc_hi = (u2 & 0x0F0F_0F0F) | (((u0 >> 6) & 0x0303_0303) << 4);
            let mn_hi = ((u2 >> 4) & 0x0F0F_0F0F) | (((u1 >> 6) & 0x0303_0303) << 4);
            let sc = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(((sc_hi as u64) << 32 | sc_lo as u64) as i64));
            let mn = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(((mn_hi as u64) << 32 | mn_lo as u64) as i64));
            (_mm512_castsi128_si512(sc), _mm256_set_m128i(_mm_unpackhi_epi16(mn, mn), _mm_unpacklo_epi16(mn, mn)))
        }

        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn bsums(a: *const u8) -> __m256i {
            _mm256_loadu_si256(a.add(lay::Q8K_BSUMS) as *const __m256i)
        }

        /// Q4_K (`FIVE = false`) and Q5_K weights × Q8_K activations.
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn q45_k<const FIVE: bool, const N: usize>(w0: *const u8, rb: usize, rows: usize, nb: usize, a: &[*const u8], out: *mut f32, os: usize) {
            for r in 0..rows {
            let w = w0.add(r * rb);
            let (bb, qs_off) = if FIVE { (176, 48) } else { (144, 16) };
            let m4 = _mm512_set1_epi8(0x0F);
            let one = _mm512_set1_epi8(1);
            let nibble_shift = idx2(0, 4);
            let mut acc = [_mm512_setzero_ps(); N];
            let mut accm = [_mm256_setzero_ps(); N];
            for b in 0..nb {
                let wb = w.add(b * bb);
                if N <= 2 {
                    prefetch_ahead(wb, bb);
                }
                let (d, dmin) = (h16(wb), h16(wb.add(2)));
                let (sc, mins) = k4_scales(wb.add(4));
                let mut hbits = if FIVE { _mm512_srlv_epi16(load_twice(wb.add(16)), idx2(0, 1)) } else { _mm512_setzero_si512() };
                let mut sumi = [_mm512_setzero_si512(); N];
                for p in 0..4 {
                    let mut u = _mm512_and_si512(_mm512_srlv_epi16(load_twice(wb.add(qs_off + 32 * p)), nibble_shift), m4);
                    if FIVE {
                        u = _mm512_or_si512(u, _mm512_slli_epi16(_mm512_and_si512(hbits, one), 4));
                        hbits = _mm512_srli_epi16(hbits, 2);
                    }
                    let scv = _mm512_permutexvar_epi16(idx2(2 * p as i16, 2 * p as i16 + 1), sc);
                    for t in 0..N {
                        let ab = a[t].add(b * lay::Q8K_BYTES + lay::Q8K_QS + 64 * p);
                        sumi[t] = mulsum_scaled(sumi[t], u, load(ab), scv);
                    }
                }
                for t in 0..N {
                    let ab = a[t].add(b * lay::Q8K_BYTES);
                    let da = f32_at(ab);
                    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi[t]), _mm512_set1_ps(d * da), acc[t]);
                    let m = _mm256_madd_epi16(bsums(ab), mins);
                    accm[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(m), _mm256_set1_ps(dmin * da), accm[t]);
                }
            }
            for t in 0..N {
                let m = _mm512_castps256_ps512(accm[t]);
                let m = _mm512_insertf32x8(m, _mm256_setzero_ps(), 1);
                *out.add(r * os + t) = _mm512_reduce_add_ps(_mm512_sub_ps(acc[t], m));
            }
        }
        }

        /// Q6_K weights × Q8_K activations: one zmm per two 32-weight quarters.
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn q6_k<const N: usize>(w0: *const u8, rb: usize, rows: usize, nb: usize, a: &[*const u8], out: *mut f32, os: usize) {
            for r in 0..rows {
            let w = w0.add(r * rb);
            let m4 = _mm512_set1_epi8(0x0F);
            let m2 = _mm512_set1_epi8(3);
            let qh_shift = idx2(0, 2);
            let mut acc = [_mm512_setzero_ps(); N];
            for b in 0..nb {
                let wb = w.add(b * 210);
                if N <= 2 {
                    prefetch_ahead(wb, 210);
                }
                let d = h16(wb.add(208));
                let all_scales = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128(wb.add(192) as *const __m128i)));
                let mut sumi = [_mm512_setzero_si512(); N];
                for half in 0..2 {
                    let ql = load(wb.add(64 * half));
                    let qh = _mm512_srlv_epi16(load_twice(wb.add(128 + 32 * half)), qh_shift);
                    let q01 = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_slli_epi16(_mm512_and_si512(qh, m2), 4));
                    let q23 = _mm512_or_si512(
                        _mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                        _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(qh, 4), m2), 4),
                    );
                    let s01 = _mm512_permutexvar_epi16(idx4(8 * half as i16), all_scales);
                    let s23 = _mm512_permutexvar_epi16(idx4(8 * half as i16 + 4), all_scales);
                    for t in 0..N {
                        let ab = a[t].add(b * lay::Q8K_BYTES + lay::Q8K_QS + 128 * half);
                        sumi[t] = mulsum_scaled(sumi[t], q01, load(ab), s01);
                        sumi[t] = mulsum_scaled(sumi[t], q23, load(ab.add(64)), s23);
                    }
                }
                let sc256 = _mm512_castsi512_si256(all_scales);
                for t in 0..N {
                    let ab = a[t].add(b * lay::Q8K_BYTES);
                    let offset = _mm256_slli_epi32(_mm256_madd_epi16(bsums(ab), sc256), 5);
                    let offset = _mm512_inserti64x4(_mm512_castsi256_si512(offset), _mm256_setzero_si256(), 1);
                    let s = _mm512_sub_epi32(sumi[t], offset);
                    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(d * f32_at(ab)), acc[t]);
                }
            }
            for t in 0..N {
                *out.add(r * os + t) = _mm512_reduce_add_ps(acc[t]);
            }
        }
        }
    };
}

pub(crate) use int512_kernels;
