//! gguf: read and write GGUF files (versions 2 and 3, little-endian). Knows nothing about RWKV.
//!
//! [`GgufFile`] memory-maps a file and validates all of it at open: magic and version, every
//! metadata record, every tensor-info record (shape, type, alignment) and that every tensor's
//! data lies inside the file. After that, metadata lookups and tensor byte slices cannot fail,
//! except typed getters reporting a key of the wrong type. [`GgufWriter`] builds files in memory;
//! [`GgufStreamWriter`] writes files larger than memory tensor by tensor.
//!
//! Out of scope: what keys and tensors mean (the `model` crate), decoding tensor data (the
//! `quant` crate), big-endian GGUF (recognised and rejected), GGUF v1 (rejected).

mod error;
mod file;
mod ggml_type;
mod parse;
mod tensor_info;
mod value;
mod writer;

pub use error::{GgufError, MEMORY_SOURCE, WRITER_SOURCE};
pub use file::GgufFile;
pub use ggml_type::GgmlType;
pub use tensor_info::{TensorInfo, MAX_DIMS};
pub use value::{Value, ValueType};
pub use writer::{GgufStreamWriter, GgufWriter};

/// The alignment of the data section when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = parse::DEFAULT_ALIGNMENT;
