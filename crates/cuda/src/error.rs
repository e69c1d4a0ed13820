//! The crate's one error type.

/// Everything that can go wrong between the CUDA driver, NVRTC and this backend.
#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    #[error("CUDA driver not found (libcuda.so): {0}")]
    DriverNotFound(String),
    #[error("NVRTC not found (libnvrtc.so): {0}")]
    NvrtcNotFound(String),
    #[error("no CUDA device: {0}")]
    NoDevice(String),
    #[error("CUDA device {ordinal} does not exist (the driver reports {count} device(s))")]
    BadOrdinal { ordinal: usize, count: usize },
    #[error("CUDA {what}: {reason}")]
    Driver { what: String, reason: String },
    #[error("NVRTC could not compile kernel program '{program}' for {arch}:\n{log}")]
    Compile { program: String, arch: String, log: String },
    #[error("kernel '{name}' is missing from the compiled modules")]
    MissingKernel { name: String },
    #[error("the cuda backend has no kernels for tensor type {ty} (tensor '{tensor}')")]
    UnsupportedType { ty: gguf::GgmlType, tensor: String },
    #[error("AVIARY_CUDA_TUNING item '{item}': {why}")]
    Tuning { item: String, why: String },
    #[error("tensor '{tensor}': needs {needed} bytes for [{rows}, {cols}] of {ty}, has {found}")]
    TensorBytes { tensor: String, ty: gguf::GgmlType, rows: usize, cols: usize, needed: usize, found: usize },
}

impl CudaError {
    pub(crate) fn driver(what: impl Into<String>, e: impl std::fmt::Display) -> Self {
        CudaError::Driver { what: what.into(), reason: e.to_string() }
    }
}

impl From<CudaError> for model::ModelError {
    fn from(e: CudaError) -> Self {
        model::ModelError::Backend(format!("cuda: {e}"))
    }
}
