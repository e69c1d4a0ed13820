//! wkv7: the RWKV-7 recurrence (spec §4.3, §4.4), sequential over the T rows of one sequence.
//!
//! Per token t and head h (N = head size, slices `h·N .. h·N+N` of each `[T, C]` input):
//!   kk = k ⊙ k_k / max(‖k ⊙ k_k‖₂, 1e−12);   k ← k ⊙ (1 + (a − 1) ⊙ k_a)  (written back)
//!   for each value row i: sa = Σ_j S[i][j]·(−kk[j]);
//!       S[i][j] ← S[i][j]·decay[j] + sa·(kk[j]·a[j]) + v[i]·k[j];   y[i] = Σ_j S[i][j]·r[j]
//! state: `[H, N, N]`, `S[h][i][j]` at `h·N·N + i·N + j`. Accumulation in f32. Heads are independent
//! and run in parallel.

use rayon::prelude::*;

pub struct Wkv7Inputs<'a> {
    pub r: &'a [f32],
    pub decay: &'a [f32],
    pub v: &'a [f32],
    pub a: &'a [f32],
    pub k_k: &'a [f32],
    pub k_a: &'a [f32],
}

pub fn wkv7(inp: &Wkv7Inputs, k: &mut [f32], state: &mut [f32], y: &mut [f32], head_size: usize) {
    let c = inp.k_k.len();
    let n = head_size;
    let rows = k.len() / c;
    // Each head works on its own state block and its own columns of k and y; gather those columns
    // per head so the parallel tasks own disjoint memory.
    let results: Vec<(Vec<f32>, Vec<f32>)> = state
        .par_chunks_mut(n * n)
        .enumerate()
        .map(|(h, s)| {
            let mut k_out = vec![0f32; rows * n];
            let mut y_out = vec![0f32; rows * n];
            let mut kk = vec![0f32; n];
            for t in 0..rows {
                let base = t * c + h * n;
                let at = |x: &[f32], j: usize| x[base + j];
                let mut norm = 0f32;
                for j in 0..n {
                    kk[j] = at(k, j) * inp.k_k[h * n + j];
                    norm += kk[j] * kk[j];
                }
                let inv = 1.0 / norm.sqrt().max(1e-12);
                kk.iter_mut().for_each(|v| *v *= inv);
                let kt = &mut k_out[t * n..(t + 1) * n];
                for j in 0..n {
                    kt[j] = at(k, j) * (1.0 + (at(inp.a, j) - 1.0) * inp.k_a[h * n + j]);
                }
                for i in 0..n {
                    let row = &mut s[i * n..(i + 1) * n];
                    let sa: f32 = row.iter().zip(&kk).map(|(s, kk)| -s * kk).sum();
                    let vi = at(inp.v, i);
                    let mut acc = 0f32;
                    for j in 0..n {
                        row[j] = row[j] * at(inp.decay, j) + sa * kk[j] * at(inp.a, j) + vi * kt[j];
                        acc += row[j] * at(inp.r, j);
                    }
                    y_out[t * n + i] = acc;
                }
            }
            (k_out, y_out)
        })
        .collect();
    for (h, (k_out, y_out)) in results.into_iter().enumerate() {
        for t in 0..rows {
            let dst = t * c + h * n;
            k[dst..dst + n].copy_from_slice(&k_out[t * n..(t + 1) * n]);
            y[dst..dst + n].copy_from_slice(&y_out[t * n..(t + 1) * n]);
        }
    }
}
