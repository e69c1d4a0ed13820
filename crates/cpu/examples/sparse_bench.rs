//! The FFN value matvec of a decode step, dense (row-major kernel) against zero-skipping
//! (`fast::sparse_matvec`), on distinct F16 matrices (as a model's layers, so weights come from
//! memory) and a relu²-like input with about half zeros; the two alternate so load on a shared
//! machine hits both alike.
//!
//! `cargo run --release -p cpu --example sparse_bench -- [C] [layers] [threads]` (default 1024 24 2).

use std::time::Instant;

use cpu::fast::matmul::matmul;
use cpu::fast::sparse_matvec::Transposed;
use cpu::pool::Pool;
use quant::fast::RowKernel;
use quant::GgmlType;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let c: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1024);
    let layers: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(24);
    let threads: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2);
    let (m, k) = (c, 4 * c);
    let pool = Pool::new(threads).unwrap();
    let kern = RowKernel::new(GgmlType::F16, k).unwrap();
    let mut seed = 3u32;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed as f32 / u32::MAX as f32) * 2.0 - 1.0
    };
    let mats: Vec<(Vec<u8>, Transposed)> = (0..layers)
        .map(|_| {
            let w: Vec<u8> = (0..m * k).flat_map(|_| half::f16::from_f32(rnd() * 0.05).to_le_bytes()).collect();
            let t = Transposed::new(&w, m, k);
            (w, t)
        })
        .collect();
    let x: Vec<f32> = (0..k).map(|_| rnd().max(0.0).powi(2)).collect();
    let zeros = x.iter().filter(|&&v| v == 0.0).count();
    let (mut out, mut acts, mut nz) = (vec![0f32; m], Vec::new(), Vec::new());
    let (mut dense, mut sparse) = (f64::MAX, f64::MAX);
    for _ in 0..10 {
        let t0 = Instant::now();
        for (w, _) in &mats {
            matmul(&pool, &kern, w, &x, k, &mut out, &mut acts, 1, true);
        }
        dense = dense.min(t0.elapsed().as_secs_f64() / layers as f64);
        let t0 = Instant::now();
        for (_, t) in &mats {
            assert!(t.matvec(&pool, &x, &mut out, &mut nz));
        }
        sparse = sparse.min(t0.elapsed().as_secs_f64() / layers as f64);
    }
    println!(
        "F16 {m}x{k}, {:.1}% zeros, {layers} matrices, {threads} threads, SIMD {}: dense {:.1} us ({:.1} GB/s), sparse {:.1} us ({:.2}x)",
        100.0 * zeros as f64 / k as f64,
        quant::fast::active(),
        dense * 1e6,
        (m * k * 2) as f64 / dense / 1e9,
        sparse * 1e6,
        dense / sparse
    );
}
