//! Not a check but a measurement tool for the device run (device-gemm.sh): the per-kernel GPU time
//! of one batched decode step (`Model::decode_batch`, 256 sequences by default) of the model at
//! `AVIARY_PROFILE_MODEL`. Without that variable, or without a GPU, it says so and passes.

mod common;

use std::sync::Arc;

use cuda::CudaBackend;
use gguf::GgufFile;
use model::{LogitsMode, Model, Rwkv7Runner};

#[test]
fn profile_batched_decode_step() {
    let Some(path) = std::env::var_os("AVIARY_PROFILE_MODEL") else {
        eprintln!("\n!!! SKIPPED: set AVIARY_PROFILE_MODEL=<gguf> to profile a batched decode step\n");
        return;
    };
    let Some(probe) = common::backend() else { return };
    drop(probe);
    let seqs: usize = std::env::var("AVIARY_PROFILE_SEQS").ok().and_then(|s| s.parse().ok()).unwrap_or(256);
    let file = Arc::new(GgufFile::open(std::path::Path::new(&path)).expect("open model"));
    let mut backend = CudaBackend::new(0).expect("cuda");
    let profiler = backend.start_profiling();
    let mut model = Rwkv7Runner::load(file, backend).expect("load");
    let n_vocab = model.info().hparams.n_vocab as u32;
    let ids: Vec<_> = (0..seqs)
        .map(|i| {
            let s = model.new_state().expect("state");
            model.forward(s, &[(i as u32 * 7919) % n_vocab], LogitsMode::None).expect("prompt");
            s
        })
        .collect();
    let step_tokens = |step: usize| -> Vec<u32> { (0..seqs).map(|i| ((i + 31 * step) as u32 * 104_729) % n_vocab).collect() };
    // One step to warm up (allocations, cuBLAS heuristics), then the measured steps.
    model.decode_batch(&ids, &step_tokens(0)).expect("warm-up step");
    profiler.take().expect("profile");
    let steps = 4;
    let start = std::time::Instant::now();
    for step in 1..=steps {
        model.decode_batch(&ids, &step_tokens(step)).expect("batched step");
    }
    let wall = start.elapsed().as_secs_f64() / steps as f64;
    let times = profiler.take().expect("profile");
    assert!(!times.is_empty(), "the profiler recorded no kernels");
    let total: f64 = times.iter().map(|k| k.ms).sum::<f64>() / steps as f64;
    println!(
        "\n== batched decode step, {seqs} sequences (wall {:.2} ms/step while profiling, {:.0} tok/s): GPU {total:.3} ms",
        wall * 1e3,
        seqs as f64 / wall
    );
    for k in &times {
        println!(
            "PROFILE {:<24} {:>6.1} calls {:>9.1} us {:>5.1}%",
            k.name,
            k.calls as f64 / steps as f64,
            1e3 * k.ms / steps as f64,
            100.0 * k.ms / steps as f64 / total.max(1e-12)
        );
    }
}
