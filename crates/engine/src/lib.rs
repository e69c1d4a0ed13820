//! engine: sessions, sampling, scheduling and the prefix-state cache on top of a model and a backend.
//!
//! - [`generate`]: the single-sequence generation loop (the `aviary run` path).
//! - [`Engine`]: one thread that owns a model and serves many requests with continuous batching,
//!   per-request samplers, stop tokens and strings, cancellation and a bounded queue.
//! - [`PrefixCache`]: states kept by token prefix, so shared prompt prefixes are computed once.
//! - [`state_file`]: a versioned binary file for a sequence's state.
//!
//! Out of scope here: text formats (chat templates live with the server), HTTP, and batched kernels
//! (the scheduler calls the backend once per sequence per step through [`forward_batch`]).

mod error;
mod generate;
pub mod sampler;
pub mod scheduler;
pub mod state_cache;
pub mod state_file;

pub use error::EngineError;
pub use generate::{decode, generate, FinishReason, GenerateOptions, Generation};
pub use sampler::{Sampler, SamplerConfig, SamplerError};
pub use scheduler::{
    forward_batch, Completion, Engine, EngineConfig, Event, Finish, MetricsSnapshot, Request, RequestHandle, StepItem,
    TokenEvent, TokenLogprob, Usage,
};
pub use state_cache::{CacheConfig, CacheHit, CacheStats, PrefixCache, SpillConfig};
pub use state_file::{read_state_file, write_state_file, StateDtype, StateFile};
