//! The backend's weight and activation handles. Every GPU buffer carries an id so bind groups can be
//! cached by the buffers they bind; dropping a buffer reports its id so those entries are evicted.

use std::sync::{Arc, Mutex};

use gguf::GgmlType;

/// A GPU buffer with a cache identity.
pub struct Tracked {
    pub(crate) id: u64,
    pub(crate) buffer: wgpu::Buffer,
    graveyard: Arc<Mutex<Vec<u64>>>,
}

impl Tracked {
    pub(crate) fn new(id: u64, buffer: wgpu::Buffer, graveyard: Arc<Mutex<Vec<u64>>>) -> Self {
        Tracked { id, buffer, graveyard }
    }
    pub fn size(&self) -> u64 {
        self.buffer.size()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Ok(mut dead) = self.graveyard.lock() {
            dead.push(self.id);
        }
    }
}

/// Rows `first_row .. first_row + rows` of a matrix, in one buffer that fits a storage binding.
pub struct MatrixPart {
    pub first_row: usize,
    pub rows: usize,
    pub(crate) buf: Tracked,
}

/// A weight on the GPU.
pub enum GpuWeight {
    /// `rows` × `cols` in its stored type, re-packed to `row_words` u32 words per row (see `layout`)
    /// and split by rows into parts.
    Matrix { name: String, ty: GgmlType, rows: usize, cols: usize, row_words: usize, parts: Vec<MatrixPart> },
    /// `rows` f32 vectors of `cols`.
    Vectors { rows: usize, cols: usize, buf: Tracked },
}

impl GpuWeight {
    pub(crate) fn vectors(&self) -> &Tracked {
        match self {
            GpuWeight::Vectors { buf, .. } => buf,
            GpuWeight::Matrix { name, .. } => panic!("op expected a vector parameter, got matrix '{name}'"),
        }
    }
}

/// An f32 activation of `[rows, cols]`, row-major, resident on the GPU.
pub struct GpuAct {
    pub rows: usize,
    pub cols: usize,
    pub(crate) buf: Tracked,
}

impl GpuAct {
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
