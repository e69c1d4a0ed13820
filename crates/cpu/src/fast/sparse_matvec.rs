//! One-token matvec that skips zero activations, for F16 FFN value matrices.
//!
//! The FFN value matmul reads `relu(k)²`, about half zeros on the synthetic models (measured:
//! 49.9% on 0.1b F16, 50.0% on 0.4b Q8_0). Row-major weights cannot skip them (every row needs
//! every column), so such a matrix keeps a transposed copy `[K, M]` in which activation j owns one
//! contiguous row: `out = Σ_{x_j ≠ 0} x_j · Wᵀ[j]` reads only the rows of nonzero activations, so a
//! decode step streams about half of the matrix. F16 only: its transpose is exact (a block type
//! would have to be requantized along the other axis) and its bytes per weight make the saving
//! largest. Results equal the dense product up to f32 summation order.
//!
//! Off by default (`AVIARY_SPARSE=1` turns it on): on the shared machine it measured only
//! 1.0–1.27× faster than the dense kernel for half the bytes (`examples/sparse_bench`), not
//! enough to be sure it pays for a third more memory on F16 models; see the report.

use quant::fast::Isa;

use crate::pool::Pool;

/// Output rows must be a multiple of this (each transposed row is whole cache lines).
pub const COLS: usize = 32;
/// Use the sparse path when at most this fraction of the activations is nonzero (it reads less,
/// but in row-sized pieces, so near-dense inputs stay on the dense path).
const MAX_DENSITY: f64 = 0.7;
/// Nonzero rows per task at least (each task adds its own partial sums, reduced at the end).
const MIN_ROWS_PER_TASK: usize = 64;

/// A cache line, so the copy is 64-byte aligned and every row is whole lines.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// The transposed F16 copy `[k, m]` of a `[m, k]` matrix.
pub struct Transposed {
    data: Vec<Line>,
    m: usize,
    k: usize,
}

impl Transposed {
    /// Whether a matrix of `m` rows (outputs) may use this path at SIMD level `isa`.
    pub fn usable(ty: quant::GgmlType, m: usize, isa: Isa) -> bool {
        ty == quant::GgmlType::F16 && m.is_multiple_of(COLS) && m > 0 && cfg!(target_arch = "x86_64") && matches!(isa, Isa::Avx512 | Isa::Avx512Vnni)
    }

    /// Transposes the F16 matrix `w` (`m` rows of `k`), in 64×64 tiles so both sides stay in cache.
    pub fn new(w: &[u8], m: usize, k: usize) -> Transposed {
        assert_eq!(w.len(), m * k * 2, "F16 matrix of {m}×{k}");
        let mut data = vec![Line([0; 64]); (m * k * 2).div_ceil(64)];
        // SAFETY: `data` holds at least m·k u16 values, and Line is plain bytes with 64-byte
        // alignment (so u16-aligned).
        let dst = unsafe { std::slice::from_raw_parts_mut(data.as_mut_ptr() as *mut u16, m * k) };
        const TILE: usize = 64;
        for i0 in (0..m).step_by(TILE) {
            for j0 in (0..k).step_by(TILE) {
                for i in i0..(i0 + TILE).min(m) {
                    for j in j0..(j0 + TILE).min(k) {
                        let at = 2 * (i * k + j);
                        dst[j * m + i] = u16::from_le_bytes([w[at], w[at + 1]]);
                    }
                }
            }
        }
        Transposed { data, m, k }
    }

    /// `out = W·x` for one token if `x` is sparse enough (returns false, untouched, otherwise).
    /// `nz` is scratch for the nonzero indices. The nonzero rows are split into runs, one per
    /// task, so each task streams whole rows (near-sequential: the nonzeros are in order); each
    /// task sums into its own partial vector and the partials are added at the end.
    pub fn matvec(&self, pool: &Pool, x: &[f32], out: &mut [f32], nz: &mut Vec<u32>) -> bool {
        assert_eq!((x.len(), out.len()), (self.k, self.m), "sparse matvec geometry");
        nz.clear();
        nz.extend(x.iter().enumerate().filter(|(_, &v)| v != 0.0).map(|(j, _)| j as u32));
        if nz.len() as f64 > MAX_DENSITY * self.k as f64 {
            return false;
        }
        let m = self.m;
        let tasks = (nz.len() / MIN_ROWS_PER_TASK).clamp(1, pool.threads() * 2);
        let per = nz.len().div_ceil(tasks).max(1);
        let mut parts = vec![0f32; tasks * m];
        let shared = super::Disjoint::new(&mut parts);
        let nz = &nz[..];
        pool.run(tasks, &|i| {
            let run = &nz[(i * per).min(nz.len())..((i + 1) * per).min(nz.len())];
            // SAFETY: task i owns partial vector i; the copy holds k rows of m F16 values, every
            // index in `nz` is below k, and the copy exists only where `usable` found AVX-512.
            unsafe {
                let p = shared.range(i * m, m);
                rows(self.data.as_ptr() as *const u8, m, run, x, p.as_mut_ptr());
            }
        });
        out.copy_from_slice(&parts[..m]);
        for part in parts[m..].chunks_exact(m) {
            for (o, p) in out.iter_mut().zip(part) {
                *o += p;
            }
        }
        true
    }
}

/// `acc[..m] += Σ_{j ∈ run} x_j · T[j]`, T `[k, m]` F16 at `t`, two rows per pass over `acc`
/// (an L1-resident vector: one load and store per 16 sums for two rows of weights). The rows are
/// in increasing order, so the hardware prefetchers see a forward stream; software prefetch of
/// the next rows measured no better.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn rows(t: *const u8, m: usize, run: &[u32], x: &[f32], acc: *mut f32) {
    use core::arch::x86_64::*;
    let row = |j: u32| t.add(j as usize * m * 2);
    let mut i = 0;
    while i + 2 <= run.len() {
        let (r0, r1) = (row(run[i]), row(run[i + 1]));
        let (x0, x1) = (_mm512_set1_ps(x[run[i] as usize]), _mm512_set1_ps(x[run[i + 1] as usize]));
        for v in 0..m / 16 {
            let a = _mm512_loadu_ps(acc.add(16 * v));
            let a = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_load_si256(r0.add(32 * v) as *const __m256i)), x0, a);
            let a = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_load_si256(r1.add(32 * v) as *const __m256i)), x1, a);
            _mm512_storeu_ps(acc.add(16 * v), a);
        }
        i += 2;
    }
    if i < run.len() {
        let r0 = row(run[i]);
        let x0 = _mm512_set1_ps(x[run[i] as usize]);
        for v in 0..m / 16 {
            let a = _mm512_loadu_ps(acc.add(16 * v));
            _mm512_storeu_ps(acc.add(16 * v), _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_load_si256(r0.add(32 * v) as *const __m256i)), x0, a));
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn rows(_: *const u8, _: usize, _: &[u32], _: &[f32], _: *mut f32) {
    unreachable!("the sparse path is only enabled with AVX-512")
}
