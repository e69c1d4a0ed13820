//! wkv7, vectorised: at AVX-512 over the value dimension with the state transposed for the call
//! (`wkv7_avx512` for head sizes 16/32/64/128, one fused pass per token; `head_transposed`, no
//! horizontal sums, for other sizes), at AVX2 over the key dimension (`head`: each state
//! row `S[i][·]` read once for both reductions and the update, in fixed-width lane blocks). The
//! bodies are compiled once per level behind `#[target_feature]`. Heads run in parallel on the
//! pool. Same maths as `kernels::wkv7`; only the summation order differs.

use super::Disjoint;
use crate::kernels::wkv7::Wkv7Inputs;
use crate::pool::Pool;

const LANES: usize = 16;

/// `Σ a·b` over equal-length slices, in `LANES` partial sums.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

/// One head, all tokens. `s` is the head's N×N state; `k_out`, `y_out` are `[T, N]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn head(inp: &Wkv7Inputs, k: &[f32], c: usize, h: usize, n: usize, s: &mut [f32], k_out: &mut [f32], y_out: &mut [f32]) {
    let rows = k.len() / c;
    let (k_k, k_a) = (&inp.k_k[h * n..(h + 1) * n], &inp.k_a[h * n..(h + 1) * n]);
    let mut kk = vec![0f32; n];
    let mut kka = vec![0f32; n];
    for t in 0..rows {
        let base = t * c + h * n;
        let kt_in = &k[base..base + n];
        let (r, decay, v, a) =
            (&inp.r[base..base + n], &inp.decay[base..base + n], &inp.v[base..base + n], &inp.a[base..base + n]);
        for j in 0..n {
            kk[j] = kt_in[j] * k_k[j];
        }
        let inv = 1.0 / dot(&kk, &kk).sqrt().max(1e-12);
        let kt = &mut k_out[t * n..(t + 1) * n];
        for j in 0..n {
            kk[j] *= inv;
            kka[j] = kk[j] * a[j];
            kt[j] = kt_in[j] * (1.0 + (a[j] - 1.0) * k_a[j]);
        }
        let yt = &mut y_out[t * n..(t + 1) * n];
        for (i, row) in s.chunks_exact_mut(n).enumerate() {
            let sa = -dot(row, &kk);
            let vi = v[i];
            for j in 0..n {
                row[j] = row[j] * decay[j] + sa * kka[j] + vi * kt[j];
            }
            yt[i] = dot(row, r);
        }
    }
}

/// As [`head`], with the state transposed for the call (`st[j][i] = S[i][j]`): both reductions
/// over `j` (`S·kk`, `S·r`) become vector multiply-adds across `i`, with no horizontal sums.
/// Per token: one pass for `sa = −S·kk`, one for the update and `y`. Used at the AVX-512 levels for
/// every token count (two N×N transposes per call are small next to the recurrence), so results do
/// not depend on how a sequence is cut into chunks.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn head_transposed(inp: &Wkv7Inputs, k: &[f32], c: usize, h: usize, n: usize, s: &mut [f32], k_out: &mut [f32], y_out: &mut [f32]) {
    let rows = k.len() / c;
    let (k_k, k_a) = (&inp.k_k[h * n..(h + 1) * n], &inp.k_a[h * n..(h + 1) * n]);
    let mut st = vec![0f32; n * n];
    for i in 0..n {
        for j in 0..n {
            st[j * n + i] = s[i * n + j];
        }
    }
    let (mut kk, mut kka, mut sa) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
    for t in 0..rows {
        let base = t * c + h * n;
        let kt_in = &k[base..base + n];
        let (r, decay, v, a) =
            (&inp.r[base..base + n], &inp.decay[base..base + n], &inp.v[base..base + n], &inp.a[base..base + n]);
        for j in 0..n {
            kk[j] = kt_in[j] * k_k[j];
        }
        let inv = 1.0 / dot(&kk, &kk).sqrt().max(1e-12);
        let kt = &mut k_out[t * n..(t + 1) * n];
        for j in 0..n {
            kk[j] *= inv;
            kka[j] = kk[j] * a[j];
            kt[j] = kt_in[j] * (1.0 + (a[j] - 1.0) * k_a[j]);
        }
        sa.fill(0.0);
        for (col, &kj) in st.chunks_exact(n).zip(kk.iter()) {
            for (acc, &sv) in sa.iter_mut().zip(col) {
                *acc += sv * kj;
            }
        }
        let yt = &mut y_out[t * n..(t + 1) * n];
        yt.fill(0.0);
        for (j, col) in st.chunks_exact_mut(n).enumerate() {
            let (dj, kaj, ktj, rj) = (decay[j], kka[j], kt[j], r[j]);
            for i in 0..n {
                let nv = col[i] * dj + (-sa[i]) * kaj + v[i] * ktj;
                col[i] = nv;
                yt[i] += nv * rj;
            }
        }
    }
    for i in 0..n {
        for j in 0..n {
            s[i * n + j] = st[j * n + i];
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn head_transposed_avx512(inp: &Wkv7Inputs, k: &[f32], c: usize, h: usize, n: usize, s: &mut [f32], ko: &mut [f32], yo: &mut [f32]) {
    head_transposed(inp, k, c, h, n, s, ko, yo)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn head_avx2(inp: &Wkv7Inputs, k: &[f32], c: usize, h: usize, n: usize, s: &mut [f32], ko: &mut [f32], yo: &mut [f32]) {
    head(inp, k, c, h, n, s, ko, yo)
}

/// As `kernels::wkv7::wkv7`; `level` picks the vector width (the quant level in use).
pub fn wkv7(pool: &Pool, level: quant::fast::Isa, inp: &Wkv7Inputs, k: &mut [f32], state: &mut [f32], y: &mut [f32], n: usize) {
    use quant::fast::Isa;
    let c = inp.k_k.len();
    let heads = c / n;
    let rows = k.len() / c;
    #[cfg(target_arch = "x86_64")]
    if matches!(level, Isa::Avx512 | Isa::Avx512Vnni) && super::wkv7_avx512::supported(n) {
        assert!(y.len() >= rows * c && state.len() >= heads * n * n);
        let (st, ko, yo) = (Disjoint::new(state), Disjoint::new(k), Disjoint::new(y));
        pool.run(heads, &|h| {
            // SAFETY: task h owns head h's state block and head h's columns of every row of k
            // and y (lengths asserted above); the level is one the CPU supports.
            unsafe {
                let s = st.range(h * n * n, n * n);
                super::wkv7_avx512::head(inp, rows, c, h, n, s, ko.as_mut_ptr().0, yo.as_mut_ptr().0)
            }
        });
        return;
    }
    let mut k_out = vec![0f32; heads * rows * n];
    let mut y_out = vec![0f32; heads * rows * n];
    {
        let (st, ko, yo) = (Disjoint::new(state), Disjoint::new(&mut k_out), Disjoint::new(&mut y_out));
        let k_in: &[f32] = k;
        pool.run(heads, &|h| {
            // SAFETY: task h owns head h's state block and its rows of the scratch outputs.
            let (s, kh, yh) = unsafe { (st.range(h * n * n, n * n), ko.range(h * rows * n, rows * n), yo.range(h * rows * n, rows * n)) };
            match level {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 | Isa::Avx512Vnni => unsafe { head_transposed_avx512(inp, k_in, c, h, n, s, kh, yh) },
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => unsafe { head_avx2(inp, k_in, c, h, n, s, kh, yh) },
                _ => head(inp, k_in, c, h, n, s, kh, yh),
            }
        });
    }
    for h in 0..heads {
        for t in 0..rows {
            let dst = t * c + h * n;
            let src = (h * rows + t) * n;
            k[dst..dst + n].copy_from_slice(&k_out[src..src + n]);
            y[dst..dst + n].copy_from_slice(&y_out[src..src + n]);
        }
    }
}
