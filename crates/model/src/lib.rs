//! model: RWKV hyper-parameters and tensor tables, the model written once as a list of steps over a
//! closed op set ([`Ops`]), and the per-sequence state layout.
//!
//! Backends (cpu, and later wgpu and cuda) implement [`Ops`]; none has its own copy of the model.
//! A backend receives a whole step (a chunk of tokens through every layer) between
//! [`Ops::begin_step`] and [`Ops::end_step`], so it may execute ops at once (cpu) or record them and
//! submit once (a GPU command buffer or graph).
//!
//! RWKV-7, 6, 5 and 4 share one [`Runner`] and its scaffolding ([`forward`]: embedding, head, state,
//! chunking, save/restore); each version's file (`rwkv7.rs` … `rwkv4.rs`) holds only its layer
//! weights and layer math. [`legacy`] reads rwkv.cpp's files into the same GGUF layouts, so format
//! reading stays apart from the math.
//!
//! [`pth`] reads BlinkDL's PyTorch checkpoints (safely, a pickle subset) into the same path, and
//! BlinkDL state-tuning files, which [`WithInitialState`] applies as every sequence's first state.
//!
//! Several sequences decode in one step through [`Model::decode_batch`] (`batch.rs`): one row per
//! sequence, each weight read once, on backends that offer [`Ops::batched_decode`].
//!
//! Out of scope here: tokenization, sampling, and deciding which sequences share a step (the engine's
//! scheduler).

// `is_multiple_of` and `repeat_n` need newer Rust than the workspace's 1.80.
#![allow(clippy::manual_is_multiple_of, clippy::manual_repeat_n)]

mod arch;
mod batch;
mod error;
mod ffn;
pub mod forward;
mod hparams;
mod initial_state;
pub mod legacy;
mod load;
pub mod names;
pub mod pth;
mod ops;
mod runner;
mod rwkv4;
mod rwkv5;
mod rwkv6;
mod rwkv7;
mod state;

pub use arch::Architecture;
pub use error::ModelError;
pub use forward::{Weights, Rwkv7Weights};
pub use initial_state::WithInitialState;
pub use hparams::{Hparams, Rwkv7Hparams, GROUP_NORM_EPS, RWKV5_GROUP_NORM_EPS};
pub use load::{architecture_of, check_architecture, TensorSource};
pub use ops::{LoraKind, Ops, Wkv6Decay};
pub use runner::{greedy_tokens, quant_label, LogitsMode, Model, ModelInfo, Runner, Rwkv7Runner, StateId};
pub use ffn::GatedFfn;
pub use rwkv4::Rwkv4Layer;
pub use rwkv5::Rwkv5Layer;
pub use rwkv6::Rwkv6Layer;
pub use rwkv7::Rwkv7Layer;
pub use state::HostState;
