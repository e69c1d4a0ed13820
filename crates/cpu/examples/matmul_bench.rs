//! Times the cpu backend's matmul (quant's fast kernels on the backend's pool) per weight type:
//! decode (one token) on 768×768, 3072×768, 768×3072 and 65536×768, and prefill (64 tokens) on
//! 768×768, reporting weight GB/s, and this machine's memory read bandwidth for comparison.
//!
//! `cargo run --release -p cpu --example matmul_bench -- [threads] [types,comma,separated]`
//! (`AVIARY_SIMD=avx2` etc. to pick a level; `SHAPES=64x1024,1024x64` for other one-token shapes).

use std::time::Instant;

use cpu::fast::matmul::matmul;
use cpu::pool::Pool;
use quant::fast::RowKernel;
use quant::GgmlType;

/// Read bandwidth: 1 GiB summed as u64 lanes (integer sums vectorise, so this is memory-bound).
fn bandwidth(pool: &Pool) -> f64 {
    let n = 1usize << 30;
    let buf: Vec<u64> = (0..n / 8).map(|i| i as u64).collect();
    let chunks = 256;
    let per = buf.len() / chunks;
    let sums: Vec<std::sync::atomic::AtomicU64> = (0..chunks).map(|_| Default::default()).collect();
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t0 = Instant::now();
        pool.run(chunks, &|i| {
            let mut lanes = [0u64; 8];
            for c in buf[i * per..(i + 1) * per].chunks_exact(8) {
                for l in 0..8 {
                    lanes[l] = lanes[l].wrapping_add(c[l]);
                }
            }
            sums[i].store(lanes.iter().fold(0, |a, &b| a ^ b), std::sync::atomic::Ordering::Relaxed);
        });
        best = best.min(t0.elapsed().as_secs_f64());
    }
    n as f64 / best / 1e9
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    let types: Vec<GgmlType> = match args.get(2) {
        Some(list) => list.split(',').map(|n| quant::SUPPORTED.into_iter().find(|t| format!("{t:?}").eq_ignore_ascii_case(n)).expect("type")).collect(),
        None => vec![GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q8_0, GgmlType::F16, GgmlType::Q5_K, GgmlType::Q4_0, GgmlType::BF16, GgmlType::F32],
    };
    let pool = Pool::new(threads).unwrap();
    let planes = std::env::var("PLANES").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    println!("SIMD level {}, {threads} threads; memory read bandwidth {:.1} GB/s (1 GiB, summed)", quant::fast::active(), bandwidth(&pool));
    let mut seed = 1u32;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed as f32 / u32::MAX as f32) * 2.0 - 1.0
    };
    // PREFILL_T: the prefill token count (default 64); DECODE=0 skips the one-token shapes.
    let pt: usize = std::env::var("PREFILL_T").ok().and_then(|s| s.parse().ok()).unwrap_or(64);
    let decode = std::env::var("DECODE").map_or(true, |v| v != "0");
    let mut shapes = vec![(768, 768, pt), (3072, 768, pt), (768, 3072, pt)];
    if decode {
        shapes.splice(0..0, [(768, 768, 1), (3072, 768, 1), (768, 3072, 1), (65536, 768, 1)]);
    }
    // SHAPES=MxK,MxK,... (one token each) replaces the list.
    if let Ok(list) = std::env::var("SHAPES") {
        shapes = list
            .split(',')
            .map(|s| {
                let (m, k) = s.split_once('x').expect("MxK");
                (m.parse().expect("M"), k.parse().expect("K"), 1)
            })
            .collect();
    }
    println!("AMX prefill path: {}", quant::fast::amx::usable());
    for ty in types {
        for &(m, k, t) in &shapes {
            let kern = RowKernel::new(ty, k).unwrap();
            let x: Vec<f32> = (0..k * t).map(|_| rnd()).collect();
            let src: Vec<f32> = (0..k * 64).map(|_| rnd() * 0.1).collect();
            let mut block = vec![0u8; kern.row_bytes() * 64];
            quant::quantize_row(ty, &src, &mut block).unwrap();
            let w: Vec<u8> = block.iter().copied().cycle().take(kern.row_bytes() * m).collect();
            let mut out = vec![0f32; m * t];
            let mut acts = Vec::new();
            let reps = ((2e9 / (w.len() as f64 * t as f64)) as usize).clamp(3, 2000);
            matmul(&pool, &kern, &w, &x, k, &mut out, &mut acts, planes, true);
            let mut best = f64::MAX;
            for _ in 0..3 {
                let t0 = Instant::now();
                for _ in 0..reps {
                    matmul(&pool, &kern, &w, &x, k, &mut out, &mut acts, planes, true);
                }
                best = best.min(t0.elapsed().as_secs_f64() / reps as f64);
            }
            let gmac = (m * k * t) as f64 / best / 1e9;
            println!(
                "{:<5} {m:>6}x{k:<5} T={t:<3} {:>9.1} us  {:>7.1} GB/s weights  {:>7.1} GMAC/s",
                format!("{ty:?}"),
                best * 1e6,
                w.len() as f64 / best / 1e9,
                gmac
            );
        }
    }
}
