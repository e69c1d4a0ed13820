use crate::SamplerError;

/// Everything that can go wrong in the engine: the model, the sampler, state files, the prefix-state
/// cache and the scheduler.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Model(#[from] model::ModelError),
    #[error(transparent)]
    Sampler(#[from] SamplerError),
    #[error("the model returned no logits")]
    NoLogits,
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{name}: not an aviary state file: {reason}")]
    BadStateFile { name: String, reason: String },
    #[error("{name}: the state is for a different model: {what} is {found}, this model has {expected}")]
    StateMismatch { name: String, what: &'static str, expected: usize, found: usize },
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("the queue is full ({limit} requests waiting); try again later")]
    QueueFull { limit: usize },
    #[error("the engine is shutting down and takes no new requests")]
    ShuttingDown,
    #[error("token {token} cannot be decoded: {reason}")]
    Decode { token: u32, reason: String },
}
