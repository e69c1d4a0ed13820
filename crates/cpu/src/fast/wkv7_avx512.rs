//! wkv7 for one head on AVX-512 with explicit intrinsics, for head sizes N = 16·NV (NV = 1, 2, 4,
//! 8): the state is held transposed for the call (`st[j][i] = S[i][j]`, so both reductions over
//! `j` become multiply-adds across `i` lanes) and each token makes **one** pass over it. The pass
//! that updates column `j` of token t also accumulates `y_t` and the next token's
//! `sa_{t+1} = −S_t·kk_{t+1}` (kk of the next token depends on the inputs only), so the state is
//! read and written once per token instead of twice. The per-token vectors (kk, kk·a, k') are
//! computed before the pass. Same maths as `kernels::wkv7`; summation order differs and products
//! are fused (FMA), which the tests bound at 1e-4.

// Register arrays are indexed by lane block `q` alongside several other arrays at once.
#![allow(clippy::needless_range_loop)]

use core::arch::x86_64::*;

use crate::kernels::wkv7::Wkv7Inputs;

/// Whether a head of `n` has a kernel here.
pub fn supported(n: usize) -> bool {
    matches!(n, 16 | 32 | 64 | 128)
}

/// One head, all `rows` tokens, for `n` in [`supported`], in place: `s` is the head's N×N state
/// (`S[i][j]` at `i·N + j`); `k` and `y` point at `[rows, c]` matrices of which this call reads
/// and writes only the head's columns `h·N .. h·N + N` (k is read, then overwritten with k').
///
/// # Safety
/// The CPU must have AVX-512 F; `n` must be [`supported`]; `k` and `y` must be valid for
/// `rows · c` values, and no other thread may access head h's columns of them during the call;
/// the input slices must hold `rows · c` values (checked by asserts).
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx2,fma")]
pub unsafe fn head(inp: &Wkv7Inputs, rows: usize, c: usize, h: usize, n: usize, s: &mut [f32], k: *mut f32, y: *mut f32) {
    match n {
        16 => head_nv::<1>(inp, rows, c, h, s, k, y),
        32 => head_nv::<2>(inp, rows, c, h, s, k, y),
        64 => head_nv::<4>(inp, rows, c, h, s, k, y),
        128 => head_nv::<8>(inp, rows, c, h, s, k, y),
        _ => panic!("wkv7 AVX-512 head kernel has no variant for head size {n}"),
    }
}

/// A token's normalised key (`kk`), `kk·a` and the written-back key `k'` (`k·(1 + (a−1)·k_a)`).
#[derive(Clone, Copy)]
struct TokenVectors<const NV: usize> {
    kk: [__m512; NV],
    kka: [__m512; NV],
    kt: [__m512; NV],
}

/// The [`TokenVectors`] of the token whose values start at `base` (head h's slice of its row).
#[inline(always)]
unsafe fn token_vectors<const NV: usize>(inp: &Wkv7Inputs, k: *const f32, base: usize, k_k: &[f32], k_a: &[f32]) -> TokenVectors<NV> {
    let n = 16 * NV;
    assert!(base + n <= inp.a.len() && k_k.len() >= n && k_a.len() >= n);
    let z = [_mm512_setzero_ps(); NV];
    let (mut kk, mut kka, mut kt) = (z, z, z);
    let mut norm = _mm512_setzero_ps();
    for q in 0..NV {
        let kin = _mm512_loadu_ps(k.add(base + 16 * q));
        let v = _mm512_mul_ps(kin, _mm512_loadu_ps(k_k.as_ptr().add(16 * q)));
        kk[q] = v;
        norm = _mm512_fmadd_ps(v, v, norm);
        let a = _mm512_loadu_ps(inp.a.as_ptr().add(base + 16 * q));
        let ka = _mm512_loadu_ps(k_a.as_ptr().add(16 * q));
        let one = _mm512_set1_ps(1.0);
        kt[q] = _mm512_mul_ps(kin, _mm512_fmadd_ps(_mm512_sub_ps(a, one), ka, one));
        kka[q] = a; // multiplied by the normalised kk below
    }
    let inv = 1.0 / _mm512_reduce_add_ps(norm).sqrt().max(1e-12);
    let inv = _mm512_set1_ps(inv);
    for q in 0..NV {
        kk[q] = _mm512_mul_ps(kk[q], inv);
        kka[q] = _mm512_mul_ps(kk[q], kka[q]);
    }
    TokenVectors { kk, kka, kt }
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn head_nv<const NV: usize>(inp: &Wkv7Inputs, rows: usize, c: usize, h: usize, s: &mut [f32], k: *mut f32, y_out: *mut f32) {
    let n = 16 * NV;
    assert!(s.len() == n * n);
    assert!(inp.r.len() >= rows * c && inp.decay.len() >= rows * c && inp.v.len() >= rows * c && inp.a.len() >= rows * c);
    assert!((h + 1) * n <= c && inp.k_k.len() >= c && inp.k_a.len() >= c);
    let (k_k, k_a) = (&inp.k_k[h * n..(h + 1) * n], &inp.k_a[h * n..(h + 1) * n]);
    // Transposed state, 64-byte aligned columns of n values.
    let mut st = vec![_mm512_setzero_ps(); n * NV];
    let stp = st.as_mut_ptr() as *mut f32;
    for i in 0..n {
        for j in 0..n {
            *stp.add(j * n + i) = s[i * n + j];
        }
    }
    if rows > 0 {
        let z = [_mm512_setzero_ps(); NV];
        let mut cur = token_vectors::<NV>(inp, k, h * n, k_k, k_a);
        // sa = −S·kk for the first token: one pass of its own.
        let mut sa = z;
        for j in 0..n {
            let kj = _mm512_set1_ps(-lane(&cur.kk, j));
            for q in 0..NV {
                sa[q] = _mm512_fmadd_ps(_mm512_load_ps(stp.add(j * n + 16 * q)), kj, sa[q]);
            }
        }
        for t in 0..rows {
            let base = t * c + h * n;
            // k' over this token's k (already read into kk/kt).
            for q in 0..NV {
                _mm512_storeu_ps(k.add(base + 16 * q), cur.kt[q]);
            }
            // The next token's vectors (its inputs are all known now); zeros after the last.
            let next = if t + 1 < rows { token_vectors::<NV>(inp, k, base + c, k_k, k_a) } else { TokenVectors { kk: z, kka: z, kt: z } };
            let mut v = z;
            for q in 0..NV {
                v[q] = _mm512_loadu_ps(inp.v.as_ptr().add(base + 16 * q));
            }
            let (mut y, mut sa_next) = (z, z);
            let (dp, rp) = (inp.decay.as_ptr().add(base), inp.r.as_ptr().add(base));
            for j in 0..n {
                let dj = _mm512_set1_ps(*dp.add(j));
                let rj = _mm512_set1_ps(*rp.add(j));
                let kaj = _mm512_set1_ps(lane(&cur.kka, j));
                let ktj = _mm512_set1_ps(lane(&cur.kt, j));
                let knj = _mm512_set1_ps(-lane(&next.kk, j));
                for q in 0..NV {
                    let p = stp.add(j * n + 16 * q);
                    let col = _mm512_load_ps(p);
                    let col = _mm512_fmadd_ps(v[q], ktj, _mm512_fmadd_ps(sa[q], kaj, _mm512_mul_ps(col, dj)));
                    _mm512_store_ps(p, col);
                    y[q] = _mm512_fmadd_ps(col, rj, y[q]);
                    sa_next[q] = _mm512_fmadd_ps(col, knj, sa_next[q]);
                }
            }
            for q in 0..NV {
                _mm512_storeu_ps(y_out.add(base + 16 * q), y[q]);
            }
            sa = sa_next;
            cur = next;
        }
    }
    for i in 0..n {
        for j in 0..n {
            s[i * n + j] = *stp.add(j * n + i);
        }
    }
}

/// Element `j` of a vector held as NV registers.
#[inline(always)]
fn lane<const NV: usize>(v: &[__m512; NV], j: usize) -> f32 {
    // SAFETY: [__m512; NV] is 16·NV contiguous f32 values and j < 16·NV at every call.
    unsafe { *(v.as_ptr() as *const f32).add(j) }
}
