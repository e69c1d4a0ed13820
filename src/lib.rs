//! aviary: an inference engine for RWKV language models stored as GGUF. This crate is the library
//! facade (open a model on a backend, with its tokenizer) and the `aviary` command line.
//!
//! The work is done by the workspace crates: `gguf` (the container), `quant` (block formats),
//! `model` (the RWKV definition and the backend op set), `cpu` (the CPU backend), `tokenizer` (RWKV
//! World) and `engine` (sampling and generation).

pub mod bench;
pub mod legacy;
mod loader;
mod model_spec;

pub use model_spec::resolve_model;
pub use loader::{load, load_gguf, tokenizer_from_gguf, with_state_tuning, Backend, LoadError, LoadOptions, Loaded};

pub use engine;
pub use gguf;
pub use model;
pub use tokenizer;
