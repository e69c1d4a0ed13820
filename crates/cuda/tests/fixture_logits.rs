//! Whole-model logits on the CUDA backend against the cpu backend (and the fixtures' float64
//! reference) on every fixture model and quant type; identical greedy tokens. Without a GPU every
//! test prints "SKIPPED: no CUDA device" and passes.

mod common;

use std::sync::Arc;

use cpu::CpuBackend;
use cuda::CudaBackend;
use gguf::GgufFile;
use model::{LogitsMode, Model, Rwkv7Runner};





/// `n` greedy tokens after `prompt`, fed one token per step (the decode path).
fn greedy(model: &mut dyn Model, prompt: &[u32], n: usize) -> Vec<u32> {
    model::greedy_tokens(model, prompt, n).expect("greedy decode")
}

#[test]
fn logits_match_cpu_on_every_fixture() {
    let Some(probe) = common::backend() else { return };
    drop(probe);
    let mut checked = 0;
    for stem in testkit::MODEL_FIXTURES {
        let Some(path) = testkit::fixture(&format!("{stem}.gguf")) else { return };
        let Some(json) = testkit::fixture_json(&format!("{stem}.json")) else { return };
        let file = Arc::new(GgufFile::open(&path).expect("open fixture"));
        let toks = testkit::json_tokens(&json);
        let reference = testkit::json_logit_rows(&json["reference_f64"]["logits"]);

        let mut cpu = Rwkv7Runner::load(file.clone(), CpuBackend::new(2).unwrap()).unwrap();
        let mut gpu = Rwkv7Runner::load(file, CudaBackend::new(0).unwrap()).unwrap();
        // A chunk size that does not divide the sequences: prefill tiles and chunk boundaries.
        cpu.set_chunk_size(7);
        gpu.set_chunk_size(7);
        let (cs, gs) = (cpu.new_state().unwrap(), gpu.new_state().unwrap());
        let want = cpu.forward(cs, &toks, LogitsMode::All).unwrap();
        let got = gpu.forward(gs, &toks, LogitsMode::All).unwrap();
        let vs_cpu = testkit::max_abs_diff_rows(&got, &want);
        let vs_ref = testkit::max_abs_diff_rows(&got, &reference);

        // Token by token (graph capture, then replays) must agree with the chunked run.
        let serial_state = gpu.new_state().unwrap();
        let serial: Vec<Vec<f32>> =
            toks.iter().map(|&t| gpu.forward(serial_state, &[t], LogitsMode::Last).unwrap().remove(0)).collect();
        let serial_vs_chunked = testkit::max_abs_diff_rows(&serial, &got);
        let stats = gpu.ops().graph_stats();
        eprintln!(
            "{stem:<24} cuda vs cpu {vs_cpu:.2e}  vs reference_f64 {vs_ref:.2e}  serial vs chunked {serial_vs_chunked:.2e}  graphs: {} captured, {} replayed",
            stats.captures, stats.replays
        );
        assert!(got.iter().flatten().all(|v| v.is_finite()), "{stem}: non-finite logits");
        // The cpu backend quantizes activations for quantized matmuls (llama.cpp's way), so on
        // quantized files the float64 reference is the yardstick; on float files the cpu is too.
        if stem.ends_with("F32") || stem.ends_with("F16") {
            assert!(vs_cpu <= 1e-3, "{stem}: cuda vs cpu max abs diff {vs_cpu} > 1e-3");
        }
        let ref_tol = if stem.ends_with("F32") { 1e-4 } else { 1e-3 };
        assert!(vs_ref <= ref_tol, "{stem}: cuda vs reference_f64 max abs diff {vs_ref} > {ref_tol}");
        assert!(serial_vs_chunked <= 1e-4, "{stem}: serial vs chunked {serial_vs_chunked}");
        assert!(stats.replays > 0, "{stem}: decode steps were never replayed from a graph");
        checked += 1;
    }
    assert_eq!(checked, testkit::MODEL_FIXTURES.len());
}

#[test]
fn greedy_tokens_equal_cpu() {
    let Some(probe) = common::backend() else { return };
    drop(probe);
    let mut checked = 0;
    for stem in testkit::MODEL_FIXTURES {
        let Some(path) = testkit::fixture(&format!("{stem}.gguf")) else { return };
        let Some(json) = testkit::fixture_json(&format!("{stem}.json")) else { return };
        let file = Arc::new(GgufFile::open(&path).expect("open fixture"));
        let prompt: Vec<u32> = testkit::json_tokens(&json).into_iter().take(8).collect();
        let mut cpu = Rwkv7Runner::load(file.clone(), CpuBackend::new(2).unwrap()).unwrap();
        let mut gpu = Rwkv7Runner::load(file, CudaBackend::new(0).unwrap()).unwrap();
        let want = greedy(&mut cpu, &prompt, 32);
        let got = greedy(&mut gpu, &prompt, 32);
        let same = got.iter().zip(&want).take_while(|(a, b)| a == b).count();
        eprintln!("{stem:<24} greedy: {same}/32 tokens equal");
        if stem.ends_with("F32") {
            assert_eq!(got, want, "{stem}: greedy tokens differ from the cpu backend's");
        }
        checked += 1;
    }
    assert_eq!(checked, testkit::MODEL_FIXTURES.len());
}

#[test]
fn state_save_restore_round_trips() {
    let Some(probe) = common::backend() else { return };
    drop(probe);
    let Some(path) = testkit::fixture("synth-tiny-k-Q4_K_M.gguf") else { return };
    let Some(json) = testkit::fixture_json("synth-tiny-k-Q4_K_M.json") else { return };
    let toks = testkit::json_tokens(&json);
    let (head, tail) = toks.split_at(13);
    let mut gpu = Rwkv7Runner::load(Arc::new(GgufFile::open(&path).unwrap()), CudaBackend::new(0).unwrap()).unwrap();
    gpu.set_chunk_size(5);
    let straight = gpu.new_state().unwrap();
    let expected = gpu.forward(straight, &toks, LogitsMode::All).unwrap();
    let first = gpu.new_state().unwrap();
    gpu.forward(first, head, LogitsMode::None).unwrap();
    let saved = gpu.save_state(first).unwrap();
    gpu.forward(first, &[1, 2, 3], LogitsMode::None).unwrap();
    let second = gpu.new_state().unwrap();
    gpu.load_state(second, &saved).unwrap();
    let resumed = gpu.forward(second, tail, LogitsMode::All).unwrap();
    // Chunk boundaries differ between the two runs, so allow for rounding (the state itself is exact).
    let diff = testkit::max_abs_diff_rows(&resumed, &expected[head.len()..]);
    assert!(diff <= 1e-5, "restored run differs from the uninterrupted one by {diff}");
}
