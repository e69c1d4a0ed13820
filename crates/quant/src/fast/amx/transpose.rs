//! In-register transpose of a 16×16 matrix of 32-bit values (16 zmm registers), used to turn
//! activation rows into tile columns (`split::pack_act_tile`) instead of 16-lane scatters, which
//! cost one memory access per lane (measured: the packing took ~5x the samples with scatters).
//! The product tiles keep their gathers (`tiles::transpose_out`): there the in-register version
//! measured slower.
//!
//! Four butterfly stages (block sizes 8, 4, 2, 1): at block size `b`, rows `i` and `i + b` (for
//! `i & b == 0`) exchange their off-diagonal `b`-wide column blocks, which is the recursive
//! block transpose `[[A, B], [C, D]]ᵀ = [[Aᵀ, Cᵀ], [Bᵀ, Dᵀ]]` done for every level at once.

use core::arch::x86_64::*;

/// Lane indices of each stage's two results (`permutex2var`: 0–15 from the first register, 16–31
/// from the second).
const fn stage_indices(b: usize) -> ([i32; 16], [i32; 16]) {
    let (mut lo, mut hi) = ([0i32; 16], [0i32; 16]);
    let mut c = 0;
    while c < 16 {
        if c & b == 0 {
            lo[c] = c as i32;
            hi[c] = (c + b) as i32;
        } else {
            lo[c] = 16 + (c - b) as i32;
            hi[c] = 16 + c as i32;
        }
        c += 1;
    }
    (lo, hi)
}

/// A stage's block size and its two index vectors.
type Stage = (usize, ([i32; 16], [i32; 16]));

const STAGES: [Stage; 4] = [(8, stage_indices(8)), (4, stage_indices(4)), (2, stage_indices(2)), (1, stage_indices(1))];

/// Transposes `r` in place: afterwards `r[c]` lane `i` is the old `r[i]` lane `c`.
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn transpose16(r: &mut [__m512i; 16]) {
    for (b, (lo, hi)) in STAGES {
        let (lo, hi) = (_mm512_loadu_si512(lo.as_ptr() as *const _), _mm512_loadu_si512(hi.as_ptr() as *const _));
        for i in 0..16 {
            if i & b == 0 {
                let (a, c) = (r[i], r[i + b]);
                r[i] = _mm512_permutex2var_epi32(a, lo, c);
                r[i + b] = _mm512_permutex2var_epi32(a, hi, c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn transposes_a_16_by_16_matrix() {
        if !crate::fast::Isa::Avx512.is_supported() {
            return;
        }
        use core::arch::x86_64::*;
        let m: Vec<i32> = (0..256).map(|v| v * 7 + 3).collect();
        // SAFETY: AVX-512 F present (checked above); loads and stores stay inside `m` / `out`.
        unsafe {
            let mut r = [_mm512_setzero_si512(); 16];
            for (i, v) in r.iter_mut().enumerate() {
                *v = _mm512_loadu_si512(m[16 * i..].as_ptr() as *const _);
            }
            super::transpose16(&mut r);
            let mut out = vec![0i32; 256];
            for (i, v) in r.iter().enumerate() {
                _mm512_storeu_si512(out[16 * i..].as_mut_ptr() as *mut _, *v);
            }
            for i in 0..16 {
                for c in 0..16 {
                    assert_eq!(out[16 * c + i], m[16 * i + c], "element ({i}, {c})");
                }
            }
        }
    }
}
