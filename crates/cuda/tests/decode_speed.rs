//! Decode speed on the fixtures (a report, not a gate): tokens per second one token per step, with
//! CUDA graphs and with plain launches, next to the cpu backend. The fixture models are tiny, so this
//! measures per-step overhead (launches, graph replay, the logits copy), not bandwidth.
//! Without a GPU it prints "SKIPPED: no CUDA device" and passes.

mod common;

use std::sync::Arc;
use std::time::Instant;

use cpu::CpuBackend;
use cuda::CudaBackend;
use gguf::GgufFile;
use model::{LogitsMode, Model, Rwkv7Runner};

const STEPS: usize = 300;

fn decode_tok_per_s(model: &mut dyn Model) -> f64 {
    let state = model.new_state().unwrap();
    let mut logits = model.forward(state, &[1, 2, 3, 4], LogitsMode::Last).unwrap().remove(0);
    // Warm-up (first captures), then the timed run.
    for _ in 0..5 {
        logits = model.forward(state, &[testkit::argmax(&logits) as u32], LogitsMode::Last).unwrap().remove(0);
    }
    let start = Instant::now();
    for _ in 0..STEPS {
        logits = model.forward(state, &[testkit::argmax(&logits) as u32], LogitsMode::Last).unwrap().remove(0);
    }
    STEPS as f64 / start.elapsed().as_secs_f64()
}

fn prefill_tok_per_s(model: &mut dyn Model, n: usize) -> f64 {
    let tokens: Vec<u32> = (0..n as u32).map(|i| i % 200).collect();
    let state = model.new_state().unwrap();
    model.forward(state, &tokens, LogitsMode::Last).unwrap();
    let state = model.new_state().unwrap();
    let start = Instant::now();
    model.forward(state, &tokens, LogitsMode::Last).unwrap();
    n as f64 / start.elapsed().as_secs_f64()
}

#[test]
fn report_decode_speed() {
    let Some(probe) = common::backend() else { return };
    let device = model::Ops::device_name(&probe);
    drop(probe);
    let mut reported = 0;
    for stem in ["tiny-rwkv7-834K-F32", "synth-tiny-k-Q4_K_M", "synth-tiny-k-F16"] {
        let Some(path) = testkit::fixture(&format!("{stem}.gguf")) else { return };
        let file = Arc::new(GgufFile::open(&path).unwrap());
        let mut graphs = Rwkv7Runner::load(file.clone(), CudaBackend::new(0).unwrap()).unwrap();
        let mut plain_backend = CudaBackend::new(0).unwrap();
        plain_backend.set_use_graphs(false);
        let mut plain = Rwkv7Runner::load(file.clone(), plain_backend).unwrap();
        let mut cpu = Rwkv7Runner::load(file, CpuBackend::new(0).unwrap()).unwrap();
        let g = decode_tok_per_s(&mut graphs);
        let p = decode_tok_per_s(&mut plain);
        let c = decode_tok_per_s(&mut cpu);
        let pp = prefill_tok_per_s(&mut graphs, 512);
        let stats = graphs.ops().graph_stats();
        println!(
            "DECODE {stem:<22} cuda+graphs {g:>8.0} tok/s | cuda plain {p:>8.0} tok/s | cpu {c:>8.0} tok/s | cuda prefill(512) {pp:>8.0} tok/s | graphs {} captured {} replayed",
            stats.captures, stats.replays
        );
        reported += 1;
    }
    println!("DEVICE {device}");
    assert_eq!(reported, 3);
}
