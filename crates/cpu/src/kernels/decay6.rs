//! decay6: RWKV-6's data-dependent decay (spec §5.1): `mid = tanh(A·x)`, then
//! `out = exp(−exp(bias + B·mid))`. A `[R, C]`, B `[C, R]` (any stored type, multiplied by the
//! caller's [`Matrix`]), bias `[C]`, x `[T, C]`, mid `[T, R]`, out `[T, C]`. Exponents in f32.

use super::lora::Matrix;

pub fn decay6(x: &[f32], a: &dyn Matrix, b: &dyn Matrix, bias: &[f32], mid: &mut [f32], out: &mut [f32]) {
    let t = x.len() / a.cols();
    a.matmul_rows(0..mid.len() / t.max(1), x, mid);
    mid.iter_mut().for_each(|v| *v = v.tanh());
    b.matmul_rows(0..bias.len(), mid, out);
    for row in out.chunks_exact_mut(bias.len()) {
        for (o, d) in row.iter_mut().zip(bias) {
            *o = (-(*o + d).exp()).exp();
        }
    }
}
