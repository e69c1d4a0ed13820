//! Shared test support: opening the backend (skipping loudly without an adapter, failing under CI)
//! and moving f32 data in and out.

#![allow(dead_code)]

use gguf::GgmlType;
use model::Ops;
use testkit::TestRng;
use webgpu::{GpuAct, WebGpuBackend, WebGpuOptions};

/// The backend on the default adapter, with or without subgroup kernels; `None` (after a loud
/// message) when there is no adapter outside CI. Under CI a missing adapter fails the test.
pub fn backend(subgroups: bool) -> Option<WebGpuBackend> {
    let opts = WebGpuOptions { adapter: std::env::var("AVIARY_WGPU_ADAPTER").ok(), subgroups, ..Default::default() };
    open(opts)
}

/// The backend with the given options (see `backend`).
pub fn open(opts: WebGpuOptions) -> Option<WebGpuBackend> {
    let subgroups = opts.subgroups;
    match WebGpuBackend::new(&opts) {
        Ok(b) => {
            if subgroups && !b.uses_subgroups() {
                eprintln!("note: adapter '{}' has no SUBGROUP; testing the fallback path only", b.adapter_name());
            }
            Some(b)
        }
        Err(e) => {
            if std::env::var_os("CI").is_some() {
                panic!("no usable WebGPU adapter under CI: {e}");
            }
            eprintln!();
            eprintln!("!!! SKIPPED: no usable WebGPU adapter: {e}");
            eprintln!("!!! Install lavapipe (apt-get install mesa-vulkan-drivers libvulkan1) and run with WGPU_BACKEND=vulkan.");
            eprintln!();
            None
        }
    }
}

/// Both reduction paths: subgroups (where the adapter has them) and the workgroup-memory fallback.
pub fn backends() -> Vec<(&'static str, WebGpuBackend)> {
    let mut out = Vec::new();
    if let Some(b) = backend(true) {
        if b.uses_subgroups() {
            out.push(("subgroup", b));
        }
    }
    if let Some(b) = backend(false) {
        out.push(("shared", b));
    }
    out
}

pub fn act(b: &mut WebGpuBackend, rows: usize, cols: usize, data: &[f32]) -> GpuAct {
    let mut a = b.alloc(rows, cols).expect("alloc");
    b.write(&mut a, data).expect("write");
    a
}

pub fn read(b: &mut WebGpuBackend, a: &GpuAct) -> Vec<f32> {
    b.read(a).expect("read")
}

/// max |a − b| / (1 + |b|), elementwise maximum.
pub fn max_rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(x, y)| (x - y).abs() / (1.0 + y.abs())).fold(0.0, f32::max)
}

/// Random weights of `rows` × `cols` stored as `ty` (quantized with the reference quantizer).
pub fn weights(rng: &mut TestRng, ty: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
    let row_bytes = quant::row_bytes(ty, cols).unwrap();
    let mut out = vec![0u8; rows * row_bytes];
    for r in 0..rows {
        let vals = rng.vec(cols, -1.0, 1.0);
        quant::quantize_row(ty, &vals, &mut out[r * row_bytes..(r + 1) * row_bytes]).unwrap();
    }
    out
}

/// The cpu crate's scalar matmul of `w` ([m, k] stored as `ty`) with every k-element row of `x`.
pub fn reference(ty: GgmlType, w: &[u8], x: &[f32], k: usize, m: usize) -> Vec<f32> {
    let mut expected = vec![0f32; x.len() / k * m];
    cpu::kernels::matmul::matmul(ty, w, quant::row_bytes(ty, k).unwrap(), x, k, &mut expected);
    expected
}
