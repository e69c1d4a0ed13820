//! The matmuls of one RWKV-7 decode step on distinct weights (so, as in a model, every matrix
//! comes from memory rather than cache): per layer four C×C, the FFN key (4C×C) and value
//! (C×4C), then the 65536×C head. Reports wall ms per step, weight GB/s, and CPU-ms per step
//! (user+system, steadier than wall time on a shared machine).
//!
//! `cargo run --release -p cpu --example decode_step_bench -- [0.1b|0.4b] [type] [threads] [steps]`
//! (`PLANES` = activation planes, default 2).

use std::time::Instant;

use cpu::fast::matmul::matmul;
use cpu::pool::Pool;
use quant::fast::RowKernel;
use quant::GgmlType;

/// User + system CPU seconds of this process so far (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (layers, c) = match args.get(1).map(String::as_str).unwrap_or("0.4b") {
        "0.1b" => (12, 768),
        _ => (24, 1024),
    };
    let ty = args.get(2).map_or(GgmlType::Q8_0, |n| quant::SUPPORTED.into_iter().find(|t| format!("{t:?}").eq_ignore_ascii_case(n)).expect("type"));
    let threads = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2);
    let steps: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(20);
    let planes = std::env::var("PLANES").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let pool = Pool::new(threads).unwrap();

    let mut shapes = Vec::new();
    for _ in 0..layers {
        shapes.extend([(c, c), (c, c), (c, c), (c, c), (4 * c, c), (c, 4 * c)]);
    }
    shapes.push((65536, c));
    let mut seed = 7u32;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed as f32 / u32::MAX as f32) * 0.2 - 0.1
    };
    let mats: Vec<(RowKernel, Vec<u8>)> = shapes
        .iter()
        .map(|&(m, k)| {
            let kern = RowKernel::new(ty, k).unwrap();
            let src: Vec<f32> = (0..k * 16).map(|_| rnd()).collect();
            let mut block = vec![0u8; kern.row_bytes() * 16];
            quant::quantize_row(ty, &src, &mut block).unwrap();
            // Distinct bytes per matrix (a page-cache-like copy would be shared otherwise).
            let w: Vec<u8> = block.iter().copied().cycle().take(kern.row_bytes() * m).collect();
            (kern, w)
        })
        .collect();
    let bytes: usize = mats.iter().map(|(_, w)| w.len()).sum();
    let x: Vec<f32> = (0..4 * c).map(|_| rnd()).collect();
    let mut out = vec![0f32; 65536];
    let mut acts = Vec::new();
    let step = |out: &mut Vec<f32>, acts: &mut Vec<u8>| {
        for ((kern, w), &(m, k)) in mats.iter().zip(&shapes) {
            matmul(&pool, kern, w, &x[..k], k, &mut out[..m], acts, planes, true);
        }
    };
    step(&mut out, &mut acts);
    let (w0, c0) = (Instant::now(), cpu_seconds());
    for _ in 0..steps {
        step(&mut out, &mut acts);
    }
    let (wall, cpu) = (w0.elapsed().as_secs_f64() / steps as f64, (cpu_seconds() - c0) / steps as f64);
    println!(
        "{ty:?} {layers} layers C={c} {threads} threads, SIMD {}: {:.1} MB/step  {:.2} ms/step  {:.1} GB/s  {:.2} CPU-ms/step",
        quant::fast::active(),
        bytes as f64 / 1e6,
        wall * 1e3,
        bytes as f64 / wall / 1e9,
        cpu * 1e3
    );
}
