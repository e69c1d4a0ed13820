//! Shared helpers of the convert tests: fixtures, scratch directories, file comparison.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use convert::{SynthSpec, WorldVocab};
use gguf::{GgmlType, GgufFile};

/// The World vocabulary from the shared fixtures, or `None` (skipped loudly by testkit) when absent.
pub fn world_vocab() -> Option<WorldVocab> {
    let path = testkit::fixture("tokenizer/rwkv_vocab_v20230424.txt")?;
    Some(WorldVocab::from_file(&path).expect("the fixture vocabulary loads"))
}

/// A fresh scratch directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("aviary-convert-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The model of the synth-tiny-k fixtures: L2 C256, ranks 32/32/32/64, vocab 512.
pub fn tiny_k_spec() -> SynthSpec {
    SynthSpec {
        label: "Tiny K Seed0".into(), // the fixture's general.name is "Rwkv7 Synthetic Tiny K Seed0"
        n_layer: 2,
        n_embd: 256,
        n_ffn: 1024,
        head_size: 64,
        decay_lora_rank: 32,
        iclr_lora_rank: 32,
        value_lora_rank: 32,
        gate_lora_rank: 64,
        n_vocab: 512,
        seed: 0,
    }
}

/// (name, dims, type) of every tensor, in file order.
pub fn layout(file: &GgufFile) -> Vec<(String, Vec<u64>, GgmlType)> {
    file.tensors().iter().map(|t| (t.name.clone(), t.dims.clone(), t.ty)).collect()
}

pub fn keys(file: &GgufFile) -> Vec<String> {
    file.metadata().iter().map(|(k, _)| k.clone()).collect()
}

/// A tensor decoded to f32.
pub fn values(file: &GgufFile, name: &str) -> Vec<f32> {
    let t = file.tensor(name).unwrap_or_else(|| panic!("{} has no tensor {name}", file.source_name()));
    let mut out = vec![0f32; t.n_elements() as usize];
    quant::dequantize_row(t.ty, file.tensor_data(t), &mut out).unwrap();
    out
}

pub fn open(path: &Path) -> GgufFile {
    GgufFile::open(path).unwrap_or_else(|e| panic!("{e}"))
}
