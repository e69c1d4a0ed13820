//! The bf16 `hi + lo` split of weights and activations, the packing into the layouts the tile
//! kernel reads, and the scalar reference of the whole product.
//!
//! Rounding is to nearest, ties to even, by integer arithmetic on the f32 bits (the same formula in
//! the scalar and the vector code, so both produce the same bits). Inputs are finite model values;
//! a NaN stays a NaN or becomes an infinity, either way not a number a model can use.

use gguf::GgmlType;

use super::{BLOCK_ROWS, K_STEP, TOKEN_TILE};
use super::Terms;
use crate::QuantError;

/// bf16 bits of `x`, rounded to nearest even.
#[inline(always)]
fn bf16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    (b.wrapping_add(0x7FFF + ((b >> 16) & 1)) >> 16) as u16
}

#[inline(always)]
fn bf16_value(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// `x ≈ hi + lo` as two bf16 values (bits): `hi` rounds `x`, `lo` rounds the remainder `x − hi`
/// (computed exactly in f32). Together they keep ~16 significant bits; an f16 value splits exactly.
pub fn split_bf16(x: f32) -> (u16, u16) {
    let hi = bf16_bits(x);
    (hi, bf16_bits(x - bf16_value(hi)))
}

/// u16 values between one K step of a weight block and the next (four 16×32 tiles).
pub(super) const BLOCK_STEP: usize = 4 * 512;

/// Where one weight row's values go in a block: element `e` of the hi split at
/// `hi + (e / 32)·BLOCK_STEP + e % 32`, of the lo split likewise at `lo` (skipped when `None`).
#[derive(Clone, Copy)]
struct RowSlots {
    hi: usize,
    lo: Option<usize>,
}

/// Splits a row (`src`, zero-padded to `kp`) into its slots of `dst`.
fn split_row(src: &[f32], kp: usize, dst: &mut [u16], slots: RowSlots) {
    #[cfg(target_arch = "x86_64")]
    if crate::fast::Isa::Avx512.is_supported() {
        // SAFETY: the CPU has AVX-512 F/BW (checked just above).
        unsafe { split_row_avx512(src, kp, dst, slots) };
        return;
    }
    for e in 0..kp {
        let (h, l) = split_bf16(src.get(e).copied().unwrap_or(0.0));
        let at = (e / 32) * BLOCK_STEP + e % 32;
        dst[slots.hi + at] = h;
        if let Some(lo) = slots.lo {
            dst[lo + at] = l;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn round16(x: core::arch::x86_64::__m512) -> (core::arch::x86_64::__m256i, core::arch::x86_64::__m512) {
    use core::arch::x86_64::*;
    let b = _mm512_castps_si512(x);
    let lsb = _mm512_and_si512(_mm512_srli_epi32::<16>(b), _mm512_set1_epi32(1));
    let r = _mm512_srli_epi32::<16>(_mm512_add_epi32(b, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF))));
    (_mm512_cvtepi32_epi16(r), _mm512_castsi512_ps(_mm512_slli_epi32::<16>(r)))
}

/// Splits 16 values and stores them at element `e` (a multiple of 16) of the row's slots.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
unsafe fn store16(x: core::arch::x86_64::__m512, e: usize, dst: &mut [u16], slots: RowSlots) {
    use core::arch::x86_64::*;
    let at = (e / 32) * BLOCK_STEP + e % 32;
    let (h, hv) = round16(x);
    assert!(slots.hi + at + 16 <= dst.len());
    _mm256_storeu_si256(dst.as_mut_ptr().add(slots.hi + at) as *mut __m256i, h);
    if let Some(lo) = slots.lo {
        let (l, _) = round16(_mm512_sub_ps(x, hv));
        assert!(lo + at + 16 <= dst.len());
        _mm256_storeu_si256(dst.as_mut_ptr().add(lo + at) as *mut __m256i, l);
    }
}

/// 16 values at a time; the tail (and the zero padding beyond `src`) by masked loads.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn split_row_avx512(src: &[f32], kp: usize, dst: &mut [u16], slots: RowSlots) {
    use core::arch::x86_64::*;
    let mut e = 0;
    while e < kp {
        let have = src.len().saturating_sub(e).min(16);
        let x = if have == 16 { _mm512_loadu_ps(src.as_ptr().add(e)) } else { _mm512_maskz_loadu_ps(((1u32 << have) - 1) as u16, src.as_ptr().wrapping_add(e)) };
        store16(x, e, dst, slots);
        e += 16;
    }
}

/// F16 weights: widen in registers, then split (exact: 11 significant bits fit in hi + lo).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,f16c")]
unsafe fn split_f16_row_avx512(src: &[u8], kp: usize, dst: &mut [u16], slots: RowSlots) {
    use core::arch::x86_64::*;
    let k = src.len() / 2;
    let mut e = 0;
    while e < kp {
        let have = k.saturating_sub(e).min(16);
        let m = ((1u32 << have) - 1) as u16;
        let x = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src.as_ptr().wrapping_add(2 * e) as *const i16));
        store16(x, e, dst, slots);
        e += 16;
    }
}

/// Dequantizes `w` (whole rows of `row_bytes`) into a block (`out`, `kp / 32` steps of
/// `BLOCK_STEP`: hi rows 0–15, hi rows 16–31, lo rows 0–15, lo rows 16–31, each 16 × 32); rows
/// beyond `w`'s are zero; the lo tiles are written only when `lo` (the kernel reads them only then).
#[allow(clippy::too_many_arguments)]
pub(super) fn pack_weight_block(ty: GgmlType, w: &[u8], row_bytes: usize, k: usize, kp: usize, lo: bool, out: &mut [u16], row_buf: &mut Vec<f32>) {
    let rows = w.len() / row_bytes;
    row_buf.resize(k, 0.0);
    if rows < BLOCK_ROWS {
        out.fill(0);
    }
    for r in 0..rows {
        let hi_at = (r / 16) * 512 + (r % 16) * 32;
        let slots = RowSlots { hi: hi_at, lo: lo.then_some(hi_at + 1024) };
        let src = &w[r * row_bytes..(r + 1) * row_bytes];
        // The block's rows come from the mapped file, usually not cached: ask for the rows two
        // ahead while this one is decoded, so the misses overlap the work.
        #[cfg(target_arch = "x86_64")]
        if r + 2 < rows {
            let ahead = &w[(r + 2) * row_bytes..(r + 3) * row_bytes];
            for off in (0..ahead.len()).step_by(64) {
                // SAFETY: prefetching an address inside the slice has no effect on memory.
                unsafe { core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(ahead.as_ptr().add(off) as *const i8) };
            }
        }
        #[cfg(target_arch = "x86_64")]
        if ty == GgmlType::F16 && crate::fast::Isa::Avx512.is_supported() {
            // SAFETY: AVX-512 F/BW/VL and F16C are present (Avx512 implies the AVX2 set with F16C).
            unsafe { split_f16_row_avx512(src, kp, out, slots) };
            continue;
        }
        // Q4_K and Q8_0 split straight from the dequantizing registers (no f32 row in between;
        // the same values bit for bit). Their rows are whole blocks, so k == kp (no padding).
        #[cfg(target_arch = "x86_64")]
        if matches!(ty, GgmlType::Q4_K | GgmlType::Q8_0) && k == kp && crate::fast::Isa::Avx512.is_supported() {
            // SAFETY: AVX-512 F/BW/VL present (checked); `store16` asserts its slots lie in `out`.
            unsafe {
                let store = |e: usize, v: core::arch::x86_64::__m512| store16(v, e, out, slots);
                if ty == GgmlType::Q4_K {
                    super::dequant::q4_k_each16(src, store)
                } else {
                    super::dequant::q8_0_each16(src, store)
                }
            };
            continue;
        }
        #[cfg(target_arch = "x86_64")]
        let vectorised = super::dequant::dequantize_row(ty, src, row_buf);
        #[cfg(not(target_arch = "x86_64"))]
        let vectorised = false;
        if !vectorised {
            crate::dequantize_row(ty, src, row_buf).expect("row geometry checked by AmxMatmul");
        }
        split_row(row_buf, kp, out, slots);
    }
}

/// Packs `x` (1..=16 rows of `k`) into one activation tile of `kp / 32` steps; missing tokens and
/// the K padding are zero.
pub(super) fn pack_act_tile(x: &[f32], k: usize, kp: usize, out: &mut [u32]) {
    let toks = x.len() / k;
    #[cfg(target_arch = "x86_64")]
    if crate::fast::Isa::Avx512.is_supported() {
        // Writes every word of the kp / 32 steps (missing tokens and padding as zeros).
        assert!(out.len() == kp / K_STEP * 512);
        // SAFETY: AVX-512 F/BW/VL is present (checked above); `out` holds kp / 32 steps of 512
        // words (asserted); rows are read inside `x` only.
        unsafe { pack_act_tile_avx512(x, k, toks.min(TOKEN_TILE), kp, out) };
        return;
    }
    out.fill(0);
    for t in 0..toks.min(TOKEN_TILE) {
        let row = &x[t * k..(t + 1) * k];
        for s in 0..kp / K_STEP {
            let base = s * 512;
            for kk in 0..16 {
                let e = s * K_STEP + 2 * kk;
                let (h0, l0) = split_bf16(row.get(e).copied().unwrap_or(0.0));
                let (h1, l1) = split_bf16(row.get(e + 1).copied().unwrap_or(0.0));
                out[base + kk * 16 + t] = h0 as u32 | (h1 as u32) << 16;
                out[base + 256 + kk * 16 + t] = l0 as u32 | (l1 as u32) << 16;
            }
        }
    }
}

/// All tokens of a tile, one step at a time: each token's 32 values split into 16 hi and 16 lo
/// pair-words (one vector each, in element order), then the 16 token vectors of each are
/// transposed in registers so that word `kk` of every token lands in row `kk` (`kk·16 + t`),
/// stored as whole 64-byte rows. Missing tokens are zero vectors.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn pack_act_tile_avx512(x: &[f32], k: usize, toks: usize, kp: usize, out: &mut [u32]) {
    use core::arch::x86_64::*;
    let load = |t: usize, e: usize| -> __m512 {
        let row = &x[t * k..(t + 1) * k];
        let have = k.saturating_sub(e).min(16);
        if have == 16 {
            _mm512_loadu_ps(row.as_ptr().add(e))
        } else {
            _mm512_maskz_loadu_ps(((1u32 << have) - 1) as u16, row.as_ptr().wrapping_add(e))
        }
    };
    for s in 0..kp / K_STEP {
        let mut hi = [_mm512_setzero_si512(); 16];
        let mut lo = [_mm512_setzero_si512(); 16];
        for t in 0..toks {
            let (a, b) = (load(t, s * K_STEP), load(t, s * K_STEP + 16));
            let (ha, hav) = round16(a);
            let (hb, hbv) = round16(b);
            let (la, _) = round16(_mm512_sub_ps(a, hav));
            let (lb, _) = round16(_mm512_sub_ps(b, hbv));
            // 32 bf16 in element order are exactly the 16 pair-words of the step.
            hi[t] = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(ha), hb);
            lo[t] = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(la), lb);
        }
        super::transpose::transpose16(&mut hi);
        super::transpose::transpose16(&mut lo);
        let base = out.as_mut_ptr().add(s * 512);
        for kk in 0..16 {
            _mm512_storeu_si512(base.add(kk * 16) as *mut _, hi[kk]);
            _mm512_storeu_si512(base.add(256 + kk * 16) as *mut _, lo[kk]);
        }
    }
}

/// The scalar model of [`AmxMatmul`](super::AmxMatmul)'s product: `out[t·M + m] = Σ_k` of the
/// `terms` split products (`hi_w·hi_x`, `+ hi_w·lo_x`, `+ lo_w·hi_x`) over the split weights
/// (dequantized with quant's references) and activations, summed in f64. W is `M` stored rows of
/// `ty` (`w`), x is `T` rows of `k`.
pub fn reference_matmul(ty: GgmlType, terms: Terms, w: &[u8], x: &[f32], k: usize) -> Result<Vec<f32>, QuantError> {
    let rb = crate::row_bytes(ty, k)?;
    if k == 0 || !w.len().is_multiple_of(rb) || !x.len().is_multiple_of(k) {
        return Err(QuantError::AmxLength { ty, what: "reference operands (weight bytes, activation values)", expected: rb, found: w.len() });
    }
    let (m, t) = (w.len() / rb, x.len() / k);
    let splits = |v: &[f32]| -> Vec<(f64, f64)> {
        v.iter().map(|&e| split_bf16(e)).map(|(h, l)| (bf16_value(h) as f64, bf16_value(l) as f64)).collect()
    };
    let xs: Vec<Vec<(f64, f64)>> = x.chunks_exact(k).map(splits).collect();
    let mut out = vec![0f32; t * m];
    let mut row = vec![0f32; k];
    for r in 0..m {
        crate::dequantize_row(ty, &w[r * rb..(r + 1) * rb], &mut row)?;
        let ws = splits(&row);
        for (tok, xr) in xs.iter().enumerate() {
            let s: f64 = ws
                .iter()
                .zip(xr)
                .map(|(&(wh, wl), &(xh, xl))| match terms {
                    Terms::One => wh * xh,
                    Terms::Two => wh * xh + wh * xl,
                    Terms::Three => wh * xh + wh * xl + wl * xh,
                })
                .sum();
            out[tok * m + r] = s as f32;
        }
    }
    Ok(out)
}
