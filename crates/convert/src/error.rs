//! The crate's one error type.

use std::path::PathBuf;

use gguf::GgmlType;

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("unknown file type '{name}' (valid: {valid})")]
    UnknownFileType { name: String, valid: String },

    #[error("unknown synthetic model preset '{name}' (valid: {valid})")]
    UnknownPreset { name: String, valid: String },

    #[error("bad model spec '{spec}': {problem}")]
    BadSpec { spec: String, problem: String },

    #[error(
        "tensor '{tensor}': ne[0] = {ne0} is not a multiple of the {ty} block ({} elements) and \
         llama-quantize defines no fallback type for {ty}",
        ty.block_size()
    )]
    NoFallback { tensor: String, ne0: u64, ty: GgmlType },

    #[error("{path}: general.architecture is '{found}', expected 'rwkv7' (only RWKV-7 files can be quantized)")]
    NotRwkv7 { path: String, found: String },

    #[error("{path}: tensor '{tensor}' is stored as {ty}, which aviary cannot decode, so it cannot be converted to {target}")]
    UnsupportedSourceType { path: String, tensor: String, ty: GgmlType, target: GgmlType },

    #[error("tensor '{tensor}' ({from} -> {to}): {source}")]
    Quant { tensor: String, from: GgmlType, to: GgmlType, source: quant::QuantError },

    #[error("output file {path} already exists (use --force to overwrite it)")]
    OutputExists { path: PathBuf },

    #[error("cannot write into directory {dir}: {source}")]
    OutputDir { dir: PathBuf, source: std::io::Error },

    #[error("{action} {path}: {source}")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },

    /// Boxed: GGUF errors are large and rare; keep every `Result` small.
    #[error(transparent)]
    Gguf(Box<gguf::GgufError>),

    #[error(
        "could not download the World vocabulary from {url}: {reason}; set AVIARY_WORLD_VOCAB to a copy of \
         rwkv_vocab_v20230424.txt"
    )]
    VocabDownload { url: String, reason: String },

    #[error("{what} has sha256 {found}, expected {expected}")]
    Checksum { what: String, expected: String, found: String },

    #[error("World vocabulary {origin}: {source}")]
    Vocab { origin: String, source: Box<tokenizer::TokenizerError> },

    #[error("World vocabulary {origin}: {problem}")]
    VocabContent { origin: String, problem: String },

    #[error("no cache directory: set AVIARY_CACHE (or HOME) to a writable directory")]
    NoCacheDir,

    #[error("cannot start {threads} worker threads: {reason}")]
    Threads { threads: usize, reason: String },
}

impl From<gguf::GgufError> for ConvertError {
    fn from(e: gguf::GgufError) -> Self {
        ConvertError::Gguf(Box::new(e))
    }
}

impl ConvertError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ConvertError::Io { action, path: path.into(), source }
    }
}
