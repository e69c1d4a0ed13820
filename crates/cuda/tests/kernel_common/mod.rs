//! Buffers and comparisons shared by the kernel tests (kernels.rs, fused.rs).
#![allow(dead_code)]

use cuda::{CudaAct, CudaBackend, CudaWeight};
use gguf::GgmlType;
use model::Ops;
use testkit::TestRng;

pub fn act(b: &mut CudaBackend, rows: usize, cols: usize, data: &[f32]) -> CudaAct {
    let mut a = b.alloc(rows, cols).expect("alloc");
    b.write(&mut a, data).expect("write");
    a
}

/// A buffer full of NaN, for outputs: an element a kernel fails to write shows up.
pub fn poisoned(b: &mut CudaBackend, rows: usize, cols: usize) -> CudaAct {
    act(b, rows, cols, &vec![f32::NAN; rows * cols])
}

pub fn vectors(b: &mut CudaBackend, rows: usize, cols: usize, data: &[f32]) -> CudaWeight {
    b.upload_vectors(rows, cols, data.to_vec()).expect("upload vectors")
}

pub fn read(b: &mut CudaBackend, a: &CudaAct) -> Vec<f32> {
    b.read(a).expect("read")
}

/// Fails unless every value is finite and within `tol · max(1, max |want|)` of the reference.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(g.is_finite(), "{what}: element {i} is {g} (not written?), expected {w}");
        assert!((g - w).abs() <= tol * scale, "{what}: element {i} is {g}, expected {w} (tolerance {})", tol * scale);
    }
}

/// A random matrix of `rows` × `cols` quantized to `ty` with the reference quantizers.
pub fn random_matrix(rng: &mut TestRng, ty: GgmlType, rows: usize, cols: usize) -> (Vec<u8>, usize) {
    let row_bytes = quant::row_bytes(ty, cols).expect("whole blocks");
    let mut bytes = vec![0u8; rows * row_bytes];
    for r in 0..rows {
        let values = rng.vec(cols, -1.0, 1.0);
        quant::quantize_row(ty, &values, &mut bytes[r * row_bytes..(r + 1) * row_bytes]).expect("quantize");
    }
    (bytes, row_bytes)
}

/// Multi-token matmuls on cuBLAS with the exact products (`gemm=exact`), for tests that hold an op
/// to its f32 reference: the default single f16 GEMM rounds activations to f16 (its accuracy is
/// checked by gemm.rs and, against llama.cpp's, by the whole-model tests).
pub fn exact_gemm(b: &mut CudaBackend) {
    let mut t = b.tuning().clone();
    t.apply("gemm=exact").expect("a known tuning");
    b.set_tuning(t);
}
