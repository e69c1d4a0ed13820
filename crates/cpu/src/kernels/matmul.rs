//! matmul: `out[t][m] = Σ_k W[m][k] · x[t][k]`, W `[M, K]` in its stored type (decoded block by
//! block inside `quant::dot_row`), x `[T, K]`, out `[T, M]`. Parallel over rows of W; each weight row
//! is read once per call and dotted with every token.

use gguf::GgmlType;
use rayon::prelude::*;

pub fn matmul(ty: GgmlType, w: &[u8], row_bytes: usize, x: &[f32], k: usize, out: &mut [f32]) {
    let m = w.len() / row_bytes;
    let t = x.len() / k;
    let dot = |row: usize, tok: usize| {
        quant::dot_row(ty, &w[row * row_bytes..(row + 1) * row_bytes], &x[tok * k..(tok + 1) * k])
            .expect("row sizes were checked when the weight was loaded")
    };
    if t == 1 {
        out.par_iter_mut().enumerate().for_each(|(row, o)| *o = dot(row, 0));
        return;
    }
    // Token-minor scratch so each weight row is decoded once for all tokens.
    let mut by_row = vec![0f32; m * t];
    by_row.par_chunks_mut(t).enumerate().for_each(|(row, col)| {
        for (tok, o) in col.iter_mut().enumerate() {
            *o = dot(row, tok);
        }
    });
    for tok in 0..t {
        for row in 0..m {
            out[tok * m + row] = by_row[row * t + tok];
        }
    }
}
