//! AVX-512 row dequantization for the weight types prefill meets most (Q8_0, Q4_K, Q6_K): the same
//! f32 values as the references (`q8_0`, `q4_k`, `q6_k::dequantize_block`), bit for bit: each
//! element sees the same float operations in the same order (no fused multiply-adds).

use gguf::GgmlType;

use crate::fields::get_f16;
use crate::k_quants::scale_min;
use crate::{q4_k, q6_k, q8_0};

/// Dequantizes `src` (whole blocks of `ty`) into `dst` when `ty` has a vector routine here;
/// `false` (and `dst` untouched) otherwise. The caller checks the lengths.
pub(super) fn dequantize_row(ty: GgmlType, src: &[u8], dst: &mut [f32]) -> bool {
    if !crate::fast::Isa::Avx512.is_supported() {
        return false;
    }
    // SAFETY: AVX-512 F/BW/VL is present (checked above).
    unsafe {
        match ty {
            GgmlType::Q8_0 => q8_0_row(src, dst),
            GgmlType::Q4_K => q4_k_row(src, dst),
            GgmlType::Q6_K => q6_k_row(src, dst),
            _ => return false,
        }
    }
    true
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn q8_0_row(src: &[u8], dst: &mut [f32]) {
    q8_0_each16(src, |e, v| core::arch::x86_64::_mm512_storeu_ps(dst[e..e + 16].as_mut_ptr(), v));
}

/// Calls `f(e, v)` with each 16 dequantized values of a Q8_0 row (element offset e, ascending).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn q8_0_each16(src: &[u8], mut f: impl FnMut(usize, core::arch::x86_64::__m512)) {
    use core::arch::x86_64::*;
    for (i, b) in src.chunks_exact(q8_0::BLOCK_BYTES).enumerate() {
        let d = _mm512_set1_ps(get_f16(b, 0));
        for h in 0..2 {
            let q = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(b.as_ptr().add(2 + 16 * h) as *const __m128i)));
            f(32 * i + 16 * h, _mm512_mul_ps(q, d));
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn q4_k_row(src: &[u8], dst: &mut [f32]) {
    q4_k_each16(src, |e, v| core::arch::x86_64::_mm512_storeu_ps(dst[e..e + 16].as_mut_ptr(), v));
}

/// Calls `f(e, v)` with each 16 dequantized values of a Q4_K row (element offset e, ascending).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn q4_k_each16(src: &[u8], mut f: impl FnMut(usize, core::arch::x86_64::__m512)) {
    use core::arch::x86_64::*;
    let mask = _mm512_set1_epi32(0x0F);
    for (i, b) in src.chunks_exact(q4_k::BLOCK_BYTES).enumerate() {
        let (d, dmin) = (get_f16(b, 0), get_f16(b, 2));
        let scales = &b[4..16];
        for s in 0..8 {
            let (sc, m) = scale_min::get(scales, s);
            let dl = _mm512_set1_ps(d * sc as f32);
            let ml = _mm512_set1_ps(dmin * m as f32);
            let shift = _mm_cvtsi32_si128(4 * (s as i32 % 2));
            for h in 0..2 {
                let bytes = _mm_loadu_si128(b.as_ptr().add(16 + 32 * (s / 2) + 16 * h) as *const __m128i);
                let q = _mm512_and_si512(_mm512_srl_epi32(_mm512_cvtepu8_epi32(bytes), shift), mask);
                f(256 * i + 32 * s + 16 * h, _mm512_sub_ps(_mm512_mul_ps(dl, _mm512_cvtepi32_ps(q)), ml));
            }
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn q6_k_row(src: &[u8], dst: &mut [f32]) {
    use core::arch::x86_64::*;
    let (m4, m2, bias) = (_mm512_set1_epi32(0x0F), _mm512_set1_epi32(3), _mm512_set1_epi32(32));
    for (b, y) in src.chunks_exact(q6_k::BLOCK_BYTES).zip(dst.chunks_exact_mut(256)) {
        let d = get_f16(b, 208);
        for half in 0..2 {
            for quarter in 0..4 {
                for g in 0..2 {
                    let l = 16 * g;
                    let ql = _mm512_cvtepu8_epi32(_mm_loadu_si128(b.as_ptr().add(64 * half + l + 32 * (quarter % 2)) as *const __m128i));
                    let low4 = if quarter < 2 { _mm512_and_si512(ql, m4) } else { _mm512_srli_epi32::<4>(ql) };
                    let qh = _mm512_cvtepu8_epi32(_mm_loadu_si128(b.as_ptr().add(128 + 32 * half + l) as *const __m128i));
                    let high2 = _mm512_and_si512(_mm512_srl_epi32(qh, _mm_cvtsi32_si128(2 * quarter as i32)), m2);
                    let q = _mm512_sub_epi32(_mm512_or_si512(low4, _mm512_slli_epi32::<4>(high2)), bias);
                    let sc = b[192 + 8 * half + 2 * quarter + g] as i8;
                    let v = _mm512_mul_ps(_mm512_set1_ps(d * sc as f32), _mm512_cvtepi32_ps(q));
                    _mm512_storeu_ps(y.as_mut_ptr().add(128 * half + 32 * quarter + l), v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-identical to the references on random blocks (random bytes with finite f16 scales).
    #[test]
    fn matches_the_references_bit_for_bit() {
        if !crate::fast::Isa::Avx512.is_supported() {
            eprintln!("no AVX-512: vector dequantization not exercised");
            return;
        }
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut byte = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        };
        let mut cases = 0;
        for ty in [GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K] {
            for blocks in [1, 3, 7] {
                let mut src: Vec<u8> = (0..blocks * ty.type_size()).map(|_| byte()).collect();
                // Finite scales: f16 fields get a small exponent.
                let fields: &[usize] = match ty {
                    GgmlType::Q8_0 => &[0],
                    GgmlType::Q4_K => &[0, 2],
                    _ => &[208],
                };
                for blk in src.chunks_exact_mut(ty.type_size()) {
                    for &f in fields {
                        blk[f + 1] = 0x2C | (blk[f + 1] & 0x80);
                    }
                }
                let n = blocks * ty.block_size();
                let (mut want, mut got) = (vec![0f32; n], vec![0f32; n]);
                crate::dequantize_row(ty, &src, &mut want).unwrap();
                assert!(dequantize_row(ty, &src, &mut got));
                for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(a.to_bits(), b.to_bits(), "{ty:?} element {i}: {a} vs {b}");
                }
                cases += 1;
            }
        }
        assert_eq!(cases, 9);
    }
}
