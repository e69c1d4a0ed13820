//! Whole-model runs of rwkv.cpp's tiny RWKV-4, 5.1, 5.2 and 6 models (legacy files, spec §7) on the
//! wgpu backend against the cpu backend: logits over the fixtures' 25-token prompt, serial (chunk 1)
//! against chunked prefill on wgpu, and greedy decoding; and against the float64 numpy reference
//! the cpu crate keeps for these files (`crates/cpu/tests/data/legacy-reference-logits.json`).

mod common;

use std::sync::Arc;

use cpu::CpuBackend;
use gguf::GgufFile;
use model::legacy::{self, LegacyFile, LegacyOptions};
use model::{Architecture, LogitsMode, Model, Runner};
use webgpu::WebGpuBackend;

/// The 25 bytes of `"in the year 2025, RWKV-7` (the fixtures' token sequence; id = byte).
const TEXT: &[u8] = b"\"in the year 2025, RWKV-7";

/// The legacy fixtures, their architecture, and whether their matrices are F32.
const MODELS: [(&str, Architecture, bool); 4] = [
    ("tiny-rwkv-4v0-660K-FP32.bin", Architecture::Rwkv4, true),
    ("tiny-rwkv-5v1-730K-FP32.bin", Architecture::Rwkv5, true),
    ("tiny-rwkv-5v2-730K-FP32.bin", Architecture::Rwkv5, true),
    ("tiny-rwkv-6v0-3m-Q5_1.bin", Architecture::Rwkv6, false),
];

/// The legacy file mapped to GGUF in memory, as the runner loads it; `None` when the fixture is
/// missing (testkit skips loudly, or fails under CI).
fn open(name: &str) -> Option<Arc<GgufFile>> {
    let path = testkit::fixture(name)?;
    let f = LegacyFile::open(&path).expect("open legacy file");
    let gguf = legacy::to_gguf(&f, &LegacyOptions::default()).expect("map to GGUF");
    Some(Arc::new(GgufFile::from_bytes(gguf.to_bytes()).expect("valid GGUF")))
}

fn gpu_runner(file: &Arc<GgufFile>, subgroups: bool, chunk: usize) -> Option<Runner<WebGpuBackend>> {
    let backend = common::backend(subgroups)?;
    let mut runner = Runner::load(file.clone(), backend).expect("load legacy model on wgpu");
    runner.set_chunk_size(chunk);
    Some(runner)
}

fn cpu_runner(file: &Arc<GgufFile>, chunk: usize) -> Runner<CpuBackend> {
    let mut runner = Runner::load(file.clone(), CpuBackend::new(2).expect("pool")).expect("load legacy model on cpu");
    runner.set_chunk_size(chunk);
    runner
}

fn all_logits(model: &mut dyn Model, toks: &[u32]) -> Vec<Vec<f32>> {
    let s = model.new_state().unwrap();
    model.forward(s, toks, LogitsMode::All).unwrap()
}

/// The numpy float64 reference: its tokens, the positions it covers and, per model file, the logits
/// there.
fn numpy_reference() -> (Vec<u32>, Vec<usize>, serde_json::Value) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../cpu/tests/data/legacy-reference-logits.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"));
    let positions = json["positions"].as_array().expect("positions").iter().map(|p| p.as_u64().expect("position") as usize).collect();
    (testkit::json_tokens(&json), positions, json["models"].clone())
}

/// `n` greedy tokens after `prompt`, fed one token per step (the decode path).
fn greedy(model: &mut dyn Model, prompt: &[u32], n: usize) -> Vec<u32> {
    model::greedy_tokens(model, prompt, n).expect("greedy decode")
}

#[test]
fn legacy_models_match_cpu_serial_chunked_and_greedy() {
    let toks: Vec<u32> = TEXT.iter().map(|&b| b as u32).collect();
    let (ref_tokens, positions, reference) = numpy_reference();
    assert_eq!(ref_tokens, toks, "the reference's token sequence");
    let mut checked = 0;
    for (i, (name, arch, f32_model)) in MODELS.into_iter().enumerate() {
        let Some(file) = open(name) else { return };
        // Alternate the reduction path across models so both run the older architectures.
        let subgroups = i % 2 == 0;
        // Chunks of 16 then 9 tokens: the tiled prefill matmul and the generic one.
        let Some(mut chunked) = gpu_runner(&file, subgroups, 16) else { return };
        assert_eq!(chunked.info().architecture, arch.name(), "{name}");
        let got = all_logits(&mut chunked, &toks);
        let cpu = all_logits(&mut cpu_runner(&file, 16), &toks);
        let vs_cpu = testkit::max_abs_diff_rows(&got, &cpu);
        let ref_rows = testkit::json_logit_rows(&reference[name]["logits"]);
        assert_eq!(ref_rows.len(), positions.len(), "{name}: reference rows");
        let picked: Vec<Vec<f32>> = positions.iter().map(|&p| got[p].clone()).collect();
        let vs_ref = testkit::max_abs_diff_rows(&picked, &ref_rows);

        let Some(mut serial) = gpu_runner(&file, subgroups, 1) else { return };
        let serial_logits = all_logits(&mut serial, &toks);
        let vs_serial = testkit::max_abs_diff_rows(&got, &serial_logits);
        eprintln!("{name:<30} subgroups={subgroups:<5} max|wgpu - cpu| = {vs_cpu:.2e}  max|wgpu - numpy f64| = {vs_ref:.2e}  max|chunked - serial| = {vs_serial:.2e}");
        assert!(got.iter().flatten().all(|x| x.is_finite()), "{name}: non-finite logits on wgpu");
        assert!(vs_serial <= 1e-4, "{name}: wgpu serial and chunked prefill differ by {vs_serial}");
        // wgpu multiplies dequantized weights by f32 activations, so even the Q5_1 file lands near
        // the float64 reference (the bound fixture_logits.rs puts on every GGUF fixture). The cpu
        // backend quantizes activations for quantized matmuls (llama.cpp's way): on Q5_1 it gets the
        // cpu crate's own bound against this reference; on F32 files both backends agree closely.
        assert!(vs_ref <= 1e-3, "{name}: wgpu vs numpy float64 reference differs by {vs_ref}");
        let tol = if f32_model { 1e-3 } else { 5e-2 };
        assert!(vs_cpu <= tol, "{name}: wgpu vs cpu differs by {vs_cpu} (tolerance {tol})");
        for (pos, (g, c)) in got.iter().zip(&cpu).enumerate() {
            assert_eq!(testkit::argmax(g), testkit::argmax(c), "{name}: top-1 differs from cpu at position {pos}");
        }

        let prompt = &toks[..8];
        let expected = greedy(&mut cpu_runner(&file, 16), prompt, 16);
        assert_eq!(greedy(&mut serial, prompt, 16), expected, "{name}: greedy tokens differ from cpu");

        // A steady decode step makes no GPU objects: every bind group comes from the cache.
        let s = serial.new_state().unwrap();
        for &tok in &toks[..2] {
            serial.forward(s, &[tok], LogitsMode::Last).unwrap();
        }
        let before = serial.ops().counters().bind_groups_created;
        for &tok in &toks[2..5] {
            serial.forward(s, &[tok], LogitsMode::Last).unwrap();
        }
        assert_eq!(serial.ops().counters().bind_groups_created, before, "{name}: decode steps created bind groups");
        checked += 1;
    }
    assert_eq!(checked, MODELS.len());
}
