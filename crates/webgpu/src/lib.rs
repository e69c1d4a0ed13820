//! webgpu: the WebGPU backend: model::Ops as WGSL compute kernels through wgpu.
//!
//! Every op of `model::Ops` is a WGSL kernel (`src/shaders/<op>.wgsl`, each opening with its math,
//! shapes, thread mapping and precision). Weights stay in their GGUF type on the GPU: blocks are only
//! re-packed to whole u32 words at load (`layout`; Q4_K and Q6_K blocks and float rows start on 16
//! bytes), and each matmul/embed kernel decodes its type (`src/shaders/quant/<type>.wgsl`) as it
//! reads. Matmuls pick one of three kernels: a vectorized one-token matvec (`vec4<u32>` loads, NR rows
//! per lane group sharing x, `shaders/matvec/<type>.wgsl` for F32, F16, Q4_K, Q6_K; independent ones
//! of a step are held back and share one dispatch, up to 8 jobs of mixed types, `backend/matvec.rs`
//! and `matvec_gen.rs`, with new groupings compiled on a background thread, planned already during
//! a many-token step), a register-blocked
//! tiled kernel for many-token prefill (64 or 128 rows × 64 tokens per workgroup, software-pipelined
//! through workgroup memory; prefill steps take 512 tokens, `WebGpuOptions::prefill_chunk`), and the
//! generic kernel for everything else. WKV-7 for head sizes that are multiples of 4 is generated
//! with its loops written out (`wkv7_unrolled`), so a thread's state row stays in registers. Tensors larger than the
//! adapter's max storage binding are split by rows. A step is recorded as dispatches in one compute
//! pass, submitted every `WebGpuOptions::submit_every` dispatches so the GPU starts while the host
//! encodes; bind groups are cached per (kernel, buffers, parameters), so a steady decode step creates
//! no GPU objects. The recorder folds relu_square, residual add, value_residual and the sigmoid and
//! SiLU gates into the matmul before them, and a one-token token_shift_lerp into the layer_norm
//! before it. Reductions use `subgroupAdd` when the adapter has SUBGROUP and workgroup memory
//! otherwise (`WebGpuOptions::subgroups` forces the fallback). `WebGpuOptions::profile` times every dispatch
//! with GPU timestamps (`examples/wgpu_kernel_bench.rs` prints the tables).
//!
//! It runs every architecture (`Ops::supports`): RWKV-7's ops and those only RWKV-4, 5 and 6 use
//! (`backend/rwkv456.rs`: decay6, token_shift_lora6, wkv6 with per-token or static decay, wkv4,
//! group_norm, the sigmoid and SiLU gates, scale), recorded into the same one-pass step.
//!
//! Out of scope here (for now): f16 activations, cooperative-matrix (tensor-core) matmul, fusing
//! ops that need a whole row first (layer_norm after a residual add), several sequences per step.

mod backend;
mod buffers;
mod context;
mod error;
mod kernels;
mod layout;
mod matvec_gen;
mod recorder;
mod wkv7_unrolled;

pub use backend::{HostCounters, WebGpuBackend};
pub use buffers::{GpuAct, GpuWeight, MatrixPart};
pub use context::{list_adapters, AdapterSummary, WebGpuOptions};
pub use error::WebGpuError;
pub use layout::TypeLayout;
pub use recorder::ProfileRow;
