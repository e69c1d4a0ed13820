//! rwkv.cpp legacy files through the `aviary` binary and library: `aviary convert` writes llama.cpp's
//! layout for RWKV-7 (tensor for tensor what llama.cpp's own converter wrote for the fixture) and
//! RWKV-6 (matching llama.cpp's logits on the converted file, kept as test data), aviary's layout for
//! RWKV-5/4; legacy files also load directly.

use std::path::PathBuf;
use std::process::{Command, Output};

use gguf::{GgmlType, GgufFile};
use model::LogitsMode;

fn aviary(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aviary")).args(args).output().expect("run aviary")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("aviary-legacy-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// The fixtures' 25 bytes `"in the year 2025, RWKV-7` (id = byte).
fn tokens() -> Vec<u32> {
    b"\"in the year 2025, RWKV-7".iter().map(|&b| b as u32).collect()
}

fn rows(v: &serde_json::Value) -> Vec<Vec<f32>> {
    v.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()).collect()
}

fn logits(path: &str) -> Vec<Vec<f32>> {
    let mut loaded = aviary::load(path, &aviary::LoadOptions { threads: 2, ..Default::default() }).unwrap();
    let s = loaded.model.new_state().unwrap();
    loaded.model.forward(s, &tokens(), LogitsMode::All).unwrap()
}

fn strip(dims: &[u64]) -> Vec<u64> {
    let mut d = dims.to_vec();
    while d.len() > 1 && d[d.len() - 1] == 1 {
        d.pop();
    }
    d
}

#[test]
fn rwkv7_conversion_is_llama_cpps_layout_tensor_for_tensor() {
    let (Some(bin), Some(gguf)) = (testkit::fixture("tiny-rwkv-7v0-834K-FP32.bin"), testkit::fixture("tiny-rwkv7-834K-F32.gguf")) else { return };
    let dir = Scratch::new("v7");
    let out = dir.path("v7.gguf");
    let o = aviary(&["convert", &bin.display().to_string(), &out]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("RWKV-7"), "{}", stderr(&o));
    let (ours, theirs) = (GgufFile::open(&out).unwrap(), GgufFile::open(gguf).unwrap());
    assert_eq!(ours.tensors().len(), theirs.tensors().len());
    for t in theirs.tensors() {
        let u = ours.tensor(&t.name).unwrap_or_else(|| panic!("missing {}", t.name));
        assert_eq!((strip(&u.dims), u.ty), (strip(&t.dims), t.ty), "{}", t.name);
        assert_eq!(ours.tensor_data(u), theirs.tensor_data(t), "{}: bytes differ", t.name);
    }
    for key in ["rwkv7.embedding_length", "rwkv7.block_count", "rwkv7.wkv.head_size", "rwkv7.attention.gate_lora_rank", "rwkv7.feed_forward_length"] {
        assert_eq!(ours.get_u64(key).unwrap(), theirs.get_u64(key).unwrap(), "{key}");
    }
    assert_eq!(ours.get_str_array("tokenizer.ggml.tokens").unwrap(), theirs.get_str_array("tokenizer.ggml.tokens").unwrap());

    // And the legacy file itself loads and runs through the same path as the GGUF.
    let reference = rows(&testkit::fixture_json("tiny-rwkv-7v0-834K-FP32.bin.json").unwrap()["reference_f64"]["logits"]);
    let direct = logits(&bin.display().to_string());
    let diff = direct.iter().zip(&reference).map(|(a, b)| testkit::max_abs_diff(a, b)).fold(0f32, f32::max);
    assert!(diff <= 1e-4, "legacy file vs reference_f64: {diff}");
    assert_eq!(direct, logits(&out));

    // Q8_0 through the convert crate's quantizer: llama-quantize's types.
    let q8 = dir.path("v7-q8.gguf");
    let o = aviary(&["convert", &bin.display().to_string(), &q8, "--type", "Q8_0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let f = GgufFile::open(&q8).unwrap();
    assert_eq!(f.tensor("blk.0.time_mix_key.weight").unwrap().ty, GgmlType::Q8_0);
    assert_eq!(f.tensor("blk.0.time_mix_w1.weight").unwrap().ty, GgmlType::F32);
}

#[test]
fn rwkv6_conversion_matches_llama_cpp() {
    let Some(bin) = testkit::fixture("tiny-rwkv-6v0-3m-Q5_1.bin") else { return };
    let dir = Scratch::new("v6");
    let out = dir.path("v6.gguf");
    let o = aviary(&["convert", &bin.display().to_string(), &out, "--type", "F32"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let f = GgufFile::open(&out).unwrap();
    assert_eq!(f.get_str("general.architecture").unwrap(), Some("rwkv6"));
    assert!(f.tensors().iter().all(|t| t.ty == GgmlType::F32), "--type F32 leaves nothing quantized");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/llamacpp-tiny-rwkv6-converted.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let positions: Vec<usize> = json["positions"].as_array().unwrap().iter().map(|p| p.as_u64().unwrap() as usize).collect();
    let want = rows(&json["logits"]);
    let got = logits(&out);
    let mut diff = 0f32;
    for (&p, w) in positions.iter().zip(&want) {
        diff = diff.max(testkit::max_abs_diff(&got[p], w));
    }
    assert!(diff <= 1e-4, "aviary vs llama.cpp on the converted RWKV-6: {diff}");
}

#[test]
fn rwkv5_and_rwkv4_conversions_round_trip() {
    let mut checked = 0;
    for (name, arch) in [("tiny-rwkv-5v2-730K-FP32.bin", "rwkv5"), ("tiny-rwkv-5v1-730K-FP32.bin", "rwkv5"), ("tiny-rwkv-4v0-660K-FP32.bin", "rwkv4")] {
        let Some(bin) = testkit::fixture(name) else { return };
        let bin = bin.display().to_string();
        let dir = Scratch::new(arch);
        let out = dir.path("m.gguf");
        let o = aviary(&["convert", &bin, &out]);
        assert!(o.status.success(), "{}", stderr(&o));
        let f = GgufFile::open(&out).unwrap();
        assert_eq!(f.get_str("general.architecture").unwrap(), Some(arch));
        let direct = logits(&bin);
        let converted = logits(&out);
        // The decay goes through ln(−ln(w)) and back: equal to f32 rounding.
        let diff = direct.iter().zip(&converted).map(|(a, b)| testkit::max_abs_diff(a, b)).fold(0f32, f32::max);
        assert!(diff <= 1e-4, "{name}: legacy vs converted {diff}");

        let q8 = dir.path("q8.gguf");
        let o = aviary(&["convert", &bin, &q8, "--type", "q8_0"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let f = GgufFile::open(&q8).unwrap();
        assert_eq!(f.tensor("blk.0.time_mix_key.weight").unwrap().ty, GgmlType::Q8_0);
        assert_eq!(f.tensor("blk.0.channel_mix_lerp_fused.weight").unwrap().ty, GgmlType::F32);
        let quantized = logits(&q8);
        let diff = direct.iter().zip(&quantized).map(|(a, b)| testkit::max_abs_diff(a, b)).fold(0f32, f32::max);
        // These tiny RWKV-5 models are very sensitive to weight rounding (GroupNorm over 8 values
        // with eps 1e-5; rwkv.cpp's own tests allow large differences for them): 0.13 measured.
        assert!(diff <= 0.3, "{name}: Q8_0 vs FP32 {diff}");
        checked += 1;
    }
    assert_eq!(checked, 3);
}

#[test]
fn convert_refuses_bad_input_and_existing_output() {
    let Some(gguf) = testkit::fixture("tiny-rwkv7-834K-F32.gguf") else { return };
    let Some(bin) = testkit::fixture("tiny-rwkv-4v0-660K-FP32.bin") else { return };
    let dir = Scratch::new("bad");
    let out = dir.path("x.gguf");
    let o = aviary(&["convert", &gguf.display().to_string(), &out]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not an rwkv.cpp model file"), "{}", stderr(&o));
    std::fs::write(&out, b"keep").unwrap();
    let o = aviary(&["convert", &bin.display().to_string(), &out]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already exists") && stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep");
    let o = aviary(&["logits", "--model", &bin.display().to_string(), "--tokens", "34,105,110"]);
    assert!(o.status.success(), "{}", stderr(&o));
}
