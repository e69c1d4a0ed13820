//! Q8_0 weights × Q8_0 activations on 512-bit vectors, two 32-element blocks per zmm.
//!
//! Decode (one or two activation rows: one token, one or two planes) is bound by per-block work,
//! not by memory, unless that work is small: so for it the activation rows are first repacked once
//! per call into a stack buffer, each block pair as one aligned 64-byte vector of quants and one
//! vector of scales `[d0 ×8 | d1 ×8]` (f32), and the per-row loop only decodes weights. With VNNI
//! the activations are stored offset by +128 (u8), so `vpdpbusd` takes them as the unsigned operand
//! with the weights signed; the offset's contribution `128·Σw` is computed once per weight pair and
//! seeds every row's accumulator, replacing the per-activation sign trick. Without VNNI,
//! `vpmaddubsw` could saturate on such products, so that level keeps |w| and moves the sign onto
//! the activation. The integer sums stay per 8-lane half (one block each) and are scaled once per
//! pair. Wider calls (prefill of a few tokens) and very long rows use the unpacked kernel.

macro_rules! q8_0_512_kernels {
    ($feat:literal, $vnni:expr) => {
        use core::arch::x86_64::*;
        use core::mem::MaybeUninit;

        /// Block pairs of the largest row the packed path takes (K = 8192): bounds its stack buffer
        /// (2 rows × 128 pairs × 128 bytes = 32 KiB).
        const MAX_PAIRS: usize = 128;

        /// Two 32-byte halves (`lo` at `p`, `hi` at `p + 34`, the next Q8_0-layout block) or, for
        /// a last odd block, `lo` with a zero upper half (nothing past the row is read).
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn two_blocks(p: *const u8, two: bool) -> __m512i {
            let lo = _mm512_zextsi256_si512(_mm256_loadu_si256(p as *const __m256i));
            if two {
                _mm512_inserti64x4(lo, _mm256_loadu_si256(p.add(34) as *const __m256i), 1)
            } else {
                lo
            }
        }

        /// The f16 scales of a block pair at `p` (the second 34 bytes on, or 0) as `[d0 ×8 | d1 ×8]`:
        /// two 16-bit broadcasts and one conversion.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn pair_scales(p: *const u8, two: bool) -> __m512 {
            let d0 = (p as *const i16).read_unaligned();
            let d1 = if two { (p.add(34) as *const i16).read_unaligned() } else { 0 };
            _mm512_cvtph_ps(_mm256_set_m128i(_mm_set1_epi16(d1), _mm_set1_epi16(d0)))
        }

        /// Bytes `PREFETCH_AHEAD` past `p` into L1 (one line per 64 bytes streamed).
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn prefetch(p: *const u8) {
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(crate::fast::PREFETCH_AHEAD) as *const i8);
        }

        /// Q8_0 × Q8_0 for N activation rows: the packed decode path where it applies.
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn q8_0<const N: usize>(w0: *const u8, rb: usize, rows: usize, nb: usize, a: &[*const u8], out: *mut f32, os: usize) {
            if N <= 2 && rows >= 2 && nb.div_ceil(2) <= MAX_PAIRS {
                packed::<N>(w0, rb, rows, nb, a, out, os)
            } else {
                unpacked::<N>(w0, rb, rows, nb, a, out, os)
            }
        }

        /// The decode path (N ≤ 2): activations repacked once, then one pass over the weight rows.
        #[target_feature(enable = $feat)]
        unsafe fn packed<const N: usize>(w0: *const u8, rb: usize, rows: usize, nb: usize, a: &[*const u8], out: *mut f32, os: usize) {
            let pairs = nb.div_ceil(2);
            let mut qbuf = MaybeUninit::<[[__m512i; MAX_PAIRS]; 2]>::uninit();
            let mut sbuf = MaybeUninit::<[[__m512; MAX_PAIRS]; 2]>::uninit();
            let qs = qbuf.as_mut_ptr() as *mut __m512i;
            let sc = sbuf.as_mut_ptr() as *mut __m512;
            let bias = _mm512_set1_epi8(-128);
            for t in 0..N {
                for p in 0..pairs {
                    let two = 2 * p + 1 < nb;
                    let ab = a[t].add(2 * p * 34);
                    let q = two_blocks(ab.add(2), two);
                    // +128 as u8 (xor of the sign bit); the padding of an odd last block becomes 128,
                    // which meets zero weights.
                    let q = if $vnni { _mm512_xor_si512(q, bias) } else { q };
                    qs.add(t * MAX_PAIRS + p).write(q);
                    sc.add(t * MAX_PAIRS + p).write(pair_scales(ab, two));
                }
            }
            let zero = _mm512_setzero_si512();
            for r in 0..rows {
                let w = w0.add(r * rb);
                let mut acc = [_mm512_setzero_ps(); N];
                for p in 0..pairs {
                    let two = 2 * p + 1 < nb;
                    let wb = w.add(2 * p * 34);
                    prefetch(wb);
                    let q = two_blocks(wb.add(2), two);
                    let dw = pair_scales(wb, two);
                    if $vnni {
                        // −128·Σw per 4 weights: the offset the +128 activations add.
                        let seed = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, bias, q));
                        for t in 0..N {
                            let isum = _mm512_dpbusd_epi32(seed, qs.add(t * MAX_PAIRS + p).read(), q);
                            let s = _mm512_mul_ps(dw, sc.add(t * MAX_PAIRS + p).read());
                            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), s, acc[t]);
                        }
                    } else {
                        let u = _mm512_abs_epi8(q);
                        let neg = _mm512_movepi8_mask(q);
                        for t in 0..N {
                            let av = qs.add(t * MAX_PAIRS + p).read();
                            let s8 = _mm512_mask_sub_epi8(av, neg, zero, av);
                            let isum = _mm512_madd_epi16(_mm512_maddubs_epi16(u, s8), _mm512_set1_epi16(1));
                            let s = _mm512_mul_ps(dw, sc.add(t * MAX_PAIRS + p).read());
                            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), s, acc[t]);
                        }
                    }
                }
                for t in 0..N {
                    *out.add(r * os + t) = _mm512_reduce_add_ps(acc[t]);
                }
            }
        }

        /// Any N: |w| as the unsigned operand, the activation negated where w < 0, activation
        /// blocks read in place.
        #[target_feature(enable = $feat)]
        unsafe fn unpacked<const N: usize>(w0: *const u8, rb: usize, rows: usize, nb: usize, a: &[*const u8], out: *mut f32, os: usize) {
            for r in 0..rows {
                let w = w0.add(r * rb);
                let mut acc = [_mm512_setzero_ps(); N];
                let mut b = 0;
                while b < nb {
                    let two = b + 1 < nb;
                    let wb = w.add(b * 34);
                    if N <= 2 {
                        prefetch(wb);
                    }
                    let q = two_blocks(wb.add(2), two);
                    let u = _mm512_abs_epi8(q);
                    let neg = _mm512_movepi8_mask(q);
                    let dw = pair_scales(wb, two);
                    for t in 0..N {
                        let ab = a[t].add(b * 34);
                        let av = two_blocks(ab.add(2), two);
                        let s = _mm512_mask_sub_epi8(av, neg, _mm512_setzero_si512(), av);
                        let isum = if $vnni {
                            _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, s)
                        } else {
                            _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1))
                        };
                        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw, pair_scales(ab, two)), acc[t]);
                    }
                    b += 2;
                }
                for t in 0..N {
                    *out.add(r * os + t) = _mm512_reduce_add_ps(acc[t]);
                }
            }
        }
    };
}

pub(crate) use q8_0_512_kernels;
