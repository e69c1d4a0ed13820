use gguf::GgmlType;

/// Everything that can go wrong between a GGUF file and a running model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Gguf(#[from] gguf::GgufError),
    #[error(transparent)]
    Quant(#[from] quant::QuantError),
    #[error("{file}: architecture '{found}' is not supported (aviary runs: rwkv4, rwkv5, rwkv6, rwkv7)")]
    Architecture { file: String, found: String },
    #[error("the {backend} backend does not run {arch} yet (the cpu backend runs every architecture)")]
    Unsupported { backend: &'static str, arch: crate::Architecture },
    #[error("{file}: missing required metadata key '{key}'")]
    MissingKey { file: String, key: String },
    #[error("{file}: metadata key '{key}' is {value}, expected {expected}")]
    BadKey { file: String, key: String, value: String, expected: String },
    #[error("{file}: missing required tensor '{name}'")]
    MissingTensor { file: String, name: String },
    #[error("{file}: tensor '{name}' has shape {found:?}, expected {expected:?}")]
    Shape { file: String, name: String, expected: Vec<u64>, found: Vec<u64> },
    #[error("{file}: unsupported tensor type {ty} in tensor '{name}'")]
    UnsupportedType { file: String, name: String, ty: GgmlType },
    #[error("token id {token} is out of range (vocabulary has {n_vocab} tokens)")]
    TokenOutOfRange { token: u32, n_vocab: usize },
    #[error("no tokens to process: the input is empty")]
    EmptyInput,
    #[error("unknown state id {0}")]
    UnknownState(u64),
    #[error("a batched decode step got {ids} state ids and {tokens} tokens; it needs one token per state")]
    BatchShape { ids: usize, tokens: usize },
    #[error("state id {0} appears twice in one batched decode step (a sequence takes one token per step)")]
    DuplicateState(u64),
    #[error("state does not fit this model: {what} is {found}, expected {expected}")]
    StateMismatch { what: &'static str, expected: usize, found: usize },
    #[error("{file}: {detail}")]
    Legacy { file: String, detail: String },
    #[error("{file}: PyTorch checkpoint: {detail}")]
    Pth { file: String, detail: String },
    #[error("backend error: {0}")]
    Backend(String),
}
