//! The crate's one error type. Every message starts with the source it is about (a path,
//! `<memory>` for in-memory files, or `<writer>` for files being written) and carries the facts:
//! key or tensor names, offsets, expected and found values.

use crate::GgmlType;

/// Source name used by [`crate::GgufFile::from_bytes`].
pub const MEMORY_SOURCE: &str = "<memory>";
/// Source name used for errors raised while building or streaming a file.
pub const WRITER_SOURCE: &str = "<writer>";

#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("{path}: {action} failed: {error}")]
    Io {
        path: String,
        action: &'static str,
        #[source]
        error: std::io::Error,
    },

    #[error("{path}: is a git-LFS pointer, not the model: run git lfs pull")]
    LfsPointer { path: String },

    #[error("{path}: not a GGUF file (starts with {found})")]
    BadMagic { path: String, found: String },

    #[error("{path}: GGUF v{version} is not supported ({})", version_hint(*version))]
    UnsupportedVersion { path: String, version: u32 },

    #[error(
        "{path}: big-endian (byte-swapped) GGUF file: version field reads {raw:#010x} as little-endian; \
         only little-endian files are supported"
    )]
    BigEndian { path: String, raw: u32 },

    #[error("{path}: truncated while reading {what}: needs {needed} bytes at offset {offset}, file has {file_size}")]
    Truncated {
        path: String,
        what: String,
        offset: u64,
        needed: u64,
        file_size: u64,
    },

    #[error(
        "{path}: {what} at offset {offset} is {count}, which needs at least {min_bytes} bytes, \
         but only {remaining} bytes remain in the file (truncated file or corrupt count)"
    )]
    CountTooLarge {
        path: String,
        what: String,
        offset: u64,
        count: u64,
        min_bytes: u128,
        remaining: u64,
    },

    #[error(
        "{path}: invalid bool byte {byte:#04x} in {what} at offset {offset} (expected 0 or 1)"
    )]
    InvalidBool {
        path: String,
        what: String,
        offset: u64,
        byte: u8,
    },

    #[error(
        "{path}: unknown value type id {id} in {what} at offset {offset} (known ids are 0..=12)"
    )]
    UnknownValueType {
        path: String,
        what: String,
        offset: u64,
        id: u32,
    },

    #[error("{path}: {what} at offset {offset} nests arrays more than {max_depth} deep")]
    ArrayTooDeep {
        path: String,
        what: String,
        offset: u64,
        max_depth: usize,
    },

    #[error("{path}: {what} at offset {offset} is not valid UTF-8")]
    InvalidUtf8 {
        path: String,
        what: String,
        offset: u64,
    },

    #[error("{path}: duplicate metadata key '{key}'{}", at_offset(*offset))]
    DuplicateKey {
        path: String,
        key: String,
        offset: Option<u64>,
    },

    #[error("{path}: duplicate tensor name '{name}'{}", at_offset(*offset))]
    DuplicateTensor {
        path: String,
        name: String,
        offset: Option<u64>,
    },

    #[error("{path}: tensor '{tensor}' has {n_dims} dimensions{}; GGUF allows 1 to 4", at_offset(*offset))]
    BadDimCount {
        path: String,
        tensor: String,
        n_dims: u64,
        offset: Option<u64>,
    },

    #[error("{path}: unknown tensor type id {id} in tensor '{tensor}' (at offset {offset})")]
    UnknownTensorType {
        path: String,
        tensor: String,
        id: u32,
        offset: u64,
    },

    #[error("{path}: tensor '{tensor}' has ne[{index}] = {value}, which is negative as a signed 64-bit count")]
    NegativeDim {
        path: String,
        tensor: String,
        index: usize,
        value: u64,
    },

    #[error("{path}: tensor '{tensor}' of type {ty} has ne[0] = {ne0}, not a multiple of the block size {block}")]
    BlockMismatch {
        path: String,
        tensor: String,
        ty: GgmlType,
        ne0: u64,
        block: usize,
    },

    #[error("{path}: tensor '{tensor}' of type {ty} with dims {dims:?}: {what} overflows 64 bits")]
    SizeOverflow {
        path: String,
        tensor: String,
        ty: GgmlType,
        dims: Vec<u64>,
        what: &'static str,
    },

    #[error("{path}: tensor '{tensor}' has data offset {offset}, not a multiple of the alignment {alignment}")]
    MisalignedTensor {
        path: String,
        tensor: String,
        offset: u64,
        alignment: u64,
    },

    #[error(
        "{path}: tensor '{tensor}' ({ty} {dims:?}) needs {n_bytes} bytes at offset {start} \
         (bytes {start}..{end}), file has {file_size}"
    )]
    TensorOutOfBounds {
        path: String,
        tensor: String,
        ty: GgmlType,
        dims: Vec<u64>,
        n_bytes: u64,
        start: u64,
        end: u128,
        file_size: u64,
    },

    #[error(
        "{path}: general.alignment must be a power-of-two integer that fits in u32, found {found}"
    )]
    BadAlignment { path: String, found: String },

    #[error("{path}: metadata key '{key}' is {found}, expected {expected}")]
    KeyType {
        path: String,
        key: String,
        expected: &'static str,
        found: String,
    },

    #[error("{path}: metadata array '{key}' {problem}")]
    BadArray {
        path: String,
        key: String,
        problem: String,
    },

    #[error("{path}: metadata general.alignment is {found} but the writer was asked for alignment {alignment}")]
    AlignmentConflict {
        path: String,
        found: String,
        alignment: u64,
    },

    #[error(
        "{path}: tensor '{tensor}' ({ty} {dims:?}) data is {found} bytes, expected {expected}"
    )]
    TensorDataSize {
        path: String,
        tensor: String,
        ty: GgmlType,
        dims: Vec<u64>,
        expected: u64,
        found: u64,
    },

    #[error("{path}: got data for tensor #{index} ({found} bytes), but only {declared} tensors were declared")]
    ExtraTensorData {
        path: String,
        index: usize,
        declared: usize,
        found: u64,
    },

    #[error("{path}: finished after {written} of {declared} tensors; next missing is '{next}'")]
    MissingTensorData {
        path: String,
        written: usize,
        declared: usize,
        next: String,
    },
}

impl GgufError {
    pub(crate) fn io(path: &str, action: &'static str, error: std::io::Error) -> GgufError {
        GgufError::Io {
            path: path.to_string(),
            action,
            error,
        }
    }
}

fn version_hint(version: u32) -> &'static str {
    match version {
        1 => "only v2 and v3 are; re-convert the model with a current llama.cpp",
        0 => "only v2 and v3 are",
        _ => "newest known is v3; only v2 and v3 are",
    }
}

fn at_offset(offset: Option<u64>) -> String {
    offset
        .map(|o| format!(" at offset {o}"))
        .unwrap_or_default()
}
