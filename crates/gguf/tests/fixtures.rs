//! The shared fixture files (made by gguf-py and llama-quantize) load, match what their JSON
//! sidecars and the fixtures README say, and survive a rewrite with GgufWriter.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::assert_contains;
use gguf::{GgmlType, GgufFile, GgufWriter};

fn gguf_fixtures() -> Vec<PathBuf> {
    let Some(dir) = testkit::fixtures_dir() else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "gguf"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .gguf files in {}", dir.display());
    files
}

#[test]
fn every_fixture_loads_and_matches_its_json() {
    let files = gguf_fixtures();
    for path in &files {
        let f = GgufFile::open(path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.version(), 3, "{}", path.display());
        assert_eq!(f.get_str("general.architecture").unwrap(), Some("rwkv7"));
        assert_eq!(f.data_offset() % f.alignment(), 0);
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut end = f.data_offset();
        for t in f.tensors() {
            assert_eq!(f.tensor_data(t).len() as u64, t.n_bytes(), "{}", t.name);
            *counts.entry(t.ty.name().to_string()).or_default() += 1;
            // llama.cpp's layout: declaration order, each tensor at the previous end rounded up.
            assert_eq!(
                f.tensor_file_offset(t),
                end.next_multiple_of(f.alignment()),
                "{}",
                t.name
            );
            end = f.tensor_file_offset(t) + t.n_bytes();
        }
        assert_eq!(
            end.next_multiple_of(f.alignment()),
            f.file_size(),
            "{}",
            path.display()
        );

        let json_name = path.with_extension("json");
        let json = testkit::fixture_json(json_name.file_name().unwrap().to_str().unwrap()).unwrap();
        assert_eq!(json["bytes"].as_u64(), Some(f.file_size()));
        let expected: BTreeMap<String, u64> = json["tensor_type_counts"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect();
        assert_eq!(counts, expected, "{}", path.display());
        let n_vocab = json["n_vocab"].as_u64().unwrap() as usize;
        assert_eq!(
            f.get_str_array("tokenizer.ggml.tokens")
                .unwrap()
                .unwrap()
                .len(),
            n_vocab
        );
    }
    println!("checked {} fixture files", files.len());
}

#[test]
fn synth_tiny_k_f32_has_the_documented_contents() {
    let Some(path) = testkit::fixture("synth-tiny-k-F32.gguf") else {
        return;
    };
    let f = GgufFile::open(&path).unwrap();
    assert_eq!(f.source_name(), path.display().to_string());
    assert_eq!(f.file_size(), 8051936);
    assert_eq!(f.alignment(), 32);
    assert_eq!(f.get_str("general.architecture").unwrap(), Some("rwkv7"));
    assert_eq!(f.get_u64("rwkv7.embedding_length").unwrap(), Some(256));
    assert_eq!(f.get_u64("rwkv7.block_count").unwrap(), Some(2));
    assert_eq!(f.get_u64("rwkv7.context_length").unwrap(), Some(1048576));
    assert_eq!(f.get_u64("rwkv7.wkv.head_size").unwrap(), Some(64));
    assert_eq!(
        f.get_f32("rwkv7.attention.layer_norm_epsilon").unwrap(),
        Some(1e-5)
    );
    assert_eq!(f.get_str("tokenizer.ggml.model").unwrap(), Some("rwkv"));
    assert_eq!(f.get_u64("tokenizer.ggml.eot_token_id").unwrap(), Some(261));
    let tokens = f.get_str_array("tokenizer.ggml.tokens").unwrap().unwrap();
    assert_eq!(tokens.len(), 512);
    assert_eq!(tokens[0], "<s>");
    assert_eq!(tokens[261], "\\n\\n");
    let types = f
        .get_i64_array("tokenizer.ggml.token_type")
        .unwrap()
        .unwrap();
    assert_eq!(types.len(), 512);
    assert_eq!((types[0], types[1]), (3, 1), "CONTROL then NORMAL");
    // Keys in the documented file order.
    let keys: Vec<&str> = f
        .metadata()
        .iter()
        .map(|(k, _)| k.as_str())
        .take(3)
        .collect();
    assert_eq!(
        keys,
        ["general.architecture", "general.type", "general.name"]
    );

    let t = f.tensor("blk.0.time_mix_lerp_fused.weight").unwrap();
    assert_eq!(t.dims, [256, 1, 1, 6]);
    assert_eq!(t.ty, GgmlType::F32);
    assert_eq!(t.n_bytes(), 256 * 6 * 4);
    let emb = f.tensor("token_embd.weight").unwrap();
    assert_eq!(
        (emb.dims.as_slice(), emb.ty),
        (&[256u64, 512][..], GgmlType::F32)
    );
    let data = f.tensor_data(emb);
    let first = f32::from_le_bytes(data[..4].try_into().unwrap());
    assert!(first.is_finite());
    assert!(f.tensors().iter().all(|t| t.ty == GgmlType::F32));
}

#[test]
fn quantized_fixture_types_match_the_readme() {
    let Some(path) = testkit::fixture("synth-tiny-k-Q4_K_M.gguf") else {
        return;
    };
    let f = GgufFile::open(&path).unwrap();
    assert_eq!(f.get_u64("general.file_type").unwrap(), Some(15));
    assert_eq!(f.get_u64("general.quantization_version").unwrap(), Some(2));
    assert_eq!(f.tensor("output.weight").unwrap().ty, GgmlType::Q6_K);
    assert_eq!(
        f.tensor("blk.1.channel_mix_value.weight").unwrap().ty,
        GgmlType::Q4_K
    );
    assert_eq!(
        f.tensor("blk.1.time_mix_a1.weight").unwrap().ty,
        GgmlType::F16
    );
    assert_eq!(
        f.tensor("blk.1.time_mix_w1.weight").unwrap().ty,
        GgmlType::F32
    );
}

/// Rewrites a fixture's metadata and tensors with GgufWriter.
fn rewrite(f: &GgufFile) -> Vec<u8> {
    let mut w = GgufWriter::new();
    for (k, v) in f.metadata() {
        w.add_kv(k.clone(), v.clone());
    }
    for t in f.tensors() {
        w.add_tensor(t.name.clone(), &t.dims, t.ty, f.tensor_data(t).to_vec())
            .unwrap();
    }
    w.to_bytes()
}

#[test]
fn rewriting_fixtures_reproduces_them() {
    let files = gguf_fixtures();
    for path in &files {
        let f = GgufFile::open(path).unwrap();
        let bytes = rewrite(&f);
        let back = GgufFile::from_bytes(bytes.clone()).unwrap();
        assert_eq!(back.metadata(), f.metadata(), "{}", path.display());
        assert_eq!(back.tensors(), f.tensors(), "{}", path.display());
        assert_eq!(back.data_offset(), f.data_offset());
        for t in f.tensors() {
            assert_eq!(back.tensor_data(t), f.tensor_data(t), "{}", t.name);
        }
        // Our layout is the same as gguf-py's and llama.cpp's, so the bytes are too.
        assert!(
            bytes == f.as_bytes(),
            "{}: rewrite differs from the original bytes",
            path.display()
        );
    }
}

#[test]
fn a_lfs_pointer_on_disk_is_explained() {
    let dir = std::env::temp_dir().join(format!("gguf-lfs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.gguf");
    std::fs::write(
        &path,
        "version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 8051936\n",
    )
    .unwrap();
    let msg = GgufFile::open(&path).unwrap_err().to_string();
    assert_contains(
        &msg,
        &[
            &path.display().to_string(),
            "git-LFS pointer",
            "git lfs pull",
        ],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
