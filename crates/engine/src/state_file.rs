//! A versioned binary file for a sequence's state ([`HostState`]), so a long prompt is prefilled once.
//!
//! Layout, little-endian:
//!
//! ```text
//! 0   magic      8 bytes  "AVIARYST"
//! 8   version    u32      1
//! 12  dtype      u32      0 = f32, 1 = f16
//! 16  n_layer    u32
//! 20  n_embd     u32
//! 24  head_size  u32
//! 28  reserved   u32      0
//! 32  n_tokens   u64      tokens the state has consumed (may be 0 when unknown)
//! 40  n_values   u64      must equal n_layer * (2 * n_embd + n_embd * head_size)
//! 48  tokens     n_tokens x u32
//!     values     n_values x f32 (or f16)
//!     crc32      u32      CRC-32 (IEEE) of every byte before it
//! ```

use std::path::Path;

use model::HostState;

use crate::EngineError;

const MAGIC: &[u8; 8] = b"AVIARYST";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 48;

/// How the values of a state are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateDtype {
    /// Exact.
    F32,
    /// Half the bytes; rounding changes the logits slightly.
    F16,
}

impl StateDtype {
    fn code(self) -> u32 {
        match self {
            StateDtype::F32 => 0,
            StateDtype::F16 => 1,
        }
    }

    pub fn bytes_per_value(self) -> usize {
        match self {
            StateDtype::F32 => 4,
            StateDtype::F16 => 2,
        }
    }
}

/// A decoded state file: the state and the tokens that produced it.
#[derive(Clone, Debug, PartialEq)]
pub struct StateFile {
    pub state: HostState,
    pub tokens: Vec<u32>,
    pub dtype: StateDtype,
}

/// Floats a state of these dimensions holds (per layer: two token-shift rows and the WKV matrices).
pub fn state_len(n_layer: usize, n_embd: usize, head_size: usize) -> usize {
    n_layer * (2 * n_embd + n_embd * head_size)
}

/// Serialises `state` (and the tokens it consumed) in the format above.
pub fn encode_state(state: &HostState, tokens: &[u32], dtype: StateDtype) -> Vec<u8> {
    let n = state.data.len();
    let mut out = Vec::with_capacity(HEADER_LEN + 4 * tokens.len() + dtype.bytes_per_value() * n + 4);
    out.extend_from_slice(MAGIC);
    for v in [VERSION, dtype.code(), state.n_layer as u32, state.n_embd as u32, state.head_size as u32, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(tokens.len() as u64).to_le_bytes());
    out.extend_from_slice(&(n as u64).to_le_bytes());
    for t in tokens {
        out.extend_from_slice(&t.to_le_bytes());
    }
    match dtype {
        StateDtype::F32 => state.data.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        StateDtype::F16 => {
            state.data.iter().for_each(|v| out.extend_from_slice(&half::f16::from_f32(*v).to_le_bytes()))
        }
    }
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Parses a state file; `name` (a path, usually) is used in error messages.
pub fn decode_state(bytes: &[u8], name: &str) -> Result<StateFile, EngineError> {
    let bad = |reason: String| EngineError::BadStateFile { name: name.to_string(), reason };
    if bytes.len() < HEADER_LEN + 4 {
        return Err(bad(format!("{} bytes, shorter than the {}-byte header and checksum", bytes.len(), HEADER_LEN + 4)));
    }
    if &bytes[..8] != MAGIC {
        return Err(bad(format!("starts with {:?}, expected \"AVIARYST\"", String::from_utf8_lossy(&bytes[..8]))));
    }
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
    let version = u32_at(8);
    if version != VERSION {
        return Err(bad(format!("format version {version}, this build reads version {VERSION}")));
    }
    let dtype = match u32_at(12) {
        0 => StateDtype::F32,
        1 => StateDtype::F16,
        other => return Err(bad(format!("value type code {other}, expected 0 (f32) or 1 (f16)"))),
    };
    let (n_layer, n_embd, head_size) = (u32_at(16) as usize, u32_at(20) as usize, u32_at(24) as usize);
    let (n_tokens, n_values) = (u64_at(32), u64_at(40));
    let expected_values = state_len(n_layer, n_embd, head_size) as u64;
    if n_values != expected_values {
        return Err(bad(format!(
            "holds {n_values} values, expected {expected_values} for n_layer {n_layer}, n_embd {n_embd}, head_size {head_size}"
        )));
    }
    // Check the sizes against the bytes present before allocating anything.
    let body = (bytes.len() - HEADER_LEN - 4) as u64;
    let need = n_tokens.checked_mul(4).and_then(|t| n_values.checked_mul(dtype.bytes_per_value() as u64)?.checked_add(t));
    if need != Some(body) {
        return Err(bad(format!(
            "header announces {n_tokens} tokens and {n_values} values, which needs {} bytes after the header; the file has {body}",
            need.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string())
        )));
    }
    let crc_offset = bytes.len() - 4;
    let (stored, computed) = (u32_at(crc_offset), crc32(&bytes[..crc_offset]));
    if stored != computed {
        return Err(bad(format!("checksum {stored:#010x} at offset {crc_offset}, computed {computed:#010x}: the file is damaged")));
    }
    let tokens_end = HEADER_LEN + 4 * n_tokens as usize;
    let tokens = bytes[HEADER_LEN..tokens_end].chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().expect("4"))).collect();
    let values = &bytes[tokens_end..crc_offset];
    let data = match dtype {
        StateDtype::F32 => values.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4"))).collect(),
        StateDtype::F16 => {
            values.chunks_exact(2).map(|c| half::f16::from_le_bytes(c.try_into().expect("2")).to_f32()).collect()
        }
    };
    Ok(StateFile { state: HostState { n_layer, n_embd, head_size, data }, tokens, dtype })
}

/// Writes a state file (to a temporary name first, so a crash never leaves half a file at `path`).
pub fn write_state_file(path: &Path, state: &HostState, tokens: &[u32], dtype: StateDtype) -> Result<(), EngineError> {
    let io = |source| EngineError::Io { path: path.display().to_string(), source };
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, encode_state(state, tokens, dtype)).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Reads and checks a state file.
pub fn read_state_file(path: &Path) -> Result<StateFile, EngineError> {
    let bytes = std::fs::read(path).map_err(|source| EngineError::Io { path: path.display().to_string(), source })?;
    decode_state(&bytes, &path.display().to_string())
}

/// Checks that `state` fits a model of the given dimensions; the error names `name` and the first
/// dimension that differs.
pub fn check_state_fits(
    state: &HostState,
    name: &str,
    n_layer: usize,
    n_embd: usize,
    head_size: usize,
) -> Result<(), EngineError> {
    let checks = [
        ("n_layer", n_layer, state.n_layer),
        ("n_embd", n_embd, state.n_embd),
        ("head_size", head_size, state.head_size),
        ("the number of values", state_len(n_layer, n_embd, head_size), state.data.len()),
    ];
    for (what, expected, found) in checks {
        if expected != found {
            return Err(EngineError::StateMismatch { name: name.to_string(), what, expected, found });
        }
    }
    Ok(())
}

/// CRC-32 (IEEE 802.3, reflected, as zlib computes it).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc = CRC_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};
