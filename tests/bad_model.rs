//! Bad model files give clear errors that name the file, key or tensor and what was expected and
//! found; they never panic. Each case rewrites a fixture in memory.

use std::sync::Arc;

use aviary::gguf::{GgmlType, GgufFile, GgufWriter, Value};
use aviary::model::{LogitsMode, ModelError};
use aviary::{load_gguf, LoadError, LoadOptions};

struct Tensor {
    name: String,
    dims: Vec<u64>,
    ty: GgmlType,
    data: Vec<u8>,
}

/// Reads a fixture, lets `edit` change its metadata and tensors, and loads the result.
fn load_edited(
    stem: &str,
    edit: impl FnOnce(&mut Vec<(String, Value)>, &mut Vec<Tensor>),
) -> Option<Result<aviary::Loaded, LoadError>> {
    let path = testkit::fixture(&format!("{stem}.gguf"))?;
    let file = GgufFile::open(path).unwrap();
    let mut kv: Vec<(String, Value)> = file.metadata().to_vec();
    let mut tensors: Vec<Tensor> = file
        .tensors()
        .iter()
        .map(|t| Tensor { name: t.name.clone(), dims: t.dims.clone(), ty: t.ty, data: file.tensor_data(t).to_vec() })
        .collect();
    edit(&mut kv, &mut tensors);
    let mut w = GgufWriter::new();
    for (k, v) in kv {
        w.add_kv(k, v);
    }
    for t in tensors {
        w.add_tensor(t.name, &t.dims, t.ty, t.data).unwrap();
    }
    let file = GgufFile::from_bytes(w.to_bytes()).unwrap();
    Some(load_gguf(Arc::new(file), &LoadOptions { threads: 1, ..Default::default() }))
}

fn expect_err(stem: &str, edit: impl FnOnce(&mut Vec<(String, Value)>, &mut Vec<Tensor>), needles: &[&str]) {
    let Some(result) = load_edited(stem, edit) else { return };
    let msg = match result {
        Ok(_) => panic!("expected an error containing {needles:?}, but the model loaded"),
        Err(e) => e.to_string(),
    };
    for n in needles {
        assert!(msg.contains(n), "error {msg:?} does not mention {n:?}");
    }
}

fn set(kv: &mut [(String, Value)], key: &str, value: Value) {
    kv.iter_mut().find(|(k, _)| k == key).unwrap_or_else(|| panic!("fixture lacks {key}")).1 = value;
}

const STEM: &str = "synth-tiny-k-F32";

#[test]
fn unsupported_architecture() {
    for arch in ["llama", "rwkv6qwen2", "arwkv7"] {
        expect_err(
            STEM,
            |kv, _| set(kv, "general.architecture", Value::String(arch.into())),
            &[&format!("architecture '{arch}' is not supported")],
        );
    }
    // rwkv6 is supported: an RWKV-7 file relabelled as rwkv6 lacks rwkv6's keys.
    expect_err(
        STEM,
        |kv, _| set(kv, "general.architecture", Value::String("rwkv6".into())),
        &["missing required metadata key 'rwkv6.embedding_length'"],
    );
}

#[test]
fn missing_key() {
    expect_err(STEM, |kv, _| kv.retain(|(k, _)| k != "rwkv7.block_count"), &["rwkv7.block_count", "missing"]);
}

#[test]
fn head_size_must_divide_width() {
    expect_err(STEM, |kv, _| set(kv, "rwkv7.wkv.head_size", Value::U32(48)), &["rwkv7.wkv.head_size", "48"]);
}

#[test]
fn more_layers_than_tensors() {
    expect_err(STEM, |kv, _| set(kv, "rwkv7.block_count", Value::U32(3)), &["missing required tensor", "blk.2."]);
}

#[test]
fn missing_tensor() {
    expect_err(
        STEM,
        |_, t| t.retain(|t| t.name != "blk.1.time_mix_key.weight"),
        &["missing required tensor 'blk.1.time_mix_key.weight'"],
    );
}

#[test]
fn shape_mismatch() {
    expect_err(
        STEM,
        |_, tensors| {
            let t = tensors.iter_mut().find(|t| t.name == "blk.0.time_mix_key.weight").unwrap();
            t.dims = vec![256, 255];
            t.data.truncate(256 * 255 * 4);
        },
        &["blk.0.time_mix_key.weight", "[256, 255]", "expected [256, 256]"],
    );
}

#[test]
fn lerp_fused_needs_six_vectors() {
    expect_err(
        STEM,
        |_, tensors| {
            let t = tensors.iter_mut().find(|t| t.name == "blk.1.time_mix_lerp_fused.weight").unwrap();
            t.dims = vec![256, 1, 1, 5];
            t.data.truncate(256 * 5 * 4);
        },
        &["blk.1.time_mix_lerp_fused.weight", "expected [256, 1, 1, 6]"],
    );
}

#[test]
fn unsupported_tensor_type() {
    expect_err(
        STEM,
        |_, tensors| {
            let t = tensors.iter_mut().find(|t| t.name == "token_embd.weight").unwrap();
            t.ty = GgmlType::IQ4_NL;
            t.data = vec![0; (256 / 32) * 18 * 512];
        },
        &["unsupported tensor type IQ4_NL in tensor 'token_embd.weight'"],
    );
}

#[test]
fn vocabulary_size_mismatch() {
    expect_err(
        STEM,
        |kv, _| {
            let (_, v) = kv.iter_mut().find(|(k, _)| k == "tokenizer.ggml.tokens").unwrap();
            if let Value::Array(_, items) = v {
                items.pop();
            }
            kv.retain(|(k, _)| k != "tokenizer.ggml.token_type");
        },
        &["tokenizer.ggml.tokens", "511 tokens", "512"],
    );
}

#[test]
fn token_ids_out_of_range_and_empty_input() {
    let Some(loaded) = load_edited(STEM, |_, _| {}) else { return };
    let mut loaded = loaded.unwrap();
    let model = loaded.model.as_mut();
    let state = model.new_state().unwrap();
    let err = model.forward(state, &[1, 512], LogitsMode::Last).unwrap_err();
    assert!(matches!(err, ModelError::TokenOutOfRange { token: 512, n_vocab: 512 }), "{err}");
    assert!(err.to_string().contains("512"));
    let err = model.forward(state, &[], LogitsMode::Last).unwrap_err();
    assert!(matches!(err, ModelError::EmptyInput), "{err}");
    // The failed calls left the state untouched: it still equals a fresh one.
    let fresh = model.new_state().unwrap();
    assert_eq!(model.save_state(state).unwrap(), model.save_state(fresh).unwrap());
}
