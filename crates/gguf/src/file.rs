//! An opened, fully validated GGUF file: metadata lookup with typed getters, and zero-copy access
//! to tensor bytes in a memory map (or an owned buffer for in-memory files).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::error::MEMORY_SOURCE;
use crate::parse::{parse, Header};
use crate::{GgufError, TensorInfo, Value, ValueType};

/// Where the file's bytes live. Shared so clones of a [`GgufFile`] do not copy or re-map.
enum ByteSource {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl ByteSource {
    fn bytes(&self) -> &[u8] {
        match self {
            ByteSource::Mapped(m) => m,
            ByteSource::Owned(v) => v,
        }
    }
}

/// A GGUF file whose header, metadata and tensor table were validated when it was opened.
#[derive(Clone)]
pub struct GgufFile {
    source: Arc<ByteSource>,
    name: String,
    version: u32,
    alignment: u64,
    data_offset: u64,
    metadata: Vec<(String, Value)>,
    key_index: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
}

impl GgufFile {
    /// Memory-maps and validates a file. All checks happen here; later accessors cannot fail.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile, GgufError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|e| GgufError::io(&name, "opening", e))?;
        let len = file
            .metadata()
            .map_err(|e| GgufError::io(&name, "reading metadata", e))?
            .len();
        let source = if len == 0 {
            // Mapping an empty file fails on some platforms; an empty buffer gives the proper error.
            ByteSource::Owned(Vec::new())
        } else {
            // SAFETY: the map is read-only. As with every mmap-based model loader, another process
            // truncating or rewriting the file while it is open is outside what we can guard against.
            let map = unsafe { memmap2::Mmap::map(&file) }
                .map_err(|e| GgufError::io(&name, "memory-mapping", e))?;
            ByteSource::Mapped(map)
        };
        Self::from_source(source, name)
    }

    /// Validates a file held in memory; its source name is `<memory>`.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
        Self::from_source(ByteSource::Owned(bytes), MEMORY_SOURCE.to_string())
    }

    fn from_source(source: ByteSource, name: String) -> Result<GgufFile, GgufError> {
        let Header {
            version,
            alignment,
            data_offset,
            metadata,
            key_index,
            tensors,
            tensor_index,
        } = parse(source.bytes(), &name)?;
        Ok(GgufFile {
            source: Arc::new(source),
            name,
            version,
            alignment,
            data_offset,
            metadata,
            key_index,
            tensors,
            tensor_index,
        })
    }

    /// The path the file was opened from, or `<memory>`; for messages.
    pub fn source_name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    pub fn file_size(&self) -> u64 {
        self.as_bytes().len() as u64
    }

    /// Absolute file offset of the data section.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// The whole file.
    pub fn as_bytes(&self) -> &[u8] {
        self.source.bytes()
    }

    /// Metadata in file order.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.key_index.get(key).map(|&i| &self.metadata[i].1)
    }

    /// Looks up `key` and converts it with `convert`; a present value that does not convert is a
    /// [`GgufError::KeyType`] naming what was expected.
    fn typed<'a, T>(
        &'a self,
        key: &str,
        expected: &'static str,
        convert: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<Option<T>, GgufError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        match convert(value) {
            Some(v) => Ok(Some(v)),
            None => Err(GgufError::KeyType {
                path: self.name.clone(),
                key: key.into(),
                expected,
                found: value.describe(),
            }),
        }
    }

    /// Any integer type with a non-negative value.
    pub fn get_u64(&self, key: &str) -> Result<Option<u64>, GgufError> {
        self.typed(key, "a non-negative integer", Value::as_u64)
    }

    /// Any integer type whose value fits in i64.
    pub fn get_i64(&self, key: &str) -> Result<Option<i64>, GgufError> {
        self.typed(key, "an integer", Value::as_i64)
    }

    /// F32, F64 or any integer type, converted to f32.
    pub fn get_f32(&self, key: &str) -> Result<Option<f32>, GgufError> {
        self.typed(key, "a number", |v| v.as_f64().map(|x| x as f32))
    }

    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, GgufError> {
        self.typed(key, "a bool", Value::as_bool)
    }

    pub fn get_str(&self, key: &str) -> Result<Option<&str>, GgufError> {
        self.typed(key, "a string", Value::as_str)
    }

    /// An array of strings.
    pub fn get_str_array(&self, key: &str) -> Result<Option<Vec<&str>>, GgufError> {
        self.typed(key, "an array of strings", |v| match v {
            Value::Array(ValueType::String, items) => items.iter().map(Value::as_str).collect(),
            _ => None,
        })
    }

    /// An array of any integer element type whose values fit in i64.
    pub fn get_i64_array(&self, key: &str) -> Result<Option<Vec<i64>>, GgufError> {
        self.typed(
            key,
            "an array of integers (each fitting in i64)",
            |v| match v {
                Value::Array(t, items) if t.is_integer() => {
                    items.iter().map(Value::as_i64).collect()
                }
                _ => None,
            },
        )
    }

    /// An array of F32, F64 or integer elements, converted to f32.
    pub fn get_f32_array(&self, key: &str) -> Result<Option<Vec<f32>>, GgufError> {
        self.typed(key, "an array of numbers", |v| match v {
            Value::Array(t, items)
                if t.is_integer() || matches!(t, ValueType::F32 | ValueType::F64) =>
            {
                items.iter().map(|x| x.as_f64().map(|f| f as f32)).collect()
            }
            _ => None,
        })
    }

    /// Tensor infos in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    /// Absolute file offset of a tensor's first byte.
    pub fn tensor_file_offset(&self, t: &TensorInfo) -> u64 {
        self.data_offset + t.offset
    }

    /// Exactly `t.n_bytes()` bytes of the tensor's data (bounds were checked at open).
    ///
    /// `t` must come from this file's [`GgufFile::tensors`]; passing another file's info panics
    /// if its range lies outside this file.
    pub fn tensor_data(&self, t: &TensorInfo) -> &[u8] {
        let start = (self.data_offset + t.offset) as usize;
        &self.as_bytes()[start..start + t.n_bytes() as usize]
    }

    pub fn tensor_bytes(&self, name: &str) -> Option<&[u8]> {
        self.tensor(name).map(|t| self.tensor_data(t))
    }
}

impl fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GgufFile")
            .field("source", &self.name)
            .field("version", &self.version)
            .field("file_size", &self.file_size())
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}
