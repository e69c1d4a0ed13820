//! The CUDA backend's weight and activation buffers: device memory plus the facts kernels need.

use cudarc::driver::CudaSlice;
use gguf::GgmlType;

/// A weight on the device: a matrix in its stored GGUF type (row after row, as in the file), or
/// small f32 parameters (`ty` = F32).
pub struct CudaWeight {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub row_bytes: usize,
    /// The device address of `buf`, cached because every launch passes it.
    pub(crate) ptr: u64,
    pub(crate) _buf: CudaSlice<u8>,
    /// The block-format kernels for this type and width (`None` for vector parameters).
    pub(crate) format: Option<&'static crate::formats::Format>,
}

/// An f32 activation or state buffer of `[rows, cols]`, row-major.
pub struct CudaAct {
    pub rows: usize,
    pub cols: usize,
    pub(crate) ptr: u64,
    pub(crate) buf: CudaSlice<f32>,
}

impl CudaAct {
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
