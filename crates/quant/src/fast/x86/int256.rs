//! Integer-dot kernels on 256-bit vectors, stamped out once per x86 level by `int256_kernels!` so
//! each copy is compiled with its level's target features (AVX2; AVX-512 registers and encodings;
//! VNNI's `vpdpbusd`/`vpdpwssd`). Every kernel computes `out[t] = Σ_blocks w·a_t` for N activation
//! rows at once, decoding each weight block into registers once for all N rows.
//!
//! Unsigned weight levels go into `vpmaddubsw`'s u8 operand; signed ones (Q8_0, Q4_0, Q5_0) use
//! |w| with the sign moved onto the activation. Offsets of symmetric K-quants (−4, −32) and the
//! mins of asymmetric ones are applied once per sub-block through the activation block sums (Q8_K's
//! `bsums`), not per element. No sum can overflow: |u8·i8| pairs stay below 2^15 for every format.

macro_rules! int256_kernels {
    ($feat:literal, $vnni:expr) => {
        use core::arch::x86_64::*;

        use crate::fast::layout as lay;

        /// An f16 at `p`, widened.
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
        unsafe fn load(p: *const u8) -> __m256i {
            _mm256_loadu_si256(p as *const __m256i)
        }

        /// Eight i32 lanes, each the sum of four u8·i8 products.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn mulsum(u: __m256i, s: __m256i) -> __m256i {
            if $vnni {
                _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s)
            } else {
                _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
            }
        }

        /// `acc + Σ pairs of (u8·i8 pair sums) · sc16` (one i16 scale per 16-bit lane).
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn mulsum_scaled(acc: __m256i, u: __m256i, s: __m256i, sc16: __m256i) -> __m256i {
            let p = _mm256_maddubs_epi16(u, s);
            if $vnni {
                _mm256_dpwssd_epi32(acc, p, sc16)
            } else {
                _mm256_add_epi32(acc, _mm256_madd_epi16(p, sc16))
            }
        }

        /// From 16 i16 scales (`all`, lanes 0–7 in the low half, 8–15 in the high half): scale `s`
        /// in every i16 lane of the low half and scale `s + 1` in the high half (`s` even), the
        /// multiplier layout of one 32-byte group whose two 16-element halves have their own scale.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn scale_pair(all: __m256i, s: usize) -> __m256i {
            let half = if s < 8 { _mm256_permute2x128_si256(all, all, 0x00) } else { _mm256_permute2x128_si256(all, all, 0x11) };
            let w = (s % 8) as i16;
            let lo = ((2 * w + 1) << 8) | (2 * w);
            let hi = ((2 * w + 3) << 8) | (2 * w + 2);
            _mm256_shuffle_epi8(half, _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo)))
        }

        /// From 8 i16 scales in a 128-bit vector: scale `s` in every i16 lane.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn scale_one(all8: __m256i, s: usize) -> __m256i {
            let w = s as i16;
            _mm256_shuffle_epi8(all8, _mm256_set1_epi16(((2 * w + 1) << 8) | (2 * w)))
        }

        /// Q4_K/Q5_K's 12-byte (scale, min) packing unpacked with 32-bit masks: (8 scales as i16
        /// in both 128-bit halves, the 8 mins each repeated twice as 16 i16 lanes to pair with
        /// Q8_K's 16 block sums).
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn k4_scales(p: *const u8) -> (__m256i, __m256i) {
            let u0 = (p as *const u32).read_unaligned();
            let u1 = (p.add(4) as *const u32).read_unaligned();
            let u2 = (p.add(8) as *const u32).read_unaligned();
            let sc_lo = u0 & 0x3F3F_3F3F;
            let mn_lo = u1 & 0x3F3F_3F3F;
            let sc_hi = (u2 & 0x0F0F_0F0F) | (((u0 >> 6) & 0x0303_0303) << 4);
            let mn_hi = ((u2 >> 4) & 0x0F0F_0F0F) | (((u1 >> 6) & 0x0303_0303) << 4);
            let sc = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(((sc_hi as u64) << 32 | sc_lo as u64) as i64));
            let mn = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(((mn_hi as u64) << 32 | mn_lo as u64) as i64));
            (_mm256_broadcastsi128_si256(sc), _mm256_set_m128i(_mm_unpackhi_epi16(mn, mn), _mm_unpacklo_epi16(mn, mn)))
        }

        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn hsum(v: __m256) -> f32 {
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_movehdup_ps(s));
            _mm_cvtss_f32(s)
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

        /// 0xFF in byte i where bit i of `bits` is set.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn bytes_from_bits(bits: u32) -> __m256i {
            let spread = _mm256_shuffle_epi8(
                _mm256_set1_epi32(bits as i32),
                _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0),
            );
            let select = _mm256_set1_epi64x(0x8040201008040201u64 as i64);
            _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select)
        }

        /// 16 packed nibbles → 32 bytes: low nibbles first, then high nibbles.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn nibbles(p: *const u8) -> __m256i {
            let x = _mm_loadu_si128(p as *const __m128i);
            let m4 = _mm_set1_epi8(0x0F);
            let lo = _mm_and_si128(x, m4);
            let hi = _mm_and_si128(_mm_srli_epi16(x, 4), m4);
            _mm256_set_m128i(hi, lo)
        }

        /// The 16 i16 block sums of a Q8_K activation block.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn bsums(a: *const u8) -> __m256i {
            load(a.add(lay::Q8K_BSUMS))
        }

        pub(crate) const SYM_Q8_0: u8 = 0;
        pub(crate) const SYM_Q4_0: u8 = 1;
        pub(crate) const SYM_Q5_0: u8 = 2;

        /// Q8_0 / Q4_0 / Q5_0 weights (signed levels, one f16 scale per 32) × Q8_0 activations.
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn sym32<const TY: u8, const N: usize>(w0: *const u8, rb: usize, rows: usize, nb: usize, a: &[*const u8], out: *mut f32, os: usize) {
            for r in 0..rows {
            let w = w0.add(r * rb);
            let bb = match TY {
                SYM_Q8_0 => 34,
                SYM_Q4_0 => 18,
                _ => 22,
            };
            let mut acc = [_mm256_setzero_ps(); N];
            for b in 0..nb {
                let wb = w.add(b * bb);
                if N <= 2 {
                    prefetch_ahead(wb, bb);
                }
                let d = h16(wb);
                let q = match TY {
                    SYM_Q8_0 => load(wb.add(2)),
                    SYM_Q4_0 => _mm256_sub_epi8(nibbles(wb.add(2)), _mm256_set1_epi8(8)),
                    _ => {
                        let qh = (wb.add(2) as *const u32).read_unaligned();
                        let high = _mm256_andnot_si256(bytes_from_bits(qh), _mm256_set1_epi8(0xF0u8 as i8));
                        _mm256_or_si256(nibbles(wb.add(6)), high)
                    }
                };
                let u = _mm256_sign_epi8(q, q);
                for t in 0..N {
                    let ab = a[t].add(b * lay::Q8_0_BYTES);
                    let s = _mm256_sign_epi8(load(ab.add(2)), q);
                    let scale = _mm256_set1_ps(d * h16(ab));
                    acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mulsum(u, s)), scale, acc[t]);
                }
            }
            for t in 0..N {
                *out.add(r * os + t) = hsum(acc[t]);
            }
        }
        }

        pub(crate) const ASYM_Q4_1: u8 = 0;
        pub(crate) const ASYM_Q5_1: u8 = 1;

        /// Q4_1 / Q5_1 weights (`q·d + m`) × Q8_1 activations (whose `s = d·Σq` carries the min term).
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn asym32<const TY: u8, const N: usize>(w0: *const u8, rb: usize, rows: usize, nb: usize, a: &[*const u8], out: *mut f32, os: usize) {
            for r in 0..rows {
            let w = w0.add(r * rb);
            let bb = if TY == ASYM_Q4_1 { 20 } else { 24 };
            let mut acc = [_mm256_setzero_ps(); N];
            let mut accm = [0f32; N];
            for b in 0..nb {
                let wb = w.add(b * bb);
                if N <= 2 {
                    prefetch_ahead(wb, bb);
                }
                let (d, m) = (h16(wb), h16(wb.add(2)));
                let u = if TY == ASYM_Q4_1 {
                    nibbles(wb.add(4))
                } else {
                    let qh = (wb.add(4) as *const u32).read_unaligned();
                    let high = _mm256_and_si256(bytes_from_bits(qh), _mm256_set1_epi8(0x10));
                    _mm256_or_si256(nibbles(wb.add(8)), high)
                };
                for t in 0..N {
                    let ab = a[t].add(b * lay::Q8_1_BYTES);
                    let scale = _mm256_set1_ps(d * h16(ab));
                    acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mulsum(u, load(ab.add(4)))), scale, acc[t]);
                    accm[t] += m * h16(ab.add(2));
                }
            }
            for t in 0..N {
                *out.add(r * os + t) = hsum(acc[t]) + accm[t];
            }
        }
        }

        /// Q4_K (`FIVE = false`) and Q5_K weights × Q8_K activations.
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn q45_k<const FIVE: bool, const N: usize>(w0: *const u8, rb: usize, rows: usize, nb: usize, a: &[*const u8], out: *mut f32, os: usize) {
            for r in 0..rows {
            let w = w0.add(r * rb);
            let (bb, qs_off) = if FIVE { (176, 48) } else { (144, 16) };
            let m4 = _mm256_set1_epi8(0x0F);
            let one = _mm256_set1_epi8(1);
            let mut acc = [_mm256_setzero_ps(); N];
            let mut accm = [_mm256_setzero_ps(); N];
            for b in 0..nb {
                let wb = w.add(b * bb);
                if N <= 2 {
                    prefetch_ahead(wb, bb);
                }
                let (d, dmin) = (h16(wb), h16(wb.add(2)));
                let (sc, mins) = k4_scales(wb.add(4));
                let mut hbits = if FIVE { load(wb.add(16)) } else { _mm256_setzero_si256() };
                let mut sumi = [_mm256_setzero_si256(); N];
                for p in 0..4 {
                    let bytes = load(wb.add(qs_off + 32 * p));
                    let mut lo = _mm256_and_si256(bytes, m4);
                    let mut hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), m4);
                    if FIVE {
                        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(hbits, one), 4));
                        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 1), one), 4));
                        hbits = _mm256_srli_epi16(hbits, 2);
                    }
                    let s_lo = scale_one(sc, 2 * p);
                    let s_hi = scale_one(sc, 2 * p + 1);
                    for t in 0..N {
                        let ab = a[t].add(b * lay::Q8K_BYTES + lay::Q8K_QS + 64 * p);
                        sumi[t] = mulsum_scaled(sumi[t], lo, load(ab), s_lo);
                        sumi[t] = mulsum_scaled(sumi[t], hi, load(ab.add(32)), s_hi);
                    }
                }
                for t in 0..N {
                    let ab = a[t].add(b * lay::Q8K_BYTES);
                    let da = f32_at(ab);
                    acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[t]), _mm256_set1_ps(d * da), acc[t]);
                    let m = _mm256_madd_epi16(bsums(ab), mins);
                    accm[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(m), _mm256_set1_ps(dmin * da), accm[t]);
                }
            }
            for t in 0..N {
                *out.add(r * os + t) = hsum(_mm256_sub_ps(acc[t], accm[t]));
            }
        }
        }

        /// Bits `shift, shift + 1` of each byte of `qh`, moved to bits 4 and 5.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn q6_high(qh: __m256i, shift: i32) -> __m256i {
            let v = _mm256_srl_epi16(qh, _mm_cvtsi32_si128(shift));
            _mm256_slli_epi16(_mm256_and_si256(v, _mm256_set1_epi8(3)), 4)
        }

        /// Q6_K weights × Q8_K activations: levels 0..63 through maddubs, the −32 offset through bsums.
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn q6_k<const N: usize>(w0: *const u8, rb: usize, rows: usize, nb: usize, a: &[*const u8], out: *mut f32, os: usize) {
            for r in 0..rows {
            let w = w0.add(r * rb);
            let m4 = _mm256_set1_epi8(0x0F);
            let mut acc = [_mm256_setzero_ps(); N];
            for b in 0..nb {
                let wb = w.add(b * 210);
                if N <= 2 {
                    prefetch_ahead(wb, 210);
                }
                let d = h16(wb.add(208));
                let scp = wb.add(192) as *const i8;
                let all_scales = _mm256_cvtepi8_epi16(_mm_loadu_si128(scp as *const __m128i));
                let mut sumi = [_mm256_setzero_si256(); N];
                for half in 0..2 {
                    let ql0 = load(wb.add(64 * half));
                    let ql1 = load(wb.add(64 * half + 32));
                    let qh = load(wb.add(128 + 32 * half));
                    let q = [
                        _mm256_or_si256(_mm256_and_si256(ql0, m4), q6_high(qh, 0)),
                        _mm256_or_si256(_mm256_and_si256(ql1, m4), q6_high(qh, 2)),
                        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), q6_high(qh, 4)),
                        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4), q6_high(qh, 6)),
                    ];
                    for (j, qj) in q.iter().enumerate() {
                        let s = 8 * half + 2 * j;
                        let sc = scale_pair(all_scales, s);
                        for t in 0..N {
                            let ab = a[t].add(b * lay::Q8K_BYTES + lay::Q8K_QS + 128 * half + 32 * j);
                            sumi[t] = mulsum_scaled(sumi[t], *qj, load(ab), sc);
                        }
                    }
                }
                for t in 0..N {
                    let ab = a[t].add(b * lay::Q8K_BYTES);
                    let offset = _mm256_slli_epi32(_mm256_madd_epi16(bsums(ab), all_scales), 5);
                    let s = _mm256_sub_epi32(sumi[t], offset);
                    acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(d * f32_at(ab)), acc[t]);
                }
            }
            for t in 0..N {
                *out.add(r * os + t) = hsum(acc[t]);
            }
        }
        }

        /// Q2_K weights × Q8_K activations: 2-bit levels, 4-bit scales and mins per 16.
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn q2_k<const N: usize>(w0: *const u8, rb: usize, rows: usize, nb: usize, a: &[*const u8], out: *mut f32, os: usize) {
            for r in 0..rows {
            let w = w0.add(r * rb);
            let m2 = _mm256_set1_epi8(3);
            let mut acc = [_mm256_setzero_ps(); N];
            let mut accm = [_mm256_setzero_ps(); N];
            for b in 0..nb {
                let wb = w.add(b * 84);
                if N <= 2 {
                    prefetch_ahead(wb, 84);
                }
                let (d, dmin) = (h16(wb.add(80)), h16(wb.add(82)));
                let packed = _mm_loadu_si128(wb as *const __m128i);
                let mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F)));
                let scales = _mm256_cvtepu8_epi16(_mm_and_si128(packed, _mm_set1_epi8(0x0F)));
                let mut sumi = [_mm256_setzero_si256(); N];
                for half in 0..2 {
                    let mut bits = load(wb.add(16 + 32 * half));
                    for j in 0..4 {
                        let u = _mm256_and_si256(bits, m2);
                        bits = _mm256_srli_epi16(bits, 2);
                        let s = 8 * half + 2 * j;
                        let sc = scale_pair(scales, s);
                        for t in 0..N {
                            let ab = a[t].add(b * lay::Q8K_BYTES + lay::Q8K_QS + 128 * half + 32 * j);
                            sumi[t] = mulsum_scaled(sumi[t], u, load(ab), sc);
                        }
                    }
                }
                for t in 0..N {
                    let ab = a[t].add(b * lay::Q8K_BYTES);
                    let da = f32_at(ab);
                    acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[t]), _mm256_set1_ps(d * da), acc[t]);
                    let m = _mm256_madd_epi16(bsums(ab), mins);
                    accm[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(m), _mm256_set1_ps(dmin * da), accm[t]);
                }
            }
            for t in 0..N {
                *out.add(r * os + t) = hsum(_mm256_sub_ps(acc[t], accm[t]));
            }
        }
        }

        /// Q3_K weights × Q8_K activations: levels `low2 + 4·hbit` in 0..7 through maddubs, the −4
        /// offset through bsums, signed 6-bit scales per 16.
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn q3_k<const N: usize>(w0: *const u8, rb: usize, rows: usize, nb: usize, a: &[*const u8], out: *mut f32, os: usize) {
            for r in 0..rows {
            let w = w0.add(r * rb);
            let m2 = _mm256_set1_epi8(3);
            let one = _mm256_set1_epi8(1);
            let mut acc = [_mm256_setzero_ps(); N];
            for b in 0..nb {
                let wb = w.add(b * 110);
                if N <= 2 {
                    prefetch_ahead(wb, 110);
                }
                let d = h16(wb.add(108));
                let sc = lay::q3k_scales(&*(wb.add(96) as *const [u8; 12]));
                let all_scales = _mm256_loadu_si256(sc.as_ptr() as *const __m256i);
                let mut hmask = load(wb);
                let mut sumi = [_mm256_setzero_si256(); N];
                for half in 0..2 {
                    let mut bits = load(wb.add(32 + 32 * half));
                    for j in 0..4 {
                        let hb = _mm256_slli_epi16(_mm256_and_si256(hmask, one), 2);
                        hmask = _mm256_srli_epi16(hmask, 1);
                        let u = _mm256_or_si256(_mm256_and_si256(bits, m2), hb);
                        bits = _mm256_srli_epi16(bits, 2);
                        let s = 8 * half + 2 * j;
                        let scv = scale_pair(all_scales, s);
                        for t in 0..N {
                            let ab = a[t].add(b * lay::Q8K_BYTES + lay::Q8K_QS + 128 * half + 32 * j);
                            sumi[t] = mulsum_scaled(sumi[t], u, load(ab), scv);
                        }
                    }
                }
                for t in 0..N {
                    let ab = a[t].add(b * lay::Q8K_BYTES);
                    let offset = _mm256_slli_epi32(_mm256_madd_epi16(bsums(ab), all_scales), 2);
                    let s = _mm256_sub_epi32(sumi[t], offset);
                    acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(d * f32_at(ab)), acc[t]);
                }
            }
            for t in 0..N {
                *out.add(r * os + t) = hsum(acc[t]);
            }
        }
        }
    };
}

pub(crate) use int256_kernels;
