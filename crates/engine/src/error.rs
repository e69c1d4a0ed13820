use crate::SamplerError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Model(#[from] model::ModelError),
    #[error(transparent)]
    Sampler(#[from] SamplerError),
    #[error("the model returned no logits")]
    NoLogits,
}
