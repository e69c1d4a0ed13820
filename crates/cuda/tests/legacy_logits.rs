//! Whole models of RWKV-4, 5 and 6 on the CUDA backend: the trained tiny rwkv.cpp models in
//! ../shared/fixtures (legacy files, read through `model::legacy`) give the cpu backend's logits,
//! serial decoding equals chunked prefill, and greedy tokens agree. Without a GPU every test prints
//! "SKIPPED: no CUDA device" and passes.
//!
//! The cpu backend quantizes activations for quantized matmuls (llama.cpp's way) and the cuda backend
//! does not, so the Q5_1 model is held to the cpu running a twin of it with every tensor dequantized
//! to F32 (the same weights, f32 activations), and to the Q5_1 cpu run only loosely.

mod common;

use std::sync::Arc;

use cpu::CpuBackend;
use cuda::CudaBackend;
use gguf::{GgmlType, GgufFile, GgufWriter};
use model::legacy::{self, LegacyFile, LegacyOptions};
use model::{Architecture, LogitsMode, Model, Runner};

/// The legacy fixtures, each with its architecture and whether its matrices are quantized.
const MODELS: [(&str, Architecture, bool); 4] = [
    ("tiny-rwkv-4v0-660K-FP32.bin", Architecture::Rwkv4, false),
    ("tiny-rwkv-5v1-730K-FP32.bin", Architecture::Rwkv5, false),
    ("tiny-rwkv-5v2-730K-FP32.bin", Architecture::Rwkv5, false),
    ("tiny-rwkv-6v0-3m-Q5_1.bin", Architecture::Rwkv6, true),
];

/// Byte-level models: token id = byte.
const TEXT: &[u8] = b"\"in the year 2025, RWKV-7 \"Goose\" flew over every bird of the lake.";

/// cuda vs cpu (F32 weights, f32 activations on both sides).
const FLOAT_TOL: f32 = 1e-3;
/// cuda vs cpu on a quantized file: the cpu's Q8_1 activations alone move this model's logits by
/// 5.2e-3 (its Q5_1 vs F32-twin difference on the cpu); ten times that as headroom.
const QUANT_VS_CPU_TOL: f32 = 5e-2;

fn gguf_of_legacy(name: &str) -> Option<Arc<GgufFile>> {
    let path = testkit::fixture(name)?;
    let f = LegacyFile::open(&path).expect("open legacy file");
    let gguf = legacy::to_gguf(&f, &LegacyOptions::default()).expect("map to GGUF");
    Some(Arc::new(GgufFile::from_bytes(gguf.to_bytes()).expect("valid GGUF")))
}

/// The same model with every tensor stored as F32 (quantized ones dequantized).
fn dequantized_twin(file: &GgufFile) -> Arc<GgufFile> {
    let mut w = GgufWriter::new();
    w.set_alignment(file.alignment());
    for (key, value) in file.metadata() {
        if key != "general.alignment" {
            w.add_kv(key.clone(), value.clone());
        }
    }
    for t in file.tensors() {
        let mut values = vec![0f32; t.n_elements() as usize];
        quant::dequantize_row(t.ty, file.tensor_data(t), &mut values).expect("dequantize");
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        w.add_tensor(t.name.clone(), &t.dims, GgmlType::F32, bytes).expect("add tensor");
    }
    Arc::new(GgufFile::from_bytes(w.to_bytes()).expect("valid GGUF"))
}

fn tokens() -> Vec<u32> {
    TEXT.iter().map(|&b| b as u32).collect()
}

fn logits_all(runner: &mut dyn Model, toks: &[u32]) -> Vec<Vec<f32>> {
    let s = runner.new_state().unwrap();
    runner.forward(s, toks, LogitsMode::All).unwrap()
}

/// `n` greedy tokens after `prompt`, fed one token per step (the decode path).
fn greedy(model: &mut dyn Model, prompt: &[u32], n: usize) -> Vec<u32> {
    model::greedy_tokens(model, prompt, n).expect("greedy decode")
}

#[test]
fn legacy_models_match_cpu_serial_equals_chunked_and_greedy_agrees() {
    let Some(probe) = common::backend() else { return };
    drop(probe);
    let toks = tokens();
    let mut checked = 0;
    for (name, arch, quantized) in MODELS {
        let Some(file) = gguf_of_legacy(name) else { return };
        let mut gpu = Runner::load(file.clone(), CudaBackend::new(0).unwrap()).unwrap();
        assert_eq!(gpu.info().architecture, arch.name(), "{name}");
        let mut cpu = Runner::load(file.clone(), CpuBackend::new(2).unwrap()).unwrap();
        // A chunk size that does not divide the sequence: prefill tiles and chunk boundaries.
        gpu.set_chunk_size(7);
        cpu.set_chunk_size(7);
        let got = logits_all(&mut gpu, &toks);
        let want = logits_all(&mut cpu, &toks);
        assert!(got.iter().flatten().all(|v| v.is_finite()), "{name}: non-finite logits");
        let vs_cpu = testkit::max_abs_diff_rows(&got, &want);

        // Serial (one token per step: graph capture, then replays) against the chunked run.
        let serial_state = gpu.new_state().unwrap();
        let serial: Vec<Vec<f32>> =
            toks.iter().map(|&t| gpu.forward(serial_state, &[t], LogitsMode::Last).unwrap().remove(0)).collect();
        let serial_vs_chunked = testkit::max_abs_diff_rows(&serial, &got);
        let stats = gpu.ops().graph_stats();

        // The yardstick at float precision: the cpu on the same weights with f32 activations.
        let (vs_float, mut float_cpu) = if quantized {
            let mut twin = Runner::load(dequantized_twin(&file), CpuBackend::new(2).unwrap()).unwrap();
            twin.set_chunk_size(7);
            (testkit::max_abs_diff_rows(&got, &logits_all(&mut twin, &toks)), twin)
        } else {
            (vs_cpu, cpu)
        };
        let prompt = &toks[..8];
        let greedy_want = greedy(&mut float_cpu, prompt, 32);
        let greedy_got = greedy(&mut gpu, prompt, 32);
        let same = greedy_got.iter().zip(&greedy_want).take_while(|(a, b)| a == b).count();
        eprintln!(
            "{name:<30} cuda vs cpu {vs_cpu:.2e}  vs cpu on f32 weights {vs_float:.2e}  serial vs chunked {serial_vs_chunked:.2e}  \
             greedy {same}/32  graphs: {} captured, {} replayed",
            stats.captures, stats.replays
        );
        assert!(vs_float <= FLOAT_TOL, "{name}: cuda vs cpu (f32 weights) max abs diff {vs_float} > {FLOAT_TOL}");
        if quantized {
            assert!(vs_cpu <= QUANT_VS_CPU_TOL, "{name}: cuda vs cpu max abs diff {vs_cpu} > {QUANT_VS_CPU_TOL}");
        }
        assert!(serial_vs_chunked <= 1e-4, "{name}: serial vs chunked {serial_vs_chunked}");
        assert!(stats.replays > 0, "{name}: decode steps were never replayed from a graph");
        assert_eq!(greedy_got, greedy_want, "{name}: greedy tokens differ from the cpu backend's");
        checked += 1;
    }
    assert_eq!(checked, MODELS.len());
}

#[test]
fn dequantized_twin_is_the_same_model_in_f32() {
    // The yardstick above, checked on the cpu alone (runs without a GPU): same tensors, all F32,
    // and logits within the activation-quantization noise of the quantized original.
    let Some(file) = gguf_of_legacy("tiny-rwkv-6v0-3m-Q5_1.bin") else { return };
    let twin = dequantized_twin(&file);
    assert!(file.tensors().iter().any(|t| t.ty == GgmlType::Q5_1), "the fixture has Q5_1 tensors");
    assert_eq!(twin.tensors().len(), file.tensors().len());
    for (a, b) in file.tensors().iter().zip(twin.tensors()) {
        assert_eq!((&a.name, &a.dims, GgmlType::F32), (&b.name, &b.dims, b.ty));
    }
    let toks = tokens();
    let mut quantized = Runner::load(file, CpuBackend::new(2).unwrap()).unwrap();
    let mut float = Runner::load(twin, CpuBackend::new(2).unwrap()).unwrap();
    let diff = testkit::max_abs_diff_rows(&logits_all(&mut quantized, &toks), &logits_all(&mut float, &toks));
    eprintln!("cpu: Q5_1 vs its F32 twin {diff:.2e}");
    assert!(diff > 0.0 && diff <= QUANT_VS_CPU_TOL, "Q5_1 vs F32 twin on the cpu: {diff}");
}
