//! The crate's one error type.

use gguf::GgmlType;
use model::ModelError;

/// Everything that can go wrong between wgpu and a running model.
#[derive(Debug, thiserror::Error)]
pub enum WebGpuError {
    #[error("no WebGPU adapter found (backends tried: {backends}); on Linux without a GPU install Mesa's lavapipe (mesa-vulkan-drivers, libvulkan1) and set WGPU_BACKEND=vulkan")]
    NoAdapter { backends: String },
    #[error("no WebGPU adapter matches '{wanted}'; available: {available}")]
    AdapterNotFound { wanted: String, available: String },
    #[error("adapter '{adapter}' lacks {what}: {detail}")]
    MissingCapability { adapter: String, what: &'static str, detail: String },
    #[error("adapter '{adapter}': could not create the device: {reason}")]
    Device { adapter: String, reason: String },
    #[error("adapter '{adapter}': could not create buffer '{label}' of {size} bytes (max buffer {max_buffer}, max binding {max_binding}): {reason}")]
    Buffer { adapter: String, label: String, size: u64, max_buffer: u64, max_binding: u64, reason: String },
    #[error("adapter '{adapter}': {what} of {size} bytes exceeds the max storage binding of {max_binding} bytes")]
    TooLarge { adapter: String, what: String, size: u64, max_binding: u64 },
    #[error("adapter '{adapter}': one row of {ty} tensor '{tensor}' takes {row_bytes} bytes, more than the max storage binding ({max_binding})")]
    RowTooLarge { adapter: String, ty: GgmlType, tensor: String, row_bytes: u64, max_binding: u64 },
    #[error("tensor '{tensor}': type {ty} is not supported by the wgpu backend")]
    UnsupportedType { tensor: String, ty: GgmlType },
    #[error("tensor '{tensor}': {detail}")]
    BadTensor { tensor: String, detail: String },
    #[error("adapter '{adapter}': shader '{shader}' failed to compile: {reason}")]
    Shader { adapter: String, shader: String, reason: String },
    #[error("adapter '{adapter}': {context}: {reason}")]
    Gpu { adapter: String, context: String, reason: String },
    #[error("buffer of {expected} values written with {found}")]
    Length { expected: usize, found: usize },
}

impl From<WebGpuError> for ModelError {
    fn from(e: WebGpuError) -> Self {
        ModelError::Backend(format!("wgpu: {e}"))
    }
}
