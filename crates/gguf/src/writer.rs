//! Writing GGUF v3 (little-endian): [`GgufWriter`] builds a whole file in memory (tests, small
//! files); [`GgufStreamWriter`] writes the header first and then streams each tensor's bytes, for
//! files larger than memory. Both lay tensors out the way llama.cpp and gguf-py do: in declaration
//! order, each starting at the previous one's end rounded up to the alignment, with zero padding
//! after the header and after every tensor.

use std::io::Write;
use std::path::Path;

use crate::error::WRITER_SOURCE;
use crate::parse::{align_up, ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC};
use crate::tensor_info::checked_tensor_bytes;
use crate::{GgmlType, GgufError, Value};

const WRITE_VERSION: u32 = 3;

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Encodes a value without its type id. Arrays are assumed consistent (checked by the callers).
fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::U8(v) => out.push(*v),
        Value::I8(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Bool(v) => out.push(u8::from(*v)),
        Value::String(s) => put_string(out, s),
        Value::Array(elem, items) => {
            out.extend_from_slice(&elem.id().to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                put_value(out, item);
            }
        }
        Value::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
    }
}

/// A tensor's declaration as the header needs it.
struct TensorDecl<'a> {
    name: &'a str,
    dims: &'a [u64],
    ty: GgmlType,
    n_bytes: u64,
}

/// The header through the padding before the data section, with each tensor's offset assigned.
/// No validation: callers have checked names, shapes and arrays.
fn encode_header(metadata: &[(String, Value)], tensors: &[TensorDecl], alignment: u64) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&WRITE_VERSION.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    for (key, value) in metadata {
        put_string(&mut out, key);
        out.extend_from_slice(&value.value_type().id().to_le_bytes());
        put_value(&mut out, value);
    }
    let mut offset = 0u64;
    for t in tensors {
        put_string(&mut out, t.name);
        out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
        for d in t.dims {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&t.ty.id().to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        offset = padded_len(offset + t.n_bytes, alignment);
    }
    out.resize(padded_len(out.len() as u64, alignment) as usize, 0);
    out
}

fn padded_len(len: u64, alignment: u64) -> u64 {
    align_up(len, alignment).expect("GGUF sizes stay far below u64::MAX")
}

fn write_padding(w: &mut impl Write, len: u64, alignment: u64) -> std::io::Result<()> {
    const ZEROS: [u8; 64] = [0; 64];
    let mut pad = padded_len(len, alignment) - len;
    while pad > 0 {
        let n = pad.min(ZEROS.len() as u64);
        w.write_all(&ZEROS[..n as usize])?;
        pad -= n;
    }
    Ok(())
}

/// Builds a GGUF v3 file in memory.
///
/// Metadata keeps insertion order. `general.alignment` is kept in step with the layout: setting a
/// valid power-of-two value through [`GgufWriter::add_kv`] changes the layout alignment, and any
/// other value is written as given (so tests can build files a reader must reject).
#[derive(Clone, Debug)]
pub struct GgufWriter {
    alignment: u64,
    metadata: Vec<(String, Value)>,
    tensors: Vec<(String, Vec<u64>, GgmlType, Vec<u8>)>,
}

impl Default for GgufWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl GgufWriter {
    /// An empty writer: version 3, alignment 32.
    pub fn new() -> Self {
        GgufWriter {
            alignment: DEFAULT_ALIGNMENT,
            metadata: Vec::new(),
            tensors: Vec::new(),
        }
    }

    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Sets the data alignment, and records it as `general.alignment` (u32) when it is not the
    /// default 32 or the key is already present.
    ///
    /// Panics unless `a` is a power of two that fits in u32 (a programming error, not input).
    pub fn set_alignment(&mut self, a: u64) {
        assert!(
            a.is_power_of_two() && a <= u32::MAX as u64,
            "GGUF alignment must be a power of two in u32, got {a}"
        );
        self.alignment = a;
        if a != DEFAULT_ALIGNMENT || self.metadata.iter().any(|(k, _)| k == ALIGNMENT_KEY) {
            self.put_kv(ALIGNMENT_KEY.to_string(), Value::U32(a as u32));
        }
    }

    /// Adds a key, or replaces an existing key's value in place (keeping its position).
    ///
    /// Panics if an array's elements do not all have its declared element type (a programming error).
    pub fn add_kv(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        if let Err(problem) = value.check_array_types() {
            panic!("GgufWriter::add_kv: metadata array '{key}' {problem}");
        }
        if key == ALIGNMENT_KEY {
            if let Some(a) = value
                .as_u64()
                .filter(|a| a.is_power_of_two() && *a <= u32::MAX as u64)
            {
                self.alignment = a;
            }
        }
        self.put_kv(key, value);
    }

    fn put_kv(&mut self, key: String, value: Value) {
        match self.metadata.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.metadata.push((key, value)),
        }
    }

    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Appends a tensor. Checks the shape (1..=4 dims, ne[0] a whole number of blocks), that the
    /// name is new, and that `data` has exactly the tensor's byte size.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        dims: &[u64],
        ty: GgmlType,
        data: Vec<u8>,
    ) -> Result<(), GgufError> {
        let name = name.into();
        if self.tensors.iter().any(|t| t.0 == name) {
            return Err(GgufError::DuplicateTensor {
                path: WRITER_SOURCE.into(),
                name,
                offset: None,
            });
        }
        let expected = checked_tensor_bytes(WRITER_SOURCE, &name, dims, ty)?;
        if data.len() as u64 != expected {
            return Err(GgufError::TensorDataSize {
                path: WRITER_SOURCE.into(),
                tensor: name,
                ty,
                dims: dims.to_vec(),
                expected,
                found: data.len() as u64,
            });
        }
        self.tensors.push((name, dims.to_vec(), ty, data));
        Ok(())
    }

    /// Number of tensors added so far.
    pub fn tensor_count(&self) -> usize {
        self.tensors.len()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out)
            .expect("writing to a Vec cannot fail");
        out
    }

    pub fn write_to(&self, w: &mut impl Write) -> std::io::Result<()> {
        let decls: Vec<TensorDecl> = self
            .tensors
            .iter()
            .map(|(name, dims, ty, data)| TensorDecl {
                name,
                dims,
                ty: *ty,
                n_bytes: data.len() as u64,
            })
            .collect();
        w.write_all(&encode_header(&self.metadata, &decls, self.alignment))?;
        for (_, _, _, data) in &self.tensors {
            w.write_all(data)?;
            write_padding(w, data.len() as u64, self.alignment)?;
        }
        Ok(())
    }

    pub fn write_file(&self, path: impl AsRef<Path>) -> Result<(), GgufError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let file = std::fs::File::create(path).map_err(|e| GgufError::io(&name, "creating", e))?;
        let mut w = std::io::BufWriter::new(file);
        self.write_to(&mut w)
            .map_err(|e| GgufError::io(&name, "writing", e))?;
        w.into_inner()
            .map_err(|e| GgufError::io(&name, "writing", e.into_error()))?
            .sync_all()
            .map_err(|e| GgufError::io(&name, "syncing", e))
    }
}

/// Streams a GGUF v3 file: the header (with every tensor's info) is written by [`Self::new`], then
/// each tensor's bytes in declaration order through [`Self::write_tensor_data`]; padding is
/// inserted automatically. [`Self::finish`] checks that every declared tensor was written.
pub struct GgufStreamWriter<W: Write> {
    w: W,
    alignment: u64,
    /// (name, dims, type, byte size) of every declared tensor.
    tensors: Vec<(String, Vec<u64>, GgmlType, u64)>,
    next: usize,
}

impl<W: Write> GgufStreamWriter<W> {
    /// Validates the declarations and writes the header. `alignment` must be a power of two; it
    /// is recorded as `general.alignment` when it is not 32 and the metadata does not already say
    /// so (a `general.alignment` entry with a different value is an error).
    pub fn new(
        mut w: W,
        metadata: &[(String, Value)],
        tensors: &[(String, Vec<u64>, GgmlType)],
        alignment: u64,
    ) -> Result<Self, GgufError> {
        let path = WRITER_SOURCE;
        if !alignment.is_power_of_two() || alignment > u32::MAX as u64 {
            return Err(GgufError::BadAlignment {
                path: path.into(),
                found: format!("U64 {alignment}"),
            });
        }
        let mut meta = metadata.to_vec();
        validate_metadata(&meta)?;
        match meta.iter().find(|(k, _)| k == ALIGNMENT_KEY) {
            Some((_, v)) if v.as_u64() != Some(alignment) => {
                return Err(GgufError::AlignmentConflict {
                    path: path.into(),
                    found: v.describe(),
                    alignment,
                });
            }
            None if alignment != DEFAULT_ALIGNMENT => {
                meta.push((ALIGNMENT_KEY.into(), Value::U32(alignment as u32)));
            }
            _ => {}
        }

        let mut declared: Vec<(String, Vec<u64>, GgmlType, u64)> =
            Vec::with_capacity(tensors.len());
        for (name, dims, ty) in tensors {
            if declared.iter().any(|d| d.0 == *name) {
                return Err(GgufError::DuplicateTensor {
                    path: path.into(),
                    name: name.clone(),
                    offset: None,
                });
            }
            let n_bytes = checked_tensor_bytes(path, name, dims, *ty)?;
            declared.push((name.clone(), dims.clone(), *ty, n_bytes));
        }
        let decls: Vec<TensorDecl> = declared
            .iter()
            .map(|(name, dims, ty, n_bytes)| TensorDecl {
                name,
                dims,
                ty: *ty,
                n_bytes: *n_bytes,
            })
            .collect();
        let header = encode_header(&meta, &decls, alignment);
        w.write_all(&header)
            .map_err(|e| GgufError::io(path, "writing the header", e))?;
        Ok(GgufStreamWriter {
            w,
            alignment,
            tensors: declared,
            next: 0,
        })
    }

    /// Writes the next declared tensor's bytes (exactly its size) and the padding after them.
    pub fn write_tensor_data(&mut self, data: &[u8]) -> Result<(), GgufError> {
        let path = WRITER_SOURCE;
        let Some((name, dims, ty, n_bytes)) = self.tensors.get(self.next) else {
            return Err(GgufError::ExtraTensorData {
                path: path.into(),
                index: self.next,
                declared: self.tensors.len(),
                found: data.len() as u64,
            });
        };
        if data.len() as u64 != *n_bytes {
            return Err(GgufError::TensorDataSize {
                path: path.into(),
                tensor: name.clone(),
                ty: *ty,
                dims: dims.clone(),
                expected: *n_bytes,
                found: data.len() as u64,
            });
        }
        self.w
            .write_all(data)
            .map_err(|e| GgufError::io(path, "writing tensor data", e))?;
        write_padding(&mut self.w, *n_bytes, self.alignment)
            .map_err(|e| GgufError::io(path, "writing padding", e))?;
        self.next += 1;
        Ok(())
    }

    /// Name of the tensor whose data is expected next, if any.
    pub fn next_tensor(&self) -> Option<&str> {
        self.tensors.get(self.next).map(|t| t.0.as_str())
    }

    /// Flushes and returns the writer; an error if some declared tensors were not written.
    pub fn finish(mut self) -> Result<W, GgufError> {
        if let Some((next, ..)) = self.tensors.get(self.next) {
            return Err(GgufError::MissingTensorData {
                path: WRITER_SOURCE.into(),
                written: self.next,
                declared: self.tensors.len(),
                next: next.clone(),
            });
        }
        self.w
            .flush()
            .map_err(|e| GgufError::io(WRITER_SOURCE, "flushing", e))?;
        Ok(self.w)
    }
}

/// Unique keys and well-typed arrays.
fn validate_metadata(metadata: &[(String, Value)]) -> Result<(), GgufError> {
    let mut seen = std::collections::HashSet::with_capacity(metadata.len());
    for (key, value) in metadata {
        if !seen.insert(key.as_str()) {
            return Err(GgufError::DuplicateKey {
                path: WRITER_SOURCE.into(),
                key: key.clone(),
                offset: None,
            });
        }
        value
            .check_array_types()
            .map_err(|problem| GgufError::BadArray {
                path: WRITER_SOURCE.into(),
                key: key.clone(),
                problem,
            })?;
    }
    Ok(())
}
