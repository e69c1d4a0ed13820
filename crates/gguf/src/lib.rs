//! gguf: read and write GGUF files (versions 2 and 3, little-endian). Knows nothing about RWKV.

mod ggml_type;

pub use ggml_type::GgmlType;
