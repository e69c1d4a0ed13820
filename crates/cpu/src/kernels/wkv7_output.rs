//! wkv7_output: in place on y `[T, C]`, per token and head h (N values):
//!   y_h = (y_h − mean) / sqrt(var + eps) · ln_w + ln_b + (Σ_j r_j·k_j·r_k_j) · v_h;   y ← y ⊙ g
//! (GroupNorm per head, its affine, the RWKV-7 "bonus", and the gate; spec §4.3.)

use super::layer_norm::moments;

pub struct Wkv7OutputInputs<'a> {
    pub r: &'a [f32],
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub g: &'a [f32],
    pub r_k: &'a [f32],
    pub ln_w: &'a [f32],
    pub ln_b: &'a [f32],
}

pub fn wkv7_output(inp: &Wkv7OutputInputs, y: &mut [f32], head_size: usize, eps: f32) {
    let c = inp.r_k.len();
    let n = head_size;
    for (t, yt) in y.chunks_exact_mut(c).enumerate() {
        for h in 0..c / n {
            let lo = h * n;
            let at = t * c + lo;
            let (mean, inv_std) = moments(&yt[lo..lo + n], eps);
            let bonus: f32 = (0..n).map(|j| inp.r[at + j] * inp.k[at + j] * inp.r_k[lo + j]).sum();
            for j in 0..n {
                let normed = ((yt[lo + j] as f64 - mean) * inv_std) as f32;
                let with_affine = normed * inp.ln_w[lo + j] + inp.ln_b[lo + j];
                yt[lo + j] = (with_affine + bonus * inp.v[at + j]) * inp.g[at + j];
            }
        }
    }
}
