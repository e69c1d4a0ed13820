//! token_shift_lora6: RWKV-6's data-dependent token shift (spec §5.1). With `prev[0] = shift`,
//! `prev[t] = x[t−1]` and `d = prev − x`:
//!   `xxx = x + d·mu_x`;  `m = tanh(W1·xxx)` (`[T, K·D]`, kept in `mid`);
//!   `outs[i] = x + d·(mu[i] + W2_i·m_i)` with `m_i` the i-th D-wide column block of `m` and `W2_i` the
//!   weight rows `i·C .. (i+1)·C` of W2 (`[K·C, D]`, GGUF `[D, C, K]`); then `shift = x[T−1]`.
//! x `[T, C]`, shift `[C]`, mu_x `[C]`, mu `[K, C]`, W1 `[K·D, C]`, outs: K buffers `[T, C]`.

use super::lora::Matrix;

#[allow(clippy::too_many_arguments)]
pub fn token_shift_lora6(
    x: &[f32],
    shift: &mut [f32],
    mu_x: &[f32],
    mu: &[f32],
    w1: &dyn Matrix,
    w2: &dyn Matrix,
    mid: &mut [f32],
    outs: &mut [&mut [f32]],
) {
    let c = shift.len();
    let rows = x.len() / c;
    if rows == 0 {
        return;
    }
    let (k, d) = (outs.len(), w2.cols());
    // d = prev − x, and xxx.
    let mut delta = vec![0f32; rows * c];
    let mut xxx = vec![0f32; rows * c];
    for t in 0..rows {
        for j in 0..c {
            let prev = if t == 0 { shift[j] } else { x[(t - 1) * c + j] };
            let cur = x[t * c + j];
            delta[t * c + j] = prev - cur;
            xxx[t * c + j] = cur + (prev - cur) * mu_x[j];
        }
    }
    w1.matmul_rows(0..k * d, &xxx, mid);
    mid.iter_mut().for_each(|v| *v = v.tanh());
    let mut m_i = vec![0f32; rows * d];
    let mut lora = vec![0f32; rows * c];
    for (i, out) in outs.iter_mut().enumerate() {
        for t in 0..rows {
            m_i[t * d..(t + 1) * d].copy_from_slice(&mid[t * k * d + i * d..t * k * d + (i + 1) * d]);
        }
        w2.matmul_rows(i * c..(i + 1) * c, &m_i, &mut lora);
        let m = &mu[i * c..(i + 1) * c];
        for t in 0..rows {
            for j in 0..c {
                let at = t * c + j;
                out[at] = x[at] + delta[at] * (m[j] + lora[at]);
            }
        }
    }
    shift.copy_from_slice(&x[(rows - 1) * c..]);
}
