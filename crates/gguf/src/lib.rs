//! gguf: read and write GGUF files (versions 2 and 3, little-endian). Knows nothing about RWKV.
//!
//! [`GgufFile`] memory-maps a file and validates all of it at open: magic and version, every
//! metadata record, every tensor-info record (shape, type, alignment) and that every tensor's
//! data lies inside the file. After that, metadata lookups and tensor byte slices cannot fail,
//! except typed getters reporting a key of the wrong type. [`GgufWriter`] builds files in memory;
//! [`GgufStreamWriter`] writes files larger than memory tensor by tensor.
//!
//! ```
//! use gguf::{GgmlType, GgufFile, GgufWriter, Value};
//!
//! let mut w = GgufWriter::new();
//! w.add_kv("general.architecture", Value::String("demo".into()));
//! w.add_tensor("w", &[4, 2], GgmlType::F32, vec![0u8; 32]).unwrap();
//! let f = GgufFile::from_bytes(w.to_bytes()).unwrap();
//! assert_eq!(f.get_str("general.architecture").unwrap(), Some("demo"));
//! assert_eq!(f.tensor_bytes("w").unwrap().len(), 32);
//! ```
//!
//! Out of scope: what keys and tensors mean (the `model` crate), decoding tensor data (the
//! `quant` crate), big-endian GGUF (recognised and rejected), GGUF v1 (rejected).

// `is_multiple_of` needs Rust 1.87; the workspace supports 1.80.
#![allow(clippy::manual_is_multiple_of)]

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
