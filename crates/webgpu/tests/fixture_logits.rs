//! Whole-model runs on the wgpu backend against the fixtures' float64 reference (and the cpu backend
//! on float files):
//! every fixture model and quant type, every position; greedy decoding identical on F32; chunked
//! prefill, serial decode and state save/restore agree.

mod common;

use std::sync::Arc;

use cpu::CpuBackend;
use gguf::GgufFile;
use model::{LogitsMode, Model, Rwkv7Runner};
use webgpu::{WebGpuBackend, WebGpuOptions};




fn open(stem: &str) -> Option<(Arc<GgufFile>, serde_json::Value)> {
    let path = testkit::fixture(&format!("{stem}.gguf"))?;
    let json = testkit::fixture_json(&format!("{stem}.json"))?;
    Some((Arc::new(GgufFile::open(&path).expect("open fixture")), json))
}

fn gpu_runner(file: &Arc<GgufFile>, subgroups: bool, chunk: usize) -> Option<Rwkv7Runner<WebGpuBackend>> {
    common::backend(subgroups)?;
    let backend = WebGpuBackend::new(&WebGpuOptions { adapter: std::env::var("AVIARY_WGPU_ADAPTER").ok(), subgroups, ..Default::default() }).ok()?;
    let mut runner = Rwkv7Runner::load(file.clone(), backend).expect("load fixture on wgpu");
    runner.set_chunk_size(chunk);
    Some(runner)
}

fn cpu_runner(file: &Arc<GgufFile>, chunk: usize) -> Rwkv7Runner<CpuBackend> {
    let mut runner = Rwkv7Runner::load(file.clone(), CpuBackend::new(2).expect("pool")).expect("load fixture on cpu");
    runner.set_chunk_size(chunk);
    runner
}

fn all_logits(model: &mut dyn Model, toks: &[u32]) -> Vec<Vec<f32>> {
    let s = model.new_state().unwrap();
    model.forward(s, toks, LogitsMode::All).unwrap()
}


#[test]
fn logits_match_cpu_and_reference_on_every_fixture() {
    let mut checked = 0;
    for (i, stem) in testkit::MODEL_FIXTURES.iter().enumerate() {
        let Some((file, json)) = open(stem) else { return };
        // Alternate the reduction path across fixtures so both see every kind of model.
        let subgroups = i % 2 == 0;
        let Some(mut gpu) = gpu_runner(&file, subgroups, 7) else { return };
        let toks = testkit::json_tokens(&json);
        let reference = testkit::json_logit_rows(&json["reference_f64"]["logits"]);
        let got = all_logits(&mut gpu, &toks);
        let cpu = all_logits(&mut cpu_runner(&file, 7), &toks);
        let vs_cpu = testkit::max_abs_diff_rows(&got, &cpu);
        let vs_ref = testkit::max_abs_diff_rows(&got, &reference);
        let f32_model = stem.ends_with("F32");
        eprintln!("{stem:<24} subgroups={subgroups:<5} max|wgpu - cpu| = {vs_cpu:.2e}  max|wgpu - reference_f64| = {vs_ref:.2e}");
        assert!(vs_ref <= 1e-3, "{stem}: wgpu vs reference_f64 differs by {vs_ref}");
        // The cpu backend quantizes activations for quantized matmuls (llama.cpp's way), so on
        // quantized files only the float64 reference is the yardstick; on float files both are.
        let float_model = stem.ends_with("F32") || stem.ends_with("F16");
        if float_model {
            assert!(vs_cpu <= 1e-3, "{stem}: wgpu vs cpu differs by {vs_cpu}");
        }
        if f32_model {
            for (pos, (g, c)) in got.iter().zip(&cpu).enumerate() {
                assert_eq!(testkit::argmax(g), testkit::argmax(c), "{stem}: top-1 differs from cpu at position {pos}");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, testkit::MODEL_FIXTURES.len());
}

/// `n` greedy tokens after `prompt`, fed one token per step (the decode path).
fn greedy(model: &mut dyn Model, prompt: &[u32], n: usize) -> Vec<u32> {
    model::greedy_tokens(model, prompt, n).expect("greedy decode")
}

#[test]
fn greedy_tokens_identical_to_cpu_on_f32() {
    for stem in ["tiny-rwkv7-834K-F32", "synth-tiny-k-F32"] {
        let Some((file, json)) = open(stem) else { return };
        let Some(mut gpu) = gpu_runner(&file, true, 16) else { return };
        let prompt = &testkit::json_tokens(&json)[..8];
        let expected = greedy(&mut cpu_runner(&file, 16), prompt, 24);
        let got = greedy(&mut gpu, prompt, 24);
        assert_eq!(got, expected, "{stem}: greedy tokens differ");
    }
}

#[test]
fn serial_chunked_and_restored_runs_agree() {
    let Some((file, json)) = open("synth-tiny-k-Q4_K_M") else { return };
    let Some(mut gpu) = gpu_runner(&file, true, 5) else { return };
    let toks = testkit::json_tokens(&json);
    let whole = gpu.new_state().unwrap();
    let chunked = gpu.forward(whole, &toks, LogitsMode::All).unwrap();
    let serial_state = gpu.new_state().unwrap();
    let serial: Vec<Vec<f32>> =
        toks.iter().map(|&t| gpu.forward(serial_state, &[t], LogitsMode::Last).unwrap().remove(0)).collect();
    let diff = testkit::max_abs_diff_rows(&chunked, &serial);
    assert!(diff <= 1e-4, "serial and chunked differ by {diff}");

    let (head, tail) = toks.split_at(13);
    let first = gpu.new_state().unwrap();
    gpu.forward(first, head, LogitsMode::None).unwrap();
    let saved = gpu.save_state(first).unwrap();
    gpu.forward(first, &[1, 2, 3], LogitsMode::None).unwrap();
    let second = gpu.new_state().unwrap();
    gpu.load_state(second, &saved).unwrap();
    let resumed = gpu.forward(second, tail, LogitsMode::All).unwrap();
    let diff = testkit::max_abs_diff_rows(&resumed, &chunked[head.len()..]);
    assert!(diff <= 1e-4, "restored run differs from the uninterrupted one by {diff}");
    gpu.reset_state(first).unwrap();
    let again = gpu.forward(first, &toks, LogitsMode::All).unwrap();
    assert!(testkit::max_abs_diff_rows(&again, &chunked) <= 1e-4, "reset state does not start fresh");
}
