//! cpu: the CPU backend, implementing the model's op set with plain Rust kernels on host memory.
//!
//! Weights stay in their stored GGUF type (read in place from the memory-mapped file) and are decoded
//! block by block inside the dot products. The kernels in `kernels/` are the scalar references that
//! faster SIMD kernels will be tested against; they are parallel over output rows with rayon.
//!
//! Out of scope here (for now): SIMD, activation quantization, cache-blocked prefill matmul.

mod backend;
mod buffers;
pub mod kernels;

pub use backend::{cpu_name, CpuBackend, CpuError};
pub use buffers::{CpuAct, CpuWeight};
