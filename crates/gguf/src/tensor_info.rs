//! Tensor-info records (spec §1.4) and the size rules shared by the reader and the writers.

use crate::{GgmlType, GgufError};

/// GGML_MAX_DIMS: a tensor has 1 to 4 dimensions.
pub const MAX_DIMS: usize = 4;

/// One tensor as declared in the file header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml `ne` order, innermost (contiguous) first, 1..=4 entries exactly as stored.
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Byte offset relative to the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Number of elements (product of the dims). Saturates for hand-made infos whose product
    /// overflows; infos from a [`crate::GgufFile`] were checked at open.
    pub fn n_elements(&self) -> u64 {
        self.dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .unwrap_or(u64::MAX)
    }

    /// Size of the tensor's data in bytes. Infos from a [`crate::GgufFile`] were checked at open;
    /// for a hand-made info that is not a whole number of blocks or overflows this is `u64::MAX`.
    pub fn n_bytes(&self) -> u64 {
        byte_size(&self.dims, self.ty).unwrap_or(u64::MAX)
    }

    /// `dims[i]`, or 1 for dimensions past the stored ones (ggml's implicit trailing 1s).
    pub fn ne(&self, i: usize) -> u64 {
        self.dims.get(i).copied().unwrap_or(1)
    }
}

/// Bytes of a tensor: whole blocks along ne[0], times the other dims. `None` when ne[0] is not a
/// whole number of blocks or anything overflows.
fn byte_size(dims: &[u64], ty: GgmlType) -> Option<u64> {
    let row = ty.row_bytes(*dims.first()?)?;
    dims[1..].iter().try_fold(row, |acc, &d| acc.checked_mul(d))
}

/// Validates a tensor's shape for its type and returns its byte size, with an error that names
/// the tensor. Used both when reading and when writing, so both reject the same shapes.
pub(crate) fn checked_tensor_bytes(
    path: &str,
    name: &str,
    dims: &[u64],
    ty: GgmlType,
) -> Result<u64, GgufError> {
    if dims.is_empty() || dims.len() > MAX_DIMS {
        return Err(GgufError::BadDimCount {
            path: path.into(),
            tensor: name.into(),
            n_dims: dims.len() as u64,
            offset: None,
        });
    }
    // llama.cpp reads dims as i64 and rejects negatives; keep the same rule so files we accept load there.
    if let Some((index, &value)) = dims.iter().enumerate().find(|(_, &d)| d > i64::MAX as u64) {
        return Err(GgufError::NegativeDim {
            path: path.into(),
            tensor: name.into(),
            index,
            value,
        });
    }
    let block = ty.block_size();
    if dims[0] % block as u64 != 0 {
        return Err(GgufError::BlockMismatch {
            path: path.into(),
            tensor: name.into(),
            ty,
            ne0: dims[0],
            block,
        });
    }
    let overflow = |what| GgufError::SizeOverflow {
        path: path.into(),
        tensor: name.into(),
        ty,
        dims: dims.to_vec(),
        what,
    };
    let elements = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    if !matches!(elements, Some(n) if n <= i64::MAX as u64) {
        return Err(overflow("element count"));
    }
    byte_size(dims, ty).ok_or_else(|| overflow("byte size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(dims: &[u64], ty: GgmlType) -> TensorInfo {
        TensorInfo {
            name: "t".into(),
            dims: dims.to_vec(),
            ty,
            offset: 0,
        }
    }

    #[test]
    fn sizes_follow_block_geometry() {
        assert_eq!(info(&[256, 3], GgmlType::Q4_K).n_bytes(), 3 * 144);
        assert_eq!(
            info(&[64, 2, 1, 6], GgmlType::F16).n_bytes(),
            64 * 2 * 6 * 2
        );
        assert_eq!(info(&[64, 2, 1, 6], GgmlType::F16).n_elements(), 768);
        let t = info(&[5, 7], GgmlType::F32);
        assert_eq!((t.ne(0), t.ne(1), t.ne(2), t.ne(3)), (5, 7, 1, 1));
        assert_eq!(info(&[33], GgmlType::Q8_0).n_bytes(), u64::MAX);
    }

    #[test]
    fn checked_sizes_reject_bad_shapes() {
        let e = checked_tensor_bytes("f", "w", &[33, 2], GgmlType::Q4_0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'w'") && e.contains("33") && e.contains("32"),
            "{e}"
        );
        let e = checked_tensor_bytes("f", "w", &[1 << 32, 1 << 32], GgmlType::F32)
            .unwrap_err()
            .to_string();
        assert!(e.contains("element count overflows"), "{e}");
        let e = checked_tensor_bytes("f", "w", &[1 << 62], GgmlType::F32)
            .unwrap_err()
            .to_string();
        assert!(e.contains("byte size overflows"), "{e}");
        let e = checked_tensor_bytes("f", "w", &[u64::MAX], GgmlType::F32)
            .unwrap_err()
            .to_string();
        assert!(e.contains("negative"), "{e}");
        assert!(checked_tensor_bytes("f", "w", &[], GgmlType::F32).is_err());
        assert!(checked_tensor_bytes("f", "w", &[1; 5], GgmlType::F32).is_err());
        assert_eq!(
            checked_tensor_bytes("f", "w", &[0, 3], GgmlType::F32).unwrap(),
            0
        );
    }
}
