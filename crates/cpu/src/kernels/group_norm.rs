//! group_norm: in place on y `[T, C]`, per token and head h (N values):
//!   `y_h = (y_h − mean) / sqrt(var + eps) · ln_w + ln_b` (RWKV-5/6's `ln_x`; population variance,
//! moments in f64 as in `layer_norm`).

use super::layer_norm::moments;

pub fn group_norm(y: &mut [f32], ln_w: &[f32], ln_b: &[f32], head_size: usize, eps: f32) {
    let c = ln_w.len();
    for yt in y.chunks_exact_mut(c) {
        for (h, yh) in yt.chunks_exact_mut(head_size).enumerate() {
            let (mean, inv_std) = moments(yh, eps);
            for (j, v) in yh.iter_mut().enumerate() {
                let ch = h * head_size + j;
                *v = ((*v as f64 - mean) * inv_std) as f32 * ln_w[ch] + ln_b[ch];
            }
        }
    }
}
