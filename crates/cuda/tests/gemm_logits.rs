//! Whole-model logits with every multi-token matmul on cuBLAS (`gemm_min_tokens=1`, src/gemm.rs),
//! chunk size 7, in both GEMM modes:
//! - the default (block formats: one f16 GEMM, f16-rounded weights and activations; F16/BF16
//!   weights in place with activations in two parts, see `Tuning::gemm_float_x_parts`): the project's accuracy
//!   standard (tests/accuracy: vs the fixtures' float64 reference as close as llama.cpp, same top-1
//!   token everywhere; F32 files, which run exact f32 GEMMs, within 1e-4), and serial decoding vs
//!   the chunked run within twice that bound (both are within it of the reference);
//! - exact (`gemm=exact`: hi + lo parts, f32-level products): the old tight bounds (1e-3 of the
//!   reference, serial vs chunked 1e-4), so the exact path stays proven.
//! And batched decode steps (cuBLAS inside captured graphs) against stepping each sequence alone on
//! the cpu backend. Without a GPU, or without libcublas (unless `AVIARY_REQUIRE_CUBLAS` is set),
//! every test prints why it skips and passes.

mod accuracy;
mod common;

use std::sync::Arc;

use cpu::CpuBackend;
use cuda::{CudaBackend, Tuning};
use gguf::GgufFile;
use model::{LogitsMode, Model, Rwkv7Runner};

/// A backend with cuBLAS from one token on, or `None` (said loudly) without a GPU or cuBLAS.
fn cublas_backend(exact: bool) -> Option<CudaBackend> {
    let mut b = common::backend()?;
    if !b.cublas_available() {
        if std::env::var_os("AVIARY_REQUIRE_CUBLAS").is_some() {
            panic!("AVIARY_REQUIRE_CUBLAS is set but libcublas could not be loaded");
        }
        eprintln!("\n!!! SKIPPED: libcublas not loadable\n");
        return None;
    }
    let mut t = Tuning { gemm_min_tokens: 1, ..Default::default() };
    if exact {
        t.apply("gemm=exact").expect("tuning");
    }
    b.set_tuning(t);
    Some(b)
}

#[test]
fn logits_match_cpu_with_cublas_matmuls() {
    if cublas_backend(false).is_none() {
        return;
    }
    let mut checked = 0;
    for exact in [false, true] {
        let mode = if exact { "exact" } else { "fast" };
        for stem in testkit::MODEL_FIXTURES {
            let Some(path) = testkit::fixture(&format!("{stem}.gguf")) else { return };
            let Some(json) = testkit::fixture_json(&format!("{stem}.json")) else { return };
            let file = Arc::new(GgufFile::open(&path).expect("open fixture"));
            let toks = testkit::json_tokens(&json);
            let reference = testkit::json_logit_rows(&json["reference_f64"]["logits"]);

            let mut cpu = Rwkv7Runner::load(file.clone(), CpuBackend::new(2).unwrap()).unwrap();
            let mut gpu = Rwkv7Runner::load(file, cublas_backend(exact).unwrap()).unwrap();
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
                "{stem:<24} cublas {mode} ({calls} GEMMs): cuda vs cpu {vs_cpu:.2e}  vs reference_f64 {vs_ref:.2e}  serial vs chunked {serial_vs_chunked:.2e}"
            );
            assert!(calls > 0, "{stem}: the chunked run made no cuBLAS calls");
            assert!(got.iter().flatten().all(|v| v.is_finite()), "{stem}: non-finite logits");
            let f32_file = stem.ends_with("F32");
            if exact || f32_file {
                // Exact products (F32 files always): the tight bounds of two f32-level computations.
                if f32_file || stem.ends_with("F16") {
                    assert!(vs_cpu <= 1e-3, "{stem} {mode}: cuda vs cpu max abs diff {vs_cpu} > 1e-3");
                }
                let ref_tol = if f32_file { 1e-4 } else { 1e-3 };
                assert!(vs_ref <= ref_tol, "{stem} {mode}: cuda vs reference_f64 max abs diff {vs_ref} > {ref_tol}");
                assert!(serial_vs_chunked <= 1e-4, "{stem} {mode}: serial vs chunked {serial_vs_chunked}");
            }
            if !exact {
                let bound = accuracy::reference_bound(stem, &json);
                accuracy::assert_meets_reference(&format!("{stem} cublas fast, chunked"), &got, &reference, bound);
                accuracy::assert_meets_reference(&format!("{stem} cublas fast, serial"), &serial, &reference, bound);
                assert!(serial_vs_chunked <= 2.0 * bound, "{stem}: serial vs chunked {serial_vs_chunked} > 2 x {bound}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 2 * testkit::MODEL_FIXTURES.len());
}

#[test]
fn batched_decode_with_cublas_matches_single_steps() {
    if cublas_backend(false).is_none() {
        return;
    }
    for stem in ["synth-tiny-k-Q4_K_M", "synth-tiny-k-F16"] {
        let Some(path) = testkit::fixture(&format!("{stem}.gguf")) else { return };
        let file = Arc::new(GgufFile::open(&path).expect("open fixture"));
        let Some(json) = testkit::fixture_json(&format!("{stem}.json")) else { return };
        // cuBLAS fast (f16) batched steps vs the cpu's own rounding: each within the standard's
        // bound of exact arithmetic, so within twice it of each other.
        let bound = 2.0 * accuracy::reference_bound(stem, &json);
        let mut gpu = Rwkv7Runner::load(file.clone(), cublas_backend(false).unwrap()).unwrap();
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
                accuracy::assert_same_top(&format!("{stem}: step {step}"), row, &alone, bound);
            }
        }
        let stats = gpu.ops().graph_stats();
        eprintln!("{stem}: batched decode on cuBLAS: max |cuda - cpu| = {worst:.3e}; graphs {stats:?}");
        assert!(gpu.ops().cublas_calls() > before, "{stem}: batched steps made no cuBLAS calls");
        assert!(stats.replays > 0, "{stem}: batched steps were never replayed from a graph");
        assert!(worst <= bound, "{stem}: batched cuda decode differs from cpu by {worst:.3e} (bound {bound:.3e})");
    }
}
