//! Parsing rwkv.cpp's file format (spec §7), bounds-checked: a 24-byte header, then tensor records
//! until the end of the file (no index, no alignment).

use std::collections::HashSet;
use std::path::Path;

use gguf::GgmlType;

use crate::ModelError;

/// `"fmgg"` in file order: the int32 0x67676d66 little-endian.
pub const MAGIC: u32 = 0x6767_6d66;
/// File versions: 100 (float tensors only) and 101 (also the quantized types of current ggml).
pub const VERSIONS: [u32; 2] = [100, 101];
const HEADER_LEN: usize = 24;
/// Longer names than this are certainly corrupt (real names are under 40 bytes).
const MAX_NAME_LEN: usize = 1024;

/// One tensor record.
#[derive(Clone, Debug)]
pub struct LegacyTensor {
    pub name: String,
    /// ggml order: `dims[0]` is the innermost (contiguous) dimension, PyTorch's last.
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Byte range of the data in the file.
    pub offset: usize,
    pub len: usize,
}

impl LegacyTensor {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

/// An rwkv.cpp model file, validated when opened.
pub struct LegacyFile {
    pub path: String,
    pub version: u32,
    pub n_vocab: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    /// The header's data type code ("most" tensors; informational).
    pub data_type: u32,
    pub tensors: Vec<LegacyTensor>,
    /// v4/v5 `time_decay` and `time_first` hold BlinkDL's raw values rather than rwkv.cpp's
    /// transformed ones (set for files made from `.pth` checkpoints by `crate::pth`).
    pub blinkdl_values: bool,
    bytes: Bytes,
}

/// Whether `bytes` start like an rwkv.cpp file.
pub fn has_magic(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) == MAGIC
}

/// The ggml type of an rwkv.cpp type code (its own numbering, spec §7).
fn type_of_code(code: u32) -> Option<GgmlType> {
    let ggml_id = match code {
        0 => 0,  // FP32
        1 => 1,  // FP16
        2 => 2,  // Q4_0
        3 => 3,  // Q4_1
        7 => 6,  // Q5_0
        8 => 7,  // Q5_1
        9 => 8,  // Q8_0
        10 => 9, // Q8_1
        11..=16 => code - 1, // Q2_K .. Q8_K
        _ => return None,    // 4..6: Q4_1_O, Q4_2, Q4_3 (long removed from ggml)
    };
    GgmlType::from_id(ggml_id)
}

impl LegacyFile {
    /// Memory-maps and validates a file.
    pub fn open(path: impl AsRef<Path>) -> Result<LegacyFile, ModelError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let io = |e: std::io::Error| ModelError::Legacy { file: name.clone(), detail: format!("cannot read: {e}") };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let bytes = if len == 0 {
            Bytes::Owned(Vec::new())
        } else {
            // SAFETY: read-only map; another process rewriting the file meanwhile is out of our hands
            // (the same caveat as every mmap-based loader, the GGUF reader included).
            Bytes::Mapped(unsafe { memmap2::Mmap::map(&file) }.map_err(io)?)
        };
        Self::parse(bytes, name)
    }

    /// Validates a file held in memory (tests).
    pub fn from_bytes(bytes: Vec<u8>, name: &str) -> Result<LegacyFile, ModelError> {
        Self::parse(Bytes::Owned(bytes), name.to_string())
    }

    pub fn bytes(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }

    pub fn tensor(&self, name: &str) -> Option<&LegacyTensor> {
        self.tensors.iter().find(|t| t.name == name)
    }

    pub fn data(&self, t: &LegacyTensor) -> &[u8] {
        &self.bytes()[t.offset..t.offset + t.len]
    }

    fn parse(bytes: Bytes, path: String) -> Result<LegacyFile, ModelError> {
        let mut f = LegacyFile { path, version: 0, n_vocab: 0, n_embd: 0, n_layer: 0, data_type: 0, tensors: Vec::new(), blinkdl_values: false, bytes };
        let (tensors, header) = {
            let b = f.bytes();
            let bad = |detail: String| ModelError::Legacy { file: f.path.clone(), detail };
            if b.len() < HEADER_LEN {
                return Err(bad(format!("is {} bytes, shorter than the 24-byte rwkv.cpp header", b.len())));
            }
            let int = |o: usize| i32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
            if !has_magic(b) {
                return Err(bad(format!("not an rwkv.cpp file (starts with {:02x?}, expected 66 6d 67 67 \"fmgg\")", &b[..4])));
            }
            let header: Vec<i32> = (1..6).map(|i| int(4 * i)).collect();
            let version = header[0] as u32;
            if !VERSIONS.contains(&version) {
                return Err(bad(format!("format version {}, expected 100 or 101", header[0])));
            }
            for (what, v) in [("n_vocab", header[1]), ("n_embed", header[2]), ("n_layer", header[3])] {
                if v <= 0 {
                    return Err(bad(format!("header field {what} is {v}, expected a positive count")));
                }
            }
            let mut tensors: Vec<LegacyTensor> = Vec::new();
            let mut names = HashSet::new();
            let mut o = HEADER_LEN;
            while o < b.len() {
                let at = o;
                if b.len() - o < 12 {
                    return Err(bad(format!("truncated tensor record at offset {at}: {} bytes left, a record header needs 12", b.len() - o)));
                }
                let (n_dims, name_len, code) = (int(o), int(o + 4), int(o + 8));
                o += 12;
                if !(1..=3).contains(&n_dims) {
                    return Err(bad(format!("tensor record at offset {at} has {n_dims} dimensions, expected 1 to 3")));
                }
                if name_len <= 0 || name_len as usize > MAX_NAME_LEN {
                    return Err(bad(format!("tensor record at offset {at} has a name of {name_len} bytes, expected 1 to {MAX_NAME_LEN}")));
                }
                let need = 4 * n_dims as usize + name_len as usize;
                if b.len() - o < need {
                    return Err(bad(format!("tensor record at offset {at} needs {need} bytes of shape and name, file has {} left", b.len() - o)));
                }
                let dims: Vec<i32> = (0..n_dims as usize).map(|i| int(o + 4 * i)).collect();
                o += 4 * n_dims as usize;
                let name = String::from_utf8(b[o..o + name_len as usize].to_vec())
                    .map_err(|_| bad(format!("tensor record at offset {at} has a name that is not UTF-8")))?;
                o += name_len as usize;
                let ty = type_of_code(code as u32)
                    .filter(|&t| quant::is_supported(t))
                    .ok_or_else(|| bad(format!("tensor '{name}' has data type code {code}, which aviary does not read (0 FP32, 1 FP16, 2 Q4_0, 3 Q4_1, 7 Q5_0, 8 Q5_1, 9 Q8_0, 11-15 K-quants)")))?;
                if version == 100 && code > 1 {
                    return Err(bad(format!("tensor '{name}' is quantized (type code {code}) in a version 100 file, whose quantization formats predate ggml's current ones; re-quantize with a current rwkv.cpp")));
                }
                if let Some(&d) = dims.iter().find(|&&d| d <= 0) {
                    return Err(bad(format!("tensor '{name}' has dimension {d} in {dims:?}")));
                }
                let dims: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
                if dims[0] % ty.block_size() as u64 != 0 {
                    return Err(bad(format!("tensor '{name}' of type {ty} has {} values per row, not a multiple of its block of {}", dims[0], ty.block_size())));
                }
                let n: u64 = dims.iter().fold(1u64, |a, &d| a.saturating_mul(d));
                let len = (n / ty.block_size() as u64).saturating_mul(ty.type_size() as u64);
                if len > (b.len() - o) as u64 {
                    return Err(bad(format!("tensor '{name}' {dims:?} of type {ty} needs {len} bytes at offset {o}, file has {} left", b.len() - o)));
                }
                if !names.insert(name.clone()) {
                    return Err(bad(format!("tensor '{name}' appears twice (second at offset {at})")));
                }
                tensors.push(LegacyTensor { name, dims, ty, offset: o, len: len as usize });
                o += len as usize;
            }
            (tensors, header)
        };
        f.version = header[0] as u32;
        f.n_vocab = header[1] as usize;
        f.n_embd = header[2] as usize;
        f.n_layer = header[3] as usize;
        f.data_type = header[4] as u32;
        f.tensors = tensors;
        Ok(f)
    }
}
