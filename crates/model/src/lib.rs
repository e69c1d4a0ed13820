//! model: RWKV hyper-parameters and tensor tables, the model written once as a list of steps over a
//! closed op set ([`Ops`]), and the per-sequence state layout.
//!
//! Backends (cpu, and later wgpu and cuda) implement [`Ops`]; none has its own copy of the model.
//! A backend receives a whole step (a chunk of tokens through every layer) between
//! [`Ops::begin_step`] and [`Ops::end_step`], so it may execute ops at once (cpu) or record them and
//! submit once (a GPU command buffer or graph).
//!
//! Out of scope here: RWKV-4/5/6 (later), reading non-GGUF formats, tokenization, sampling, and
//! scheduling several sequences in one step (the seam takes one sequence per call today).

mod error;
mod hparams;
mod load;
pub mod names;
mod ops;
mod runner;
mod rwkv7;
mod state;

pub use error::ModelError;
pub use hparams::Rwkv7Hparams;
pub use load::{check_architecture, TensorSource};
pub use ops::{LoraKind, Ops};
pub use runner::{quant_label, LogitsMode, Model, ModelInfo, Rwkv7Runner, StateId};
pub use rwkv7::Rwkv7Weights;
pub use state::HostState;
