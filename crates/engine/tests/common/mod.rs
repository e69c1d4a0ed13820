//! Loading fixture models straight onto the cpu backend (the engine cannot use the root facade).

#![allow(dead_code)]

use std::sync::Arc;

use gguf::GgufFile;
use model::{Model, Rwkv7Runner};
use tokenizer::Tokenizer;

/// The fast fixture with a 512-token World vocabulary.
pub const WORLD: &str = "synth-tiny-k-F32.gguf";
/// A byte-level model (vocab 256) without a GGUF tokenizer... as far as the engine cares.
pub const BYTES: &str = "tiny-rwkv7-834K-F32.gguf";

pub type Loaded = (Box<dyn Model>, Option<Arc<Tokenizer>>);

pub fn load(name: &str) -> Option<Loaded> {
    let path = testkit::fixture(name)?;
    let file = Arc::new(GgufFile::open(&path).expect("open fixture"));
    let tokenizer = file.get_str_array("tokenizer.ggml.tokens").expect("tokens key").map(|tokens| {
        let types = file.get_i64_array("tokenizer.ggml.token_type").expect("types key");
        Arc::new(Tokenizer::from_gguf_tokens(&tokens, types.as_deref()).expect("tokenizer"))
    });
    let model = Rwkv7Runner::load(file, cpu::CpuBackend::new(1).expect("cpu backend")).expect("load");
    Some((Box::new(model), tokenizer))
}

/// A seeded prompt of `n` tokens in `1..n_vocab`.
pub fn prompt(seed: u64, n: usize, n_vocab: usize) -> Vec<u32> {
    let mut rng = testkit::TestRng::new(seed);
    (0..n).map(|_| 1 + (rng.next_u64() % (n_vocab as u64 - 1)) as u32).collect()
}
