//! cuda: the CUDA backend: model::Ops as CUDA kernels via cudarc, compiled at run time with NVRTC.
//!
//! The kernels are CUDA C++ in `src/kernels/*.cu` (one file per op, each opening with its math,
//! shapes, thread mapping and precision), embedded in the binary and compiled once per process with
//! NVRTC to machine code for the device's architecture (`sm_90` on an H200). Weights stay in their GGUF block types on the device and are
//! decoded inside the matmul and embed kernels. A step (`begin_step` .. `end_step`) is captured as a
//! CUDA graph the first time its exact launch list is seen and replayed afterwards, so decoding a
//! token costs one graph launch and no host round trip.
//!
//! libcuda and libnvrtc are loaded at run time (cudarc's dynamic loading): the crate builds without
//! any CUDA toolkit, and [`CudaBackend::new`] says clearly what is missing.
//!
//! One-token steps (decode) run matrix-vector kernels built for bandwidth (`matvec.cu`: several
//! independent products per launch, small element-wise ops folded into their epilogues), a fused
//! layer_norm + token-shift lerp, and a fused WKV-7 recurrence + output stage for head size 64.
//! Multi-token matmuls of 32 tokens or more (prefill, batched decode) run on cuBLAS (`gemm.rs`:
//! weights dequantized into a bounded transient f16 panel, f32-level accuracy); shorter ones, or all
//! of them without libcublas, run Q4_K, Q6_K and F16 on the tensor cores (`mma.cu`), other types on
//! CUDA cores (`matmul.cu`). [`Tuning`] switches between the variants (for A/B timing).
//!
//! RWKV-4, 5 and 6 run too (`ops_v456.rs`, `rwkv_v456.cu`, `token_shift_lora6.cu`): their WKV
//! recurrences, GroupNorm, gates and token-shift LoRA as plain kernels, their matmuls on the paths
//! above; none of RWKV-7's fused decode kernels apply to them.
//!
//! Batched decode (many sequences per step, state per sequence) runs through `ops_rows.rs`.
//!
//! Out of scope (for now): a chunked WKV-7 for long prompts, sampling other than greedy on the GPU
//! (greedy steps read back token ids; sampled ones read back the logits), several GPUs, and
//! programmatic dependent launch by default (`Tuning::pdl`: measured neutral, PERF.md).

mod backend;
mod buffers;
mod device;
mod error;
mod gemm;
pub mod formats;
pub mod nvrtc;
mod ops;
mod ops_rows;
mod ops_v456;
mod pending;
mod recorder;
mod tuning;
mod wkv_split;

pub use backend::{weight_format, CudaBackend};
pub use buffers::{CudaAct, CudaWeight};
pub use error::CudaError;
pub use recorder::{GraphStats, KernelTime, Profiler};
pub use tuning::Tuning;
