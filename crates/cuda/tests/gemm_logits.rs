//! Whole-model logits with every multi-token matmul on cuBLAS (`gemm_min_tokens=1`, src/gemm.rs):
//! fixture_logits.rs's checks and tolerances (chunk size 7, against the cpu backend, the fixtures'
//! float64 reference and token-by-token decoding), and batched decode steps (cuBLAS inside captured
//! graphs) against stepping each sequence alone. Without a GPU, or without libcublas (unless
//! `AVIARY_REQUIRE_CUBLAS` is set), every test prints why it skips and passes.

mod common;

use std::sync::Arc;

use cpu::CpuBackend;
use cuda::{CudaBackend, Tuning};
use gguf::GgufFile;
use model::{LogitsMode, Model, Rwkv7Runner};

/// A backend with cuBLAS from one token on, or `None` (said loudly) without a GPU or cuBLAS.
fn cublas_backend() -> Option<CudaBackend> {
    let mut b = common::backend()?;
    if !b.cublas_available() {
        if std::env::var_os("AVIARY_REQUIRE_CUBLAS").is_some() {
            panic!("AVIARY_REQUIRE_CUBLAS is set but libcublas could not be loaded");
        }
        eprintln!("\n!!! SKIPPED: libcublas not loadable\n");
        return None;
    }
    b.set_tuning(Tuning { gemm_min_tokens: 1, ..Default::default() });
    Some(b)
}

#[test]
fn logits_match_cpu_with_cublas_matmuls() {
    if cublas_backend().is_none() {
        return;
    }
    let mut checked = 0;
    for stem in testkit::MODEL_FIXTURES {
        let Some(path) = testkit::fixture(&format!("{stem}.gguf")) else { return };
        let Some(json) = testkit::fixture_json(&format!("{stem}.json")) else { return };
        let file = Arc::new(GgufFile::open(&path).expect("open fixture"));
        let toks = testkit::json_tokens(&json);
        let reference = testkit::json_logit_rows(&json["reference_f64"]["logits"]);

        let mut cpu = Rwkv7Runner::load(file.clone(), CpuBackend::new(2).unwrap()).unwrap();
        let mut gpu = Rwkv7Runner::load(file, cublas_backend().unwrap()).unwrap();
        cpu.set_chunk_size(7);
        gpu.set_chunk_size(7);
        let (cs, gs) = (cpu.new_state().unwrap(), gpu.new_state().unwrap());
        let want = cpu.forward(cs, &toks, LogitsMode::All).unwrap();
        let before = gpu.ops().cublas_calls();
        let got = gpu.forward(gs, &toks, LogitsMode::All).unwrap();
        let calls = gpu.ops().cublas_calls() - before;
        let vs_cpu = testkit::max_abs_diff_rows(&got, &want);
        let vs_ref = testkit::max_abs_diff_rows(&got, &reference);
        let serial_state = gpu.new_state().unwrap();
        let serial: Vec<Vec<f32>> =
            toks.iter().map(|&t| gpu.forward(serial_state, &[t], LogitsMode::Last).unwrap().remove(0)).collect();
        let serial_vs_chunked = testkit::max_abs_diff_rows(&serial, &got);
        eprintln!(
            "{stem:<24} cublas ({calls} GEMMs): cuda vs cpu {vs_cpu:.2e}  vs reference_f64 {vs_ref:.2e}  serial vs chunked {serial_vs_chunked:.2e}"
        );
        assert!(calls > 0, "{stem}: the chunked run made no cuBLAS calls");
        assert!(got.iter().flatten().all(|v| v.is_finite()), "{stem}: non-finite logits");
        if stem.ends_with("F32") || stem.ends_with("F16") {
            assert!(vs_cpu <= 1e-3, "{stem}: cuda vs cpu max abs diff {vs_cpu} > 1e-3");
        }
        let ref_tol = if stem.ends_with("F32") { 1e-4 } else { 1e-3 };
        assert!(vs_ref <= ref_tol, "{stem}: cuda vs reference_f64 max abs diff {vs_ref} > {ref_tol}");
        assert!(serial_vs_chunked <= 1e-4, "{stem}: serial vs chunked {serial_vs_chunked}");
        checked += 1;
    }
    assert_eq!(checked, testkit::MODEL_FIXTURES.len());
}

#[test]
fn batched_decode_with_cublas_matches_single_steps() {
    if cublas_backend().is_none() {
        return;
    }
    for stem in ["synth-tiny-k-Q4_K_M", "synth-tiny-k-F16"] {
        let Some(path) = testkit::fixture(&format!("{stem}.gguf")) else { return };
        let file = Arc::new(GgufFile::open(&path).expect("open fixture"));
        let mut gpu = Rwkv7Runner::load(file.clone(), cublas_backend().unwrap()).unwrap();
        let mut cpu = Rwkv7Runner::load(file, CpuBackend::new(2).unwrap()).unwrap();
        let n_vocab = gpu.info().hparams.n_vocab as u64;
        let mut rng = testkit::TestRng::new(59);
        let mut pairs = Vec::new();
        for i in 0..5 {
            let prompt: Vec<u32> = (0..2 + i).map(|_| (rng.next_u64() % n_vocab) as u32).collect();
            let (g, c) = (gpu.new_state().unwrap(), cpu.new_state().unwrap());
            gpu.forward(g, &prompt, LogitsMode::None).unwrap();
            cpu.forward(c, &prompt, LogitsMode::None).unwrap();
            pairs.push((g, c));
        }
        let before = gpu.ops().cublas_calls();
        let mut worst = 0f32;
        for step in 0..4 {
            let tokens: Vec<u32> = pairs.iter().map(|_| (rng.next_u64() % n_vocab) as u32).collect();
            let ids: Vec<_> = pairs.iter().map(|p| p.0).collect();
            let rows = gpu.decode_batch(&ids, &tokens).unwrap();
            for ((row, &(_, c)), &t) in rows.iter().zip(&pairs).zip(&tokens) {
                let alone = cpu.forward(c, &[t], LogitsMode::Last).unwrap().remove(0);
                worst = worst.max(testkit::max_abs_diff(row, &alone));
                assert_eq!(testkit::argmax(row), testkit::argmax(&alone), "{stem}: step {step}: top tokens differ");
            }
        }
        let stats = gpu.ops().graph_stats();
        eprintln!("{stem}: batched decode on cuBLAS: max |cuda - cpu| = {worst:.3e}; graphs {stats:?}");
        assert!(gpu.ops().cublas_calls() > before, "{stem}: batched steps made no cuBLAS calls");
        assert!(stats.replays > 0, "{stem}: batched steps were never replayed from a graph");
        assert!(worst <= 2e-3, "{stem}: batched cuda decode differs from cpu by {worst:.3e}");
    }
}
