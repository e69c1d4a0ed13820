//! engine: sessions, sampling and the generation loop on top of a model and a backend.
//!
//! Out of scope here (for now): batching several sequences per step, the prefix-state cache and the
//! HTTP server (later issues).

mod error;
mod generate;
pub mod sampler;

pub use error::EngineError;
pub use generate::{generate, FinishReason, GenerateOptions, Generation};
pub use sampler::{Sampler, SamplerConfig, SamplerError};
