use crate::SamplerError;

/// Everything that can go wrong in the engine: the model, the sampler, state files, the prefix-state
/// cache and the scheduler.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Boxed: `ModelError` is large and this error travels through every step's result.
    #[error(transparent)]
    Model(Box<model::ModelError>),
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

impl From<model::ModelError> for EngineError {
    fn from(e: model::ModelError) -> EngineError {
        EngineError::Model(Box::new(e))
    }
}
