//! Synthetic models: layout identical to the llama.cpp-written tiny-k fixtures, determinism, and sane
//! logits on the cpu backend.

mod common;

use std::sync::Arc;

use common::*;
use convert::{write_synth, FileType, Preset, WriteOptions};
use gguf::{GgmlType, Value};
use model::{LogitsMode, Model};

const QUANT_FIXTURES: &[&str] = &["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K"];

fn opts() -> WriteOptions {
    WriteOptions { force: false, progress: false, threads: 0 }
}

#[test]
fn gguf_tokens_match_the_converter() {
    let (Some(vocab), Some(fixture)) = (world_vocab(), testkit::fixture("synth-tiny-k-F16.gguf")) else { return };
    let fixture = open(&fixture);
    let (tokens, types) = vocab.gguf_tokens(512);
    assert_eq!(tokens, fixture.get_str_array("tokenizer.ggml.tokens").unwrap().unwrap());
    let expected: Vec<i32> =
        fixture.get_i64_array("tokenizer.ggml.token_type").unwrap().unwrap().iter().map(|&t| t as i32).collect();
    assert_eq!(types, expected);

    let (tokens, types) = vocab.gguf_tokens(65536);
    assert_eq!(vocab.len(), 65529);
    assert_eq!((tokens[0].as_str(), types[0]), ("<s>", 3));
    assert_eq!((tokens[261].as_str(), types[261]), ("\\n\\n", 1));
    assert_eq!((tokens[65529].as_str(), types[65529]), (vocab_last_escaped(&vocab).as_str(), 1));
    assert_eq!((tokens[65530].as_str(), types[65530]), ("[PAD65530]", 5));
    assert_eq!((tokens[65535].as_str(), types[65535]), ("[PAD65535]", 5));
    // Every escaped token decodes back to its bytes with llama.cpp's unescape rule.
    let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let types64: Vec<i64> = types.iter().map(|&t| t as i64).collect();
    let tok = tokenizer::Tokenizer::from_gguf_tokens(&refs, Some(&types64)).unwrap();
    let text = "Hello, RWKV-7!\n\nThe year is 2025. (ok) — ünïcödé 中文";
    assert_eq!(tok.decode(&tok.encode(text).unwrap()).unwrap(), text.as_bytes());
}

fn vocab_last_escaped(vocab: &convert::WorldVocab) -> String {
    vocab.gguf_tokens(65530).0.pop().unwrap()
}

/// Same metadata keys in the same order with the same values, and the same tensor
/// names, shapes, order and types as the llama.cpp-written fixture of each type.
#[test]
fn layout_matches_the_tiny_k_fixtures() {
    let Some(vocab) = world_vocab() else { return };
    let dir = Scratch::new("layout");
    let mut checked = 0;
    for ty in ["F32", "F16"].iter().chain(QUANT_FIXTURES) {
        let Some(fixture) = testkit::fixture(&format!("synth-tiny-k-{ty}.gguf")) else { return };
        let fixture = open(&fixture);
        let out = dir.path(&format!("{ty}.gguf"));
        let report = write_synth(&tiny_k_spec(), &vocab, FileType::parse(ty).unwrap(), &out, &opts()).unwrap();
        let ours = open(&out);
        assert_eq!(keys(&ours), keys(&fixture), "{ty}: metadata keys");
        for ((k, a), (_, b)) in ours.metadata().iter().zip(fixture.metadata()) {
            assert_eq!(a, b, "{ty}: metadata {k}");
        }
        assert_eq!(layout(&ours), layout(&fixture), "{ty}: tensors");
        assert_eq!(ours.file_size(), fixture.file_size(), "{ty}: file size");
        assert_eq!(report.tensors.len(), fixture.tensors().len());
        checked += 1;
    }
    assert_eq!(checked, 2 + QUANT_FIXTURES.len());
}

#[test]
fn generation_is_deterministic_and_layer0_v_copies_a() {
    let Some(vocab) = world_vocab() else { return };
    let dir = Scratch::new("determinism");
    let spec = tiny_k_spec();
    let (a, b) = (dir.path("a.gguf"), dir.path("b.gguf"));
    write_synth(&spec, &vocab, FileType::F32, &a, &opts()).unwrap();
    write_synth(&spec, &vocab, FileType::F32, &b, &WriteOptions { threads: 1, ..opts() }).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap(), "thread count changes nothing");

    let file = open(&a);
    for (v, a) in [("v0", "a0"), ("v1", "a1"), ("v2", "a2")] {
        let (vn, an) = (format!("blk.0.time_mix_{v}.weight"), format!("blk.0.time_mix_{a}.weight"));
        assert_eq!(values(&file, &vn), values(&file, &an));
        let (vn1, an1) = (format!("blk.1.time_mix_{v}.weight"), format!("blk.1.time_mix_{a}.weight"));
        assert_ne!(values(&file, &vn1), values(&file, &an1));
    }
    for t in file.tensors() {
        assert_eq!(values(&file, &t.name), spec.tensor_values(&t.name).unwrap(), "{}", t.name);
    }
    let mut other = spec.clone();
    other.seed = 1;
    assert_ne!(other.tensor_values("output.weight"), spec.tensor_values("output.weight"));
}

/// A synthetic quantized file is exactly `quantize(synthetic F16 file)`.
#[test]
fn quantized_synth_equals_quantizing_the_f16_synth() {
    let Some(vocab) = world_vocab() else { return };
    let dir = Scratch::new("synth-vs-quantize");
    let spec = tiny_k_spec();
    let f16 = dir.path("f16.gguf");
    write_synth(&spec, &vocab, FileType::F16, &f16, &opts()).unwrap();
    let f16 = open(&f16);
    for ty in [FileType::Q4_K_M, FileType::Q8_0, FileType::Q5_1] {
        let (direct, via) = (dir.path(&format!("direct-{ty}.gguf")), dir.path(&format!("via-{ty}.gguf")));
        write_synth(&spec, &vocab, ty, &direct, &opts()).unwrap();
        convert::quantize(&f16, &via, ty, &opts()).unwrap();
        assert!(std::fs::read(&direct).unwrap() == std::fs::read(&via).unwrap(), "{ty}: files differ");
    }
}

fn logits_stats(path: &std::path::Path) -> (Vec<f32>, Vec<u32>) {
    let file = Arc::new(open(path));
    let mut model = model::Rwkv7Runner::load(file, cpu::CpuBackend::new(0).unwrap()).unwrap();
    let state = model.new_state().unwrap();
    let prompt = [0u32, 73, 102, 109, 109, 112, 45, 317, 88, 261];
    let mut logits = model.forward(state, &prompt, LogitsMode::Last).unwrap().pop().unwrap();
    let first = logits.clone();
    let mut greedy = Vec::new();
    for _ in 0..12 {
        let next = logits
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i as u32)
            .unwrap();
        greedy.push(next);
        logits = model.forward(state, &[next], LogitsMode::Last).unwrap().pop().unwrap();
        assert!(logits.iter().all(|x| x.is_finite()));
    }
    (first, greedy)
}

fn check_logits(what: &str, logits: &[f32], greedy: &[u32]) {
    assert!(logits.iter().all(|x| x.is_finite()), "{what}: non-finite logits");
    let n = logits.len() as f32;
    let mean = logits.iter().sum::<f32>() / n;
    let std = (logits.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / n).sqrt();
    eprintln!("{what}: logits mean {mean:.3} std {std:.3}; greedy {greedy:?}");
    assert!((1.0..=5.0).contains(&std), "{what}: logit std {std}");
    assert!(greedy.iter().any(|&t| t != greedy[0]), "{what}: greedy tokens all equal: {greedy:?}");
}

#[test]
fn tiny_preset_runs_with_sane_logits() {
    let Some(vocab) = world_vocab() else { return };
    let dir = Scratch::new("tiny-logits");
    let spec = Preset::Tiny.spec();
    for ty in [FileType::F32, FileType::Q4_K_M] {
        let path = dir.path(&format!("tiny-{ty}.gguf"));
        let report = write_synth(&spec, &vocab, ty, &path, &WriteOptions { progress: true, ..opts() }).unwrap();
        eprintln!("{report}");
        let file = open(&path);
        assert_eq!(file.get_str_array("tokenizer.ggml.tokens").unwrap().unwrap().len(), 65536);
        assert_eq!(file.get_u64("general.file_type").unwrap(), Some(ty.id() as u64));
        assert_eq!(file.tensor("output.weight").unwrap().ty, if ty == FileType::F32 { GgmlType::F32 } else { GgmlType::Q6_K });
        let (logits, greedy) = logits_stats(&path);
        check_logits(&format!("tiny {ty}"), &logits, &greedy);
    }
}

#[test]
fn metadata_of_a_preset() {
    let Some(vocab) = world_vocab() else { return };
    let dir = Scratch::new("preset-metadata");
    let path = dir.path("tiny.gguf");
    write_synth(&Preset::Tiny.spec(), &vocab, FileType::BF16, &path, &opts()).unwrap();
    let file = open(&path);
    assert_eq!(file.get_str("general.name").unwrap(), Some("Rwkv7 Synthetic tiny"));
    assert_eq!(file.get_u64("general.file_type").unwrap(), Some(32));
    assert_eq!(file.get("tokenizer.ggml.eot_token_id"), Some(&Value::U32(261)));
    assert_eq!(file.tensor("blk.0.time_mix_key.weight").unwrap().ty, GgmlType::BF16);
    assert_eq!(file.tensor("blk.0.time_mix_g1.weight").unwrap().ty, GgmlType::BF16);
    assert_eq!(file.tensor("blk.0.time_mix_w1.weight").unwrap().ty, GgmlType::F32);
    let hp = model::Rwkv7Hparams::from_gguf(&file).unwrap();
    assert_eq!((hp.n_layer, hp.n_embd, hp.n_vocab, hp.gate_lora_rank), (2, 256, 65536, 64));

    // An existing output is refused without force, replaced with it.
    let err = write_synth(&Preset::Tiny.spec(), &vocab, FileType::F32, &path, &opts()).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    write_synth(&Preset::Tiny.spec(), &vocab, FileType::Q8_0, &path, &WriteOptions { force: true, ..opts() }).unwrap();
    assert_eq!(open(&path).get_u64("general.file_type").unwrap(), Some(7));
    let leftovers: Vec<_> = std::fs::read_dir(&dir.0).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");
}

/// Needs the network, so not part of normal runs: `cargo test -p convert -- --ignored download`.
#[test]
#[ignore]
fn download_world_vocab_from_crates_io() {
    let dir = Scratch::new("download");
    let text = convert::download_world_vocab().unwrap();
    let path = dir.path(convert::WORLD_VOCAB_FILE);
    std::fs::write(&path, &text).unwrap();
    let vocab = convert::WorldVocab::from_file(&path).unwrap();
    assert_eq!(vocab.len(), convert::WORLD_VOCAB_ENTRIES);
}
