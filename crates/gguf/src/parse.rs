//! Parsing and validating a GGUF header (spec §1.1–§1.5) from a byte slice.
//!
//! Everything is checked here, once, so that [`crate::GgufFile`] can hand out tensor data without
//! further checks: every read is bounds-checked against the slice, every claimed count is compared
//! with the bytes left before anything is allocated, and every tensor's data range must lie
//! inside the file.

use std::collections::HashMap;

use crate::tensor_info::{checked_tensor_bytes, MAX_DIMS};
use crate::{GgmlType, GgufError, TensorInfo, Value, ValueType};

pub(crate) const MAGIC: &[u8; 4] = b"GGUF";
pub(crate) const DEFAULT_ALIGNMENT: u64 = 32;
pub(crate) const ALIGNMENT_KEY: &str = "general.alignment";
const LFS_POINTER_PREFIX: &[u8] = b"version https://git-lfs.github.com/spec/v1";
/// Nested arrays are legal GGUF; the limit only keeps hostile files from exhausting the stack.
pub(crate) const MAX_ARRAY_DEPTH: usize = 8;
/// Smallest possible KV record: empty key (8), value type (4), one-byte value.
const MIN_KV_LEN: u64 = 8 + 4 + 1;
/// Smallest possible tensor-info record: empty name (8), n_dims (4), one dim (8), type (4), offset (8).
const MIN_TENSOR_INFO_LEN: u64 = 8 + 4 + 8 + 4 + 8;

/// A validated header.
pub(crate) struct Header {
    pub version: u32,
    pub alignment: u64,
    pub data_offset: u64,
    pub metadata: Vec<(String, Value)>,
    pub key_index: HashMap<String, usize>,
    pub tensors: Vec<TensorInfo>,
    pub tensor_index: HashMap<String, usize>,
}

/// A bounds-checked little-endian reader. `ctx` names the record being read, so a truncation
/// error can say e.g. "array length of value of key 'tokenizer.ggml.tokens'".
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a str,
    ctx: String,
}

impl<'a> Cursor<'a> {
    fn offset(&self) -> u64 {
        self.pos as u64
    }

    fn remaining(&self) -> u64 {
        (self.bytes.len() - self.pos) as u64
    }

    fn what(&self, field: &str) -> String {
        format!("{field} of {}", self.ctx)
    }

    fn take(&mut self, n: u64, field: &str) -> Result<&'a [u8], GgufError> {
        if n > self.remaining() {
            return Err(GgufError::Truncated {
                path: self.path.into(),
                what: self.what(field),
                offset: self.offset(),
                needed: n,
                file_size: self.bytes.len() as u64,
            });
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.bytes[start..self.pos])
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], GgufError> {
        let slice = self.take(N as u64, field)?;
        Ok(slice.try_into().expect("take returned exactly N bytes"))
    }

    fn u8(&mut self, field: &str) -> Result<u8, GgufError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u32(&mut self, field: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    /// Rejects a count whose elements cannot possibly fit in the rest of the file.
    fn check_count(
        &self,
        count: u64,
        min_each: u64,
        count_offset: u64,
        field: &str,
    ) -> Result<(), GgufError> {
        let min_bytes = count as u128 * min_each as u128;
        if min_bytes > self.remaining() as u128 {
            return Err(GgufError::CountTooLarge {
                path: self.path.into(),
                what: self.what(field),
                offset: count_offset,
                count,
                min_bytes,
                remaining: self.remaining(),
            });
        }
        Ok(())
    }

    fn string(&mut self, field: &str) -> Result<String, GgufError> {
        let len = self.u64(&format!("{field} length"))?;
        let start = self.offset();
        let bytes = self.take(len, field)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(GgufError::InvalidUtf8 {
                path: self.path.into(),
                what: self.what(field),
                offset: start,
            }),
        }
    }

    fn value_type(&mut self, field: &str) -> Result<ValueType, GgufError> {
        let offset = self.offset();
        let id = self.u32(field)?;
        ValueType::from_id(id).ok_or_else(|| GgufError::UnknownValueType {
            path: self.path.into(),
            what: self.what(field),
            offset,
            id,
        })
    }

    fn value(&mut self, ty: ValueType, depth: usize) -> Result<Value, GgufError> {
        Ok(match ty {
            ValueType::U8 => Value::U8(self.u8("u8 value")?),
            ValueType::I8 => Value::I8(self.u8("i8 value")? as i8),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.array("u16 value")?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.array("i16 value")?)),
            ValueType::U32 => Value::U32(self.u32("u32 value")?),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.array("i32 value")?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.array("f32 value")?)),
            ValueType::U64 => Value::U64(self.u64("u64 value")?),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.array("i64 value")?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.array("f64 value")?)),
            ValueType::Bool => {
                let offset = self.offset();
                match self.u8("bool value")? {
                    0 => Value::Bool(false),
                    1 => Value::Bool(true),
                    byte => {
                        return Err(GgufError::InvalidBool {
                            path: self.path.into(),
                            what: self.what("bool value"),
                            offset,
                            byte,
                        })
                    }
                }
            }
            ValueType::String => Value::String(self.string("string value")?),
            ValueType::Array => {
                let offset = self.offset();
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(GgufError::ArrayTooDeep {
                        path: self.path.into(),
                        what: self.ctx.clone(),
                        offset,
                        max_depth: MAX_ARRAY_DEPTH,
                    });
                }
                let elem = self.value_type("array element type")?;
                let count_offset = self.offset();
                let count = self.u64("array length")?;
                self.check_count(count, elem.min_encoded_len(), count_offset, "array length")?;
                let mut items = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    items.push(self.value(elem, depth + 1)?);
                }
                Value::Array(elem, items)
            }
        })
    }
}

/// Recognises the common ways a file is not GGUF at all, before reading the header.
fn check_magic(bytes: &[u8], path: &str) -> Result<(), GgufError> {
    if bytes.starts_with(LFS_POINTER_PREFIX) {
        return Err(GgufError::LfsPointer { path: path.into() });
    }
    if bytes.len() >= 4 && &bytes[..4] != MAGIC {
        return Err(GgufError::BadMagic {
            path: path.into(),
            found: show_start(bytes),
        });
    }
    Ok(())
}

/// The first bytes of a file, quoted when printable ASCII, else as hex.
fn show_start(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(4)];
    if head.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("\"{}\"", String::from_utf8_lossy(head))
    } else {
        let hex: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
        format!("bytes {}", hex.join(" "))
    }
}

fn check_version(version: u32, path: &str) -> Result<(), GgufError> {
    // A byte-swapped file's small version number lands in the high half (llama.cpp's heuristic).
    if version != 0 && version & 0xFFFF == 0 {
        return Err(GgufError::BigEndian {
            path: path.into(),
            raw: version,
        });
    }
    if !(2..=3).contains(&version) {
        return Err(GgufError::UnsupportedVersion {
            path: path.into(),
            version,
        });
    }
    Ok(())
}

/// `general.alignment`, or 32 when absent. Any integer type is accepted (llama.cpp insists on u32)
/// since the width does not change the meaning; the value must be a power of two.
fn alignment_from(
    metadata: &[(String, Value)],
    key_index: &HashMap<String, usize>,
    path: &str,
) -> Result<u64, GgufError> {
    let Some(&i) = key_index.get(ALIGNMENT_KEY) else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    let value = &metadata[i].1;
    match value.as_u64() {
        Some(a) if a.is_power_of_two() && a <= u32::MAX as u64 => Ok(a),
        _ => Err(GgufError::BadAlignment {
            path: path.into(),
            found: value.describe(),
        }),
    }
}

pub(crate) fn align_up(x: u64, alignment: u64) -> Option<u64> {
    x.checked_next_multiple_of(alignment)
}

pub(crate) fn parse(bytes: &[u8], path: &str) -> Result<Header, GgufError> {
    check_magic(bytes, path)?;
    let mut c = Cursor {
        bytes,
        pos: 0,
        path,
        ctx: "header".into(),
    };
    c.take(4, "magic")?;
    let version = c.u32("version")?;
    check_version(version, path)?;
    let n_tensors_offset = c.offset();
    let n_tensors = c.u64("tensor count")?;
    let n_kv_offset = c.offset();
    let n_kv = c.u64("metadata count")?;
    c.check_count(n_kv, MIN_KV_LEN, n_kv_offset, "metadata count")?;

    let mut metadata = Vec::with_capacity(n_kv as usize);
    let mut key_index = HashMap::with_capacity(n_kv as usize);
    for i in 0..n_kv {
        let record_offset = c.offset();
        c.ctx = format!("metadata record #{i} (at offset {record_offset})");
        let key = c.string("key")?;
        if key_index.contains_key(&key) {
            return Err(GgufError::DuplicateKey {
                path: path.into(),
                key,
                offset: Some(record_offset),
            });
        }
        c.ctx = format!("metadata value of key '{key}'");
        let ty = c.value_type("value type")?;
        let value = c.value(ty, 0)?;
        key_index.insert(key.clone(), metadata.len());
        metadata.push((key, value));
    }
    let alignment = alignment_from(&metadata, &key_index, path)?;

    c.ctx = "header".into();
    c.check_count(
        n_tensors,
        MIN_TENSOR_INFO_LEN,
        n_tensors_offset,
        "tensor count",
    )?;
    let mut tensors = Vec::with_capacity(n_tensors as usize);
    let mut tensor_index = HashMap::with_capacity(n_tensors as usize);
    for i in 0..n_tensors {
        let record_offset = c.offset();
        c.ctx = format!("tensor info #{i} (at offset {record_offset})");
        let name = c.string("name")?;
        if tensor_index.contains_key(&name) {
            return Err(GgufError::DuplicateTensor {
                path: path.into(),
                name,
                offset: Some(record_offset),
            });
        }
        c.ctx = format!("tensor info #{i} ('{name}')");
        let n_dims_offset = c.offset();
        let n_dims = c.u32("n_dims")?;
        if n_dims == 0 || n_dims as usize > MAX_DIMS {
            return Err(GgufError::BadDimCount {
                path: path.into(),
                tensor: name,
                n_dims: n_dims.into(),
                offset: Some(n_dims_offset),
            });
        }
        let dims = (0..n_dims)
            .map(|_| c.u64("dimensions"))
            .collect::<Result<Vec<u64>, _>>()?;
        let type_offset = c.offset();
        let type_id = c.u32("type id")?;
        let ty = GgmlType::from_id(type_id).ok_or_else(|| GgufError::UnknownTensorType {
            path: path.into(),
            tensor: name.clone(),
            id: type_id,
            offset: type_offset,
        })?;
        let offset = c.u64("data offset")?;
        checked_tensor_bytes(path, &name, &dims, ty)?;
        if offset % alignment != 0 {
            return Err(GgufError::MisalignedTensor {
                path: path.into(),
                tensor: name,
                offset,
                alignment,
            });
        }
        tensor_index.insert(name.clone(), tensors.len());
        tensors.push(TensorInfo {
            name,
            dims,
            ty,
            offset,
        });
    }

    let file_size = bytes.len() as u64;
    // Cannot overflow: the cursor is within the file and alignment <= u32::MAX.
    let data_offset = align_up(c.offset(), alignment).expect("header end + alignment fits in u64");
    for t in &tensors {
        let n_bytes = t.n_bytes();
        let start = data_offset as u128 + t.offset as u128;
        let end = start + n_bytes as u128;
        if end > file_size as u128 {
            return Err(GgufError::TensorOutOfBounds {
                path: path.into(),
                tensor: t.name.clone(),
                ty: t.ty,
                dims: t.dims.clone(),
                n_bytes,
                start: u64::try_from(start).unwrap_or(u64::MAX),
                end,
                file_size,
            });
        }
    }

    Ok(Header {
        version,
        alignment,
        data_offset,
        metadata,
        key_index,
        tensors,
        tensor_index,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_of_file_is_shown_readably() {
        assert_eq!(show_start(b"vers"), "\"vers\"");
        assert_eq!(show_start(b"\x00\x01\xffA"), "bytes 00 01 ff 41");
    }

    #[test]
    fn version_checks() {
        assert!(check_version(2, "f").is_ok());
        assert!(check_version(3, "f").is_ok());
        let e = check_version(1, "f").unwrap_err().to_string();
        assert!(e.contains("GGUF v1 is not supported"), "{e}");
        let e = check_version(0x0300_0000, "f").unwrap_err().to_string();
        assert!(e.contains("big-endian") && e.contains("0x03000000"), "{e}");
        let e = check_version(4, "f").unwrap_err().to_string();
        assert!(e.contains("v4 is not supported"), "{e}");
        assert!(check_version(0, "f").is_err());
    }
}
