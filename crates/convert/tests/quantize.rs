//! The quantizer against llama-quantize: per-tensor types, tensor order and metadata of the fixtures,
//! and the error of the quantized weights.

mod common;

use std::collections::BTreeMap;

use common::*;
use convert::{plan_types, quantize, FileType, WriteOptions};
use gguf::{GgmlType, GgufFile};

const TYPES: &[&str] = &["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K"];

fn opts() -> WriteOptions {
    WriteOptions { force: false, progress: false, threads: 0 }
}

/// Quantizing the F16 fixture gives each llama.cpp fixture's tensor order, types and metadata.
#[test]
fn tiny_k_types_order_and_metadata_match_llama_quantize() {
    let Some(src) = testkit::fixture("synth-tiny-k-F16.gguf") else { return };
    let src = open(&src);
    let dir = Scratch::new("tiny-k-types");
    let mut checked = 0;
    for ty in TYPES {
        let Some(expected) = testkit::fixture(&format!("synth-tiny-k-{ty}.gguf")) else { return };
        let expected = open(&expected);
        let out = dir.path(&format!("{ty}.gguf"));
        let report = quantize(&src, &out, FileType::parse(ty).unwrap(), &opts()).unwrap();
        let ours = open(&out);
        assert_eq!(layout(&ours), layout(&expected), "{ty}: tensor names, shapes, order, types");
        assert_eq!(ours.metadata(), expected.metadata(), "{ty}: metadata");
        assert_eq!(ours.file_size(), expected.file_size(), "{ty}: file size");
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        eprintln!("{report}");
        checked += 1;
    }
    assert_eq!(checked, TYPES.len());
}

/// The trained tiny model has n_embd 64: K-quants fall back (Q4_K -> Q5_0, output Q6_K -> Q8_0).
#[test]
fn tiny_834k_fallbacks_match_llama_quantize() {
    let Some(src) = testkit::fixture("tiny-rwkv7-834K-F32.gguf") else { return };
    let src = open(&src);
    let dir = Scratch::new("tiny-834k");
    for ty in ["Q4_K_M", "Q8_0"] {
        let Some(expected) = testkit::fixture(&format!("tiny-rwkv7-834K-{ty}.gguf")) else { return };
        let expected = open(&expected);
        let ft = FileType::parse(ty).unwrap();
        let planned: Vec<(String, GgmlType)> = plan_types(&src, ft).unwrap();
        let fixture_types: Vec<(String, GgmlType)> = expected.tensors().iter().map(|t| (t.name.clone(), t.ty)).collect();
        assert_eq!(planned, fixture_types, "{ty}");
        let out = dir.path(&format!("{ty}.gguf"));
        quantize(&src, &out, ft, &opts()).unwrap();
        let ours = open(&out);
        assert_eq!(layout(&ours), layout(&expected), "{ty}");
        assert_eq!(ours.metadata(), expected.metadata(), "{ty}: metadata");
    }
    let types: BTreeMap<String, GgmlType> = plan_types(&src, FileType::Q4_K_M).unwrap().into_iter().collect();
    assert_eq!(types["blk.0.channel_mix_value.weight"], GgmlType::Q4_K);
    assert_eq!(types["blk.0.time_mix_key.weight"], GgmlType::Q5_0);
    assert_eq!(types["output.weight"], GgmlType::Q8_0);
    assert_eq!(types["blk.0.time_mix_a1.weight"], GgmlType::F32, "excluded tensors keep the source type");
}

fn sum_sq_diff(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum()
}

/// RMSE over all tensors the quantizer converted, of `file`'s weights against the F16 source.
fn rmse_vs_source(file: &GgufFile, src: &GgufFile) -> f64 {
    let (mut sq, mut n) = (0.0, 0usize);
    for t in file.tensors().iter().filter(|t| src.tensor(&t.name).unwrap().ty != t.ty) {
        let (a, b) = (values(file, &t.name), values(src, &t.name));
        sq += sum_sq_diff(&a, &b);
        n += a.len();
    }
    assert!(n > 0);
    (sq / n as f64).sqrt()
}

/// Our weights are as close to the F16 source as llama.cpp's (within 5%), type by type.
#[test]
fn quantization_error_matches_llama_cpp() {
    let Some(src_path) = testkit::fixture("synth-tiny-k-F16.gguf") else { return };
    let src = open(&src_path);
    let dir = Scratch::new("rmse");
    let mut checked = 0;
    for ty in TYPES {
        let Some(theirs) = testkit::fixture(&format!("synth-tiny-k-{ty}.gguf")) else { return };
        let theirs = open(&theirs);
        let out = dir.path(&format!("{ty}.gguf"));
        quantize(&src, &out, FileType::parse(ty).unwrap(), &opts()).unwrap();
        let ours = open(&out);
        let (r_ours, r_theirs) = (rmse_vs_source(&ours, &src), rmse_vs_source(&theirs, &src));
        let identical = ours.tensors().iter().filter(|t| ours.tensor_data(t) == theirs.tensor_bytes(&t.name).unwrap()).count();
        eprintln!(
            "{ty:7} RMSE vs F16 source: aviary {r_ours:.6e}, llama.cpp {r_theirs:.6e} (ratio {:.4}); \
             {identical}/{} tensors byte-identical",
            r_ours / r_theirs,
            ours.tensors().len()
        );
        assert!(r_ours <= 1.05 * r_theirs, "{ty}: aviary RMSE {r_ours} vs llama.cpp {r_theirs}");
        checked += 1;
    }
    assert_eq!(checked, TYPES.len());
}

#[test]
fn float_targets_and_requantizing() {
    let Some(src) = testkit::fixture("synth-tiny-k-Q8_0.gguf") else { return };
    let src = open(&src);
    let dir = Scratch::new("float-targets");
    // Q8_0 -> F16: matrices decoded to F16; excluded tensors stay as they are.
    let out = dir.path("f16.gguf");
    let report = quantize(&src, &out, FileType::F16, &opts()).unwrap();
    assert!(report.warnings.is_empty(), "decoding to a float type is not requantizing");
    let f16 = open(&out);
    assert_eq!(f16.tensor("blk.0.time_mix_key.weight").unwrap().ty, GgmlType::F16);
    assert_eq!(f16.tensor("output.weight").unwrap().ty, GgmlType::F16);
    assert_eq!(f16.tensor("blk.0.time_mix_w1.weight").unwrap().ty, GgmlType::F32);
    assert_eq!(f16.get_u64("general.file_type").unwrap(), Some(1));
    let (a, b) = (values(&f16, "blk.1.channel_mix_key.weight"), values(&src, "blk.1.channel_mix_key.weight"));
    assert!(testkit::max_abs_diff(&a, &b) < 1e-3);

    // Q8_0 -> Q4_K_M: requantizing warns (once, with the count).
    let out = dir.path("q4km.gguf");
    let report = quantize(&src, &out, FileType::Q4_K_M, &opts()).unwrap();
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(report.warnings[0].contains("requantizing 14 tensors") && report.warnings[0].contains("14 Q8_0"), "{:?}", report.warnings);
    assert_eq!(report.type_counts()[&GgmlType::Q4_K], 13);
    assert!(report.to_string().contains("Q4_K 13, Q6_K 1"), "{report}");
}

#[test]
fn bad_inputs_and_outputs() {
    let Some(src) = testkit::fixture("synth-tiny-k-F16.gguf") else { return };
    let src = open(&src);
    let dir = Scratch::new("bad");
    let out = dir.path("out.gguf");
    std::fs::write(&out, b"keep me").unwrap();
    let err = quantize(&src, &out, FileType::Q8_0, &opts()).unwrap_err().to_string();
    assert!(err.contains("already exists") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    quantize(&src, &out, FileType::Q8_0, &WriteOptions { force: true, ..opts() }).unwrap();
    assert_eq!(open(&out).get_u64("general.file_type").unwrap(), Some(7));

    let missing_dir = dir.path("no/such/dir/out.gguf");
    let err = quantize(&src, &missing_dir, FileType::Q8_0, &opts()).unwrap_err().to_string();
    assert!(err.contains("cannot write into directory") && err.contains("no/such/dir"), "{err}");

    // A file that is not RWKV-7.
    let mut w = gguf::GgufWriter::new();
    w.add_kv("general.architecture", gguf::Value::String("llama".into()));
    w.add_tensor("token_embd.weight", &[32, 2], GgmlType::F32, vec![0; 256]).unwrap();
    let llama = GgufFile::from_bytes(w.to_bytes()).unwrap();
    let err = quantize(&llama, &dir.path("llama.gguf"), FileType::Q8_0, &opts()).unwrap_err().to_string();
    assert!(err.contains("'llama'") && err.contains("rwkv7"), "{err}");
    assert!(!dir.path("llama.gguf").exists());

    let err = FileType::parse("Q4_K_X").unwrap_err().to_string();
    assert!(err.contains("Q4_K_X") && err.contains("Q4_K_M") && err.contains("Q8_0"), "{err}");
}
