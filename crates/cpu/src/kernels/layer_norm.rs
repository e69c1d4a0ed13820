//! layer_norm: per row of `[T, C]`, `(x − mean) / sqrt(var + eps) · w + b` with the population
//! variance. Mean and variance are accumulated in f64 (C is up to 4096; this is not the hot path).

pub fn layer_norm(x: &[f32], w: &[f32], b: &[f32], eps: f32, out: &mut [f32]) {
    let c = w.len();
    for (xr, or) in x.chunks_exact(c).zip(out.chunks_exact_mut(c)) {
        let (mean, inv_std) = moments(xr, eps);
        for i in 0..c {
            or[i] = ((xr[i] as f64 - mean) * inv_std) as f32 * w[i] + b[i];
        }
    }
}

/// Mean and `1 / sqrt(var + eps)` of one group of values.
pub fn moments(x: &[f32], eps: f32) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, 1.0 / (var + eps as f64).sqrt())
}
