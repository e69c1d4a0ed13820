//! lora: `mid = A·x` (then tanh for Decay, σ for Gate), `out = B·mid` (+ bias, then the output
//! activation of the kind). A `[R, C]`, B `[C, R]` in their stored types; x `[T, C]`; mid `[T, R]`.

use gguf::GgmlType;
use model::LoraKind;

use super::elementwise::{decay, sigmoid};
use super::matmul::matmul;

/// A stored matrix: type, bytes, bytes per row, elements per row.
pub struct MatrixRef<'a> {
    pub ty: GgmlType,
    pub bytes: &'a [u8],
    pub row_bytes: usize,
    pub cols: usize,
}

/// A weight matrix an op multiplies by, so that one kernel body serves both the scalar reference
/// (a [`MatrixRef`]) and the backend's fast matmul.
pub trait Matrix {
    fn cols(&self) -> usize;
    /// `out[t] = W[rows]·x[t]` for the weight rows `rows` only; x `[T, cols]`, out `[T, rows.len()]`.
    fn matmul_rows(&self, rows: std::ops::Range<usize>, x: &[f32], out: &mut [f32]);
}

impl Matrix for MatrixRef<'_> {
    fn cols(&self) -> usize {
        self.cols
    }
    fn matmul_rows(&self, rows: std::ops::Range<usize>, x: &[f32], out: &mut [f32]) {
        let bytes = &self.bytes[rows.start * self.row_bytes..rows.end * self.row_bytes];
        matmul(self.ty, bytes, self.row_bytes, x, self.cols, out);
    }
}

pub fn lora(kind: LoraKind, x: &[f32], a: &MatrixRef, b: &MatrixRef, bias: Option<&[f32]>, mid: &mut [f32], out: &mut [f32]) {
    matmul(a.ty, a.bytes, a.row_bytes, x, a.cols, mid);
    match kind {
        LoraKind::Decay => mid.iter_mut().for_each(|v| *v = v.tanh()),
        LoraKind::Gate => mid.iter_mut().for_each(|v| *v = sigmoid(*v)),
        LoraKind::SigmoidOut => {}
    }
    matmul(b.ty, b.bytes, b.row_bytes, mid, b.cols, out);
    if let Some(bias) = bias {
        for row in out.chunks_exact_mut(bias.len()) {
            for (o, c) in row.iter_mut().zip(bias) {
                *o += c;
            }
        }
    }
    match kind {
        LoraKind::Decay => out.iter_mut().for_each(|v| *v = decay(*v)),
        LoraKind::SigmoidOut => out.iter_mut().for_each(|v| *v = sigmoid(*v)),
        LoraKind::Gate => {}
    }
}
