//! The CPU backend's weight and activation buffers.

use gguf::GgmlType;
use quant::fast::RowKernel;

use crate::fast::sparse_matvec::Transposed;
use crate::weight_bytes::WeightBytes;

/// A weight on the CPU.
pub enum CpuWeight {
    /// A matrix of `rows` × `cols` in its stored type (copied from the file, or read in place:
    /// see `weight_bytes`).
    /// `kernel` is the fast dot-product kernel for its type and row length, chosen at upload.
    /// `sparse`: a transposed copy for one-token products with mostly-zero inputs (FFN value
    /// matrices, see `fast::sparse_matvec`).
    Matrix { ty: GgmlType, rows: usize, cols: usize, row_bytes: usize, bytes: WeightBytes, kernel: RowKernel, sparse: Option<Box<Transposed>> },
    /// Small f32 parameters: `rows` vectors of `cols`.
    Vectors { rows: usize, cols: usize, data: Vec<f32> },
}

impl CpuWeight {
    /// The f32 data of a `Vectors` weight. The model only passes vectors where the op expects them.
    pub fn vectors(&self) -> &[f32] {
        match self {
            CpuWeight::Vectors { data, .. } => data,
            CpuWeight::Matrix { .. } => panic!("op expected a vector parameter, got a matrix"),
        }
    }
}

/// An f32 activation of `[rows, cols]`, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct CpuAct {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl CpuAct {
    pub fn zeros(rows: usize, cols: usize) -> Self {
        CpuAct { rows, cols, data: vec![0.0; rows * cols] }
    }
    pub fn from_vec(rows: usize, cols: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), rows * cols, "activation data length");
        CpuAct { rows, cols, data }
    }
    pub fn row(&self, t: usize) -> &[f32] {
        &self.data[t * self.cols..(t + 1) * self.cols]
    }
}
