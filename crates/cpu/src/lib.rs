//! cpu: the CPU backend, implementing the model's op set with plain Rust kernels on host memory.
//!
//! Weights stay in their stored GGUF type (copied once into process memory at load, which streams
//! faster than file-backed pages on some machines; `AVIARY_CPU_WEIGHTS=mapped` reads them in place). Matmuls
//! quantize the activations once and run quant's SIMD integer-dot kernels (chosen by CPU features;
//! `AVIARY_SIMD=scalar` forces the scalar level), tiled over weight rows and groups of tokens.
//! Prefill chunks of 16+ tokens run on AMX BF16 tiles where the CPU and OS allow it
//! (`fast::amx_matmul`; weights dequantized once per chunk, split-bf16 products; `AVIARY_AMX=0`
//! turns it off), with 256-token chunks on that path (`AVIARY_CHUNK` overrides).
//! `fast/` holds the backend's vectorised, pool-parallel kernels; `kernels/` the plain scalar
//! references they are tested against. `pool` is the spinning thread pool ops run on.
//!
//! Out of scope: other devices, and weight repacking at load time (weights keep their file layout).

mod backend;
mod buffers;
pub mod fast;
pub mod pool;
mod profile;
pub mod kernels;
mod weight_bytes;

pub use backend::{cpu_name, CpuBackend, CpuError};
pub use buffers::{CpuAct, CpuWeight};
pub use weight_bytes::WeightBytes;
