//! Fetching tensors from a GGUF file into a backend, with every shape and type checked.

use std::sync::Arc;

use gguf::{GgufFile, TensorInfo};

use crate::{names, Architecture, ModelError, Ops};

/// One tensor of an open file, handed to a backend for upload. Backends that compute on host memory
/// keep the `Arc` and read the bytes in place (no copy, no conversion).
#[derive(Clone)]
pub struct TensorSource {
    pub file: Arc<GgufFile>,
    pub info: TensorInfo,
}

impl TensorSource {
    pub fn bytes(&self) -> &[u8] {
        self.file.tensor_data(&self.info)
    }
    /// Rows of a matrix (`ne[1]`, times any outer dimensions).
    pub fn rows(&self) -> usize {
        (self.info.n_elements() / self.info.ne(0).max(1)) as usize
    }
    /// Elements per row (`ne[0]`).
    pub fn cols(&self) -> usize {
        self.info.ne(0) as usize
    }
}

/// Fails unless the file says `general.architecture = <expected>`.
pub fn check_architecture(file: &GgufFile, expected: &str) -> Result<(), ModelError> {
    let found = file.get_str(names::ARCH_KEY)?.ok_or_else(|| ModelError::MissingKey {
        file: file.source_name().to_string(),
        key: names::ARCH_KEY.to_string(),
    })?;
    if found != expected {
        return Err(ModelError::Architecture { file: file.source_name().to_string(), found: found.to_string() });
    }
    Ok(())
}

/// The file's `general.architecture`, if aviary runs it.
pub fn architecture_of(file: &GgufFile) -> Result<Architecture, ModelError> {
    let found = file.get_str(names::ARCH_KEY)?.ok_or_else(|| ModelError::MissingKey {
        file: file.source_name().to_string(),
        key: names::ARCH_KEY.to_string(),
    })?;
    Architecture::from_name(found)
        .ok_or_else(|| ModelError::Architecture { file: file.source_name().to_string(), found: found.to_string() })
}

fn strip_trailing_ones(dims: &[u64]) -> &[u64] {
    let mut n = dims.len();
    while n > 1 && dims[n - 1] == 1 {
        n -= 1;
    }
    &dims[..n]
}

/// Pulls named tensors out of a file into a backend.
pub(crate) struct Loader<'a, O: Ops> {
    pub file: &'a Arc<GgufFile>,
    pub ops: &'a mut O,
}

impl<O: Ops> Loader<'_, O> {
    fn info(&self, name: &str, expected: &[u64]) -> Result<TensorInfo, ModelError> {
        let info = self.file.tensor(name).ok_or_else(|| ModelError::MissingTensor {
            file: self.file.source_name().to_string(),
            name: name.to_string(),
        })?;
        if strip_trailing_ones(&info.dims) != strip_trailing_ones(expected) {
            return Err(ModelError::Shape {
                file: self.file.source_name().to_string(),
                name: name.to_string(),
                expected: expected.to_vec(),
                found: info.dims.clone(),
            });
        }
        if !quant::is_supported(info.ty) {
            return Err(ModelError::UnsupportedType {
                file: self.file.source_name().to_string(),
                name: name.to_string(),
                ty: info.ty,
            });
        }
        Ok(info.clone())
    }

    /// A matrix of `rows` × `cols` (GGUF `ne = [cols, rows]`), kept in its stored type.
    pub fn matrix(&mut self, name: &str, rows: usize, cols: usize) -> Result<O::Weight, ModelError> {
        self.matrix_dims(name, &[cols as u64, rows as u64])
    }

    /// A matrix with GGUF shape `dims` (rows = every dimension past `ne[0]`), kept in its stored type.
    pub fn matrix_dims(&mut self, name: &str, dims: &[u64]) -> Result<O::Weight, ModelError> {
        let info = self.info(name, dims)?;
        self.ops.upload_matrix(&TensorSource { file: self.file.clone(), info })
    }

    /// Whether the file has tensor `name` (for optional tensors).
    pub fn has(&self, name: &str) -> bool {
        self.file.tensor(name).is_some()
    }

    /// The values of a tensor of shape `dims` as f32 (for parameters transformed at load).
    pub fn read_f32(&self, name: &str, dims: &[u64]) -> Result<Vec<f32>, ModelError> {
        let info = self.info(name, dims)?;
        let mut data = vec![0f32; info.n_elements() as usize];
        quant::dequantize_row(info.ty, self.file.tensor_data(&info), &mut data)?;
        Ok(data)
    }

    /// `<base>.weight` and `<base>.bias`, `[C]` each (a LayerNorm or GroupNorm affine).
    pub fn norm(&mut self, base: &str, c: usize) -> Result<(O::Weight, O::Weight), ModelError> {
        Ok((self.vector(&format!("{base}.weight"), c)?, self.vector(&format!("{base}.bias"), c)?))
    }

    /// A parameter of `rows` vectors of `cols` values with GGUF shape `dims`, converted to f32 (these
    /// are F32 in every file llama.cpp writes; a few KB either way).
    pub fn vectors(&mut self, name: &str, dims: &[u64], rows: usize, cols: usize) -> Result<O::Weight, ModelError> {
        let data = self.read_f32(name, dims)?;
        debug_assert_eq!(data.len(), rows * cols, "{name}: dims and rows × cols disagree");
        self.ops.upload_vectors(rows, cols, data)
    }

    /// A `[C]` vector.
    pub fn vector(&mut self, name: &str, n: usize) -> Result<O::Weight, ModelError> {
        self.vectors(name, &[n as u64], 1, n)
    }
}
