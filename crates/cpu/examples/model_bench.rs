//! Prefill and decode speed of a GGUF model on the cpu backend, by wall clock and by CPU time
//! (the process's user+system time), so runs on a machine shared with other work can still be
//! compared: `cargo run --release -p cpu --example model_bench -- MODEL.gguf [threads] [prefill] [gen]`.

use std::sync::Arc;
use std::time::Instant;

use model::{LogitsMode, Model, Rwkv7Runner};

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
    let path = args.get(1).expect("usage: model_bench MODEL.gguf [threads] [prefill] [gen]");
    let threads = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    let prefill: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(512);
    let gen: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(64);
    let file = Arc::new(gguf::GgufFile::open(std::path::Path::new(path)).expect("open"));
    let mut runner = Rwkv7Runner::load(file, cpu::CpuBackend::new(threads).expect("pool")).expect("load");
    let vocab = 65_000u32;
    let prompt: Vec<u32> = (0..prefill as u32).map(|i| (i * 7919 + 13) % vocab).collect();
    // Warm-up (pages in the weights).
    let s = runner.new_state().unwrap();
    runner.forward(s, &prompt[..prefill.min(64)], LogitsMode::Last).unwrap();
    for rep in 0..2 {
        let s = runner.new_state().unwrap();
        let (w0, c0) = (Instant::now(), cpu_seconds());
        let logits = runner.forward(s, &prompt, LogitsMode::Last).unwrap();
        let (pw, pc) = (w0.elapsed().as_secs_f64(), cpu_seconds() - c0);
        let mut tok = testkit_argmax(&logits[0]);
        let (w1, c1) = (Instant::now(), cpu_seconds());
        for _ in 0..gen {
            let l = runner.forward(s, &[tok], LogitsMode::Last).unwrap();
            tok = testkit_argmax(&l[0]);
        }
        let (gw, gc) = (w1.elapsed().as_secs_f64(), cpu_seconds() - c1);
        println!(
            "run {rep}: prefill {prefill}: {:.1} tok/s ({:.1} tok/CPU-s)   gen {gen}: {:.2} tok/s ({:.2} tok/CPU-s)   SIMD {}",
            prefill as f64 / pw,
            prefill as f64 / pc.max(1e-9),
            gen as f64 / gw,
            gen as f64 / gc.max(1e-9),
            quant::fast::active()
        );
    }
}

fn testkit_argmax(v: &[f32]) -> u32 {
    v.iter().enumerate().fold((0, f32::MIN), |b, (i, &x)| if x > b.1 { (i, x) } else { b }).0 as u32
}
