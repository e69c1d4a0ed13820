//! convert: write RWKV GGUF models — deterministic synthetic RWKV-7 models and quantization with
//! llama-quantize's per-tensor type rules.
//!
//! - [`write_synth`] generates a random-weight RWKV-7 model ([`Preset`]s from 0.1B to 7.2B plus `tiny`)
//!   with the World vocabulary, laid out exactly as llama.cpp's converter (and, for quantized types,
//!   `llama-quantize`) would write it; [`cached_synth`] keeps generated models in aviary's cache for
//!   `synth:<preset>[:<type>]` model specs.
//! - [`quantize`] converts an RWKV-7 GGUF file to another [`FileType`] with the same per-tensor types,
//!   tensor order and metadata as `llama-quantize` ([`rules`] documents what applies to RWKV).
//! - [`WorldVocab`] finds the World vocabulary at run time (it is not part of the repository).
//!
//! Files are streamed (only the tensors in flight are in memory), computed in parallel with rayon, and
//! written under a temporary name that is renamed when complete.
//!
//! Out of scope: converting PyTorch/safetensors checkpoints, importance-matrix (imatrix) quantization,
//! IQ/TQ/MXFP4 types, the `--pure`/`--tensor-type`/`--output-tensor-type` overrides of llama-quantize,
//! and other architectures than RWKV-7.

// `is_multiple_of` needs Rust 1.87; the workspace supports 1.80.
#![allow(clippy::manual_is_multiple_of)]

mod atomic;
mod cache;
mod chat_template;
mod error;
mod file_type;
mod quantize;
mod report;
pub mod rules;
pub mod synth;
mod threads;
mod vocab;
mod write;

pub use cache::{cache_dir, cached_synth, cached_synth_in, synth_cache_path, SynthRequest, CACHE_ENV};
pub use chat_template::RWKV_WORLD_CHAT_TEMPLATE;
pub use error::ConvertError;
pub use file_type::FileType;
pub use quantize::{plan_types, quantize, quantize_file, quantized_metadata};
pub use report::{TensorSummary, WriteReport};
pub use synth::{write_synth, Preset, SynthSpec, GENERATOR_VERSION};
pub use vocab::{download_world_vocab, escape_token, locate_world_vocab, WorldVocab, WORLD_N_VOCAB, WORLD_VOCAB_ENTRIES, WORLD_VOCAB_ENV, WORLD_VOCAB_FILE};

/// How to write an output file.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// Overwrite an existing output file.
    pub force: bool,
    /// Draw a progress bar on stderr (only when stderr is a terminal).
    pub progress: bool,
    /// Worker threads; 0 = rayon's default (one per core).
    pub threads: usize,
}
