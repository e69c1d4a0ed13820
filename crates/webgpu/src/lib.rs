//! webgpu: the WebGPU backend: model::Ops as WGSL compute kernels through wgpu.
//!
//! Every op of `model::Ops` is a WGSL kernel (`src/shaders/<op>.wgsl`, each opening with its math,
//! shapes, thread mapping and precision). Weights stay in their GGUF type on the GPU: blocks are only
//! re-packed to whole u32 words at load (`layout`), and each matmul/embed kernel decodes its type
//! (`src/shaders/quant/<type>.wgsl`) as it reads. Tensors larger than the adapter's max storage
//! binding are split by rows. A whole step is recorded into one compute pass and submitted once at
//! `end_step`; bind groups are cached per (kernel, buffers, parameters), so a steady decode step
//! creates no GPU objects. Matmul reductions use `subgroupAdd` when the adapter has SUBGROUP and a
//! workgroup-memory tree otherwise (`WebGpuOptions::subgroups` forces the fallback).
//!
//! Out of scope here (for now): f16 activations, cooperative-matrix (tensor-core) matmul, fusing
//! ops across the op boundary (e.g. residual add into matmul), several sequences per step.

mod backend;
mod buffers;
mod context;
mod error;
mod kernels;
mod layout;
mod recorder;

pub use backend::WebGpuBackend;
pub use buffers::{GpuAct, GpuWeight, MatrixPart};
pub use context::{list_adapters, AdapterSummary, WebGpuOptions};
pub use error::WebGpuError;
pub use layout::TypeLayout;
pub use recorder::ProfileRow;
