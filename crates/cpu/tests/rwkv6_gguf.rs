//! RWKV-6 GGUF files in llama.cpp's layout (spec §3.6), written here with random weights: they load,
//! serial equals chunked, save/restore equals uninterrupted, the older separate lerp tensors load
//! like the fused one, and the logits match llama.cpp's on the same file (kept as test data).

use std::sync::Arc;

use cpu::CpuBackend;
use gguf::{GgmlType, GgufFile, GgufWriter, Value};
use model::{LogitsMode, Model, Runner};
use testkit::TestRng;

/// Sizes of a test model: C, L, N, F, token-shift rank, decay rank, V, rescale_every_n_layers.
#[derive(Clone, Copy)]
struct Spec {
    c: usize,
    layers: usize,
    head: usize,
    ffn: usize,
    dm: usize,
    dd: usize,
    vocab: usize,
    rescale: u32,
}

const SMALL: Spec = Spec { c: 128, layers: 3, head: 64, ffn: 448, dm: 32, dd: 64, vocab: 256, rescale: 2 };

/// Tokens the llama.cpp comparison was run with.
const TOKENS: [u32; 8] = [34, 105, 110, 32, 116, 104, 101, 32];

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f16_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect()
}

/// A random-weight RWKV-6 in llama.cpp's layout. `matrix_ty` is F32 or F16 (2-D matrices); every
/// vector stays F32 as llama.cpp's converter writes them. `separate_lerp` writes the five
/// `time_mix_lerp_{w,k,v,r,g}` tensors of older files instead of `time_mix_lerp_fused`.
fn write_rwkv6(s: Spec, seed: u64, matrix_ty: GgmlType, separate_lerp: bool, tokenizer: &[(String, Value)]) -> GgufWriter {
    let mut rng = TestRng::new(seed);
    let mut w = GgufWriter::new();
    let u32v = |v: usize| Value::U32(v as u32);
    w.add_kv("general.architecture", Value::String("rwkv6".into()));
    w.add_kv("general.type", Value::String("model".into()));
    w.add_kv("general.name", Value::String(format!("aviary random rwkv6 seed {seed}")));
    w.add_kv("rwkv6.context_length", u32v(1_048_576));
    w.add_kv("rwkv6.embedding_length", u32v(s.c));
    w.add_kv("rwkv6.block_count", u32v(s.layers));
    w.add_kv("rwkv6.feed_forward_length", u32v(s.ffn));
    w.add_kv("rwkv6.attention.layer_norm_epsilon", Value::F32(1e-5));
    w.add_kv("rwkv6.rescale_every_n_layers", Value::U32(s.rescale));
    w.add_kv("rwkv6.wkv.head_size", u32v(s.head));
    w.add_kv("rwkv6.time_mix_extra_dim", u32v(s.dm));
    w.add_kv("rwkv6.time_decay_extra_dim", u32v(s.dd));
    w.add_kv("general.file_type", Value::U32(if matrix_ty == GgmlType::F16 { 1 } else { 0 }));
    w.add_kv("rwkv6.attention.head_count", Value::U32(0));
    for (k, v) in tokenizer {
        w.add_kv(k.clone(), v.clone());
    }
    let mut vec = |w: &mut GgufWriter, rng: &mut TestRng, name: String, dims: &[u64], lo: f32, hi: f32| {
        let n = dims.iter().product::<u64>() as usize;
        w.add_tensor(name, dims, GgmlType::F32, f32_bytes(&rng.vec(n, lo, hi))).unwrap();
    };
    let mat = |w: &mut GgufWriter, rng: &mut TestRng, name: String, dims: &[u64], scale: f32| {
        let n = dims.iter().product::<u64>() as usize;
        let data = rng.vec(n, -scale, scale);
        let bytes = if matrix_ty == GgmlType::F16 { f16_bytes(&data) } else { f32_bytes(&data) };
        w.add_tensor(name, dims, matrix_ty, bytes).unwrap();
    };
    let (c, f, v) = (s.c as u64, s.ffn as u64, s.vocab as u64);
    let norm = |w: &mut GgufWriter, rng: &mut TestRng, base: &str, vec: &mut dyn FnMut(&mut GgufWriter, &mut TestRng, String, &[u64], f32, f32)| {
        vec(w, rng, format!("{base}.weight"), &[c], 0.8, 1.2);
        vec(w, rng, format!("{base}.bias"), &[c], -0.1, 0.1);
    };
    mat(&mut w, &mut rng, "token_embd.weight".into(), &[c, v], 1.0);
    norm(&mut w, &mut rng, "token_embd_norm", &mut vec);
    let inv = |k: u64| 1.5 / (k as f32).sqrt();
    for l in 0..s.layers {
        let b = |n: &str| format!("blk.{l}.{n}");
        norm(&mut w, &mut rng, &b("attn_norm"), &mut vec);
        norm(&mut w, &mut rng, &b("attn_norm_2"), &mut vec);
        vec(&mut w, &mut rng, b("time_mix_lerp_x.weight"), &[c], 0.0, 1.0);
        if separate_lerp {
            for x in ["w", "k", "v", "r", "g"] {
                vec(&mut w, &mut rng, b(&format!("time_mix_lerp_{x}.weight")), &[c, 1, 1], 0.0, 1.0);
            }
        } else {
            vec(&mut w, &mut rng, b("time_mix_lerp_fused.weight"), &[c, 1, 1, 5], 0.0, 1.0);
        }
        // The converter keeps the LoRAs F32.
        vec(&mut w, &mut rng, b("time_mix_w1.weight"), &[c, 5 * s.dm as u64], -0.1, 0.1);
        vec(&mut w, &mut rng, b("time_mix_w2.weight"), &[s.dm as u64, c, 5], -0.1, 0.1);
        vec(&mut w, &mut rng, b("time_mix_decay.weight"), &[c], -6.0, -1.0);
        vec(&mut w, &mut rng, b("time_mix_decay_w1.weight"), &[c, s.dd as u64], -0.1, 0.1);
        vec(&mut w, &mut rng, b("time_mix_decay_w2.weight"), &[s.dd as u64, c], -0.1, 0.1);
        vec(&mut w, &mut rng, b("time_mix_first.weight"), &[s.head as u64, c / s.head as u64], -0.5, 0.5);
        for m in ["key", "value", "receptance", "gate"] {
            mat(&mut w, &mut rng, b(&format!("time_mix_{m}.weight")), &[c, c], inv(c));
        }
        norm(&mut w, &mut rng, &b("time_mix_ln"), &mut vec);
        mat(&mut w, &mut rng, b("time_mix_output.weight"), &[c, c], inv(c));
        vec(&mut w, &mut rng, b("channel_mix_lerp_k.weight"), &[c, 1, 1], 0.0, 1.0);
        vec(&mut w, &mut rng, b("channel_mix_lerp_r.weight"), &[c, 1, 1], 0.0, 1.0);
        mat(&mut w, &mut rng, b("channel_mix_key.weight"), &[c, f], inv(c));
        mat(&mut w, &mut rng, b("channel_mix_value.weight"), &[f, c], inv(f));
        mat(&mut w, &mut rng, b("channel_mix_receptance.weight"), &[c, c], inv(c));
    }
    norm(&mut w, &mut rng, "output_norm", &mut vec);
    mat(&mut w, &mut rng, "output.weight".into(), &[c, v], inv(c));
    w
}

/// The tokenizer keys of the byte-level fixture (256 tokens), so llama.cpp can load the file; none
/// when the fixtures are absent (aviary needs no vocabulary).
fn byte_tokenizer() -> Vec<(String, Value)> {
    let Some(path) = testkit::fixture("tiny-rwkv7-834K-F32.gguf") else { return Vec::new() };
    let f = GgufFile::open(path).unwrap();
    f.metadata().iter().filter(|(k, _)| k.starts_with("tokenizer.")).cloned().collect()
}

fn runner(w: &GgufWriter, chunk: usize) -> Runner<CpuBackend> {
    let file = Arc::new(GgufFile::from_bytes(w.to_bytes()).unwrap());
    let mut r = Runner::load(file, CpuBackend::new(2).unwrap()).expect("load rwkv6");
    r.set_chunk_size(chunk);
    r
}

#[test]
fn random_rwkv6_loads_and_runs_consistently() {
    let mut cases = 0;
    for (ty, separate) in [(GgmlType::F32, false), (GgmlType::F16, true)] {
        let spec = Spec { c: 96, layers: 4, head: 32, ffn: 320, dm: 32, dd: 32, vocab: 97, rescale: 3 };
        let w = write_rwkv6(spec, 5, ty, separate, &[]);
        let mut r = runner(&w, 5);
        let info = r.info().clone();
        assert_eq!(info.architecture, "rwkv6");
        let hp = &info.hparams;
        assert_eq!((hp.n_embd, hp.n_layer, hp.head_size, hp.n_head, hp.n_ffn, hp.n_vocab), (96, 4, 32, 3, 320, 97));
        assert_eq!((hp.token_shift_lora_rank, hp.decay_lora_rank, hp.rescale_every_n_layers), (32, 32, 3));
        let toks: Vec<u32> = (0..13).map(|i| (i * 37 % 97) as u32).collect();
        let s = r.new_state().unwrap();
        let all = r.forward(s, &toks, LogitsMode::All).unwrap();
        assert!(all.iter().flatten().all(|x| x.is_finite()));
        let serial_state = r.new_state().unwrap();
        for (i, &t) in toks.iter().enumerate() {
            let row = r.forward(serial_state, &[t], LogitsMode::Last).unwrap().remove(0);
            let d = testkit::max_abs_diff(&row, &all[i]);
            assert!(d <= 1e-4, "{ty:?}: serial vs chunked at {i}: {d}");
        }
        let (head, tail) = toks.split_at(6);
        let a = r.new_state().unwrap();
        r.forward(a, head, LogitsMode::None).unwrap();
        let saved = r.save_state(a).unwrap();
        assert_eq!(saved.data.len(), 4 * (2 * 96 + 96 * 32));
        let b = r.new_state().unwrap();
        r.load_state(b, &saved).unwrap();
        let resumed = r.forward(b, tail, LogitsMode::All).unwrap();
        assert_eq!(resumed[..], all[6..]);
        cases += 1;
    }
    assert_eq!(cases, 2);
}

#[test]
fn bad_rwkv6_files_are_refused_with_the_facts() {
    let spec = Spec { c: 64, layers: 1, head: 32, ffn: 224, dm: 32, dd: 32, vocab: 16, rescale: 0 };
    let mut w = write_rwkv6(spec, 1, GgmlType::F32, false, &[]);
    w.add_kv("rwkv6.time_mix_extra_dim", Value::U32(16));
    let file = Arc::new(GgufFile::from_bytes(w.to_bytes()).unwrap());
    let err = Runner::load(file, CpuBackend::new(1).unwrap()).err().expect("refused").to_string();
    assert!(err.contains("rwkv6.time_mix_extra_dim") && err.contains("16") && err.contains("32"), "{err}");
}

/// llama.cpp's logits for [`SMALL`] (seed 606, F32) on [`TOKENS`], from
/// `tests/data/rwkv6-llamacpp-logits.json` (the file says how it was made).
#[test]
fn random_rwkv6_matches_llama_cpp() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rwkv6-llamacpp-logits.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let tokens: Vec<u32> = json["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect();
    assert_eq!(tokens, TOKENS);
    let reference: Vec<Vec<f32>> = json["logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect())
        .collect();
    let mut r = runner(&write_rwkv6(SMALL, 606, GgmlType::F32, false, &[]), 3);
    let s = r.new_state().unwrap();
    let got = r.forward(s, &TOKENS, LogitsMode::All).unwrap();
    assert_eq!(got.len(), reference.len());
    let mut diff = 0f32;
    for (pos, (g, want)) in got.iter().zip(&reference).enumerate() {
        diff = diff.max(testkit::max_abs_diff(g, want));
        assert_eq!(testkit::argmax(g), testkit::argmax(want), "top-1 at position {pos}");
    }
    eprintln!("max|aviary - llama.cpp| = {diff:.3e}");
    assert!(diff <= 1e-4, "max abs diff {diff}");
}

/// Writes the model `random_rwkv6_matches_llama_cpp` checks to `$AVIARY_WRITE_RWKV6` (run with
/// `--ignored`), for `llamacpp.sh logits FILE 34,105,110,32,116,104,101,32`.
#[test]
#[ignore]
fn write_random_rwkv6_for_llama_cpp() {
    let path = std::env::var("AVIARY_WRITE_RWKV6").expect("set AVIARY_WRITE_RWKV6 to the output path");
    let tok = byte_tokenizer();
    assert!(!tok.is_empty(), "needs the fixtures for the byte vocabulary");
    write_rwkv6(SMALL, 606, GgmlType::F32, false, &tok).write_file(path).unwrap();
}
