//! How a GGUF tensor is laid out on the GPU: its blocks re-packed to whole u32 words (GGUF blocks of
//! 18, 22, 34, 110 and 210 bytes are not 4-byte aligned), never dequantized. Each row becomes a fixed
//! number of words, so a tensor splits by rows into parts that fit a storage binding.
//!
//! Re-packing inserts zero bytes into blocks that need them: two after the leading f16 scale of
//! Q4_0, Q5_0 and Q8_0 (so the quants that follow start on a word), two at the end of Q3_K (112
//! bytes) and fourteen at the end of Q6_K (224 bytes), so that every K-quant block used by the
//! vectorized decode kernels (Q4_K: 144, Q6_K: 224) starts on 16 bytes and loads as `vec4<u32>`.
//! Float rows (F32, F16, BF16) are padded with zeros to a multiple of 16 bytes for the same reason.

use gguf::GgmlType;

/// The GPU layout of one weight type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeLayout {
    pub ty: GgmlType,
    /// Elements per stored block (1 for float types).
    pub block_elems: usize,
    /// Bytes per block in the file.
    pub file_bytes: usize,
    /// Where zero bytes are inserted into each block, if anywhere.
    pub pad_at: Option<usize>,
    /// How many zero bytes are inserted at `pad_at`.
    pub pad_len: usize,
}

impl TypeLayout {
    pub fn of(ty: GgmlType) -> Option<TypeLayout> {
        use GgmlType as T;
        let (block_elems, file_bytes, pad_at) = match ty {
            T::F32 => (1, 4, None),
            T::F16 | T::BF16 => (1, 2, None),
            T::Q4_0 => (32, 18, Some(2)),
            T::Q4_1 => (32, 20, None),
            T::Q5_0 => (32, 22, Some(2)),
            T::Q5_1 => (32, 24, None),
            T::Q8_0 => (32, 34, Some(2)),
            T::Q2_K => (256, 84, None),
            T::Q3_K => (256, 110, Some(110)),
            T::Q4_K => (256, 144, None),
            T::Q5_K => (256, 176, None),
            T::Q6_K => (256, 210, Some(210)),
            _ => return None,
        };
        let pad_len = match (ty, pad_at) {
            (T::Q6_K, _) => 14,
            (_, Some(_)) => 2,
            (_, None) => 0,
        };
        Some(TypeLayout { ty, block_elems, file_bytes, pad_at, pad_len })
    }

    /// Bytes of one block on the GPU.
    pub fn gpu_block_bytes(&self) -> usize {
        self.file_bytes + self.pad_len
    }

    fn is_float(&self) -> bool {
        self.block_elems == 1
    }

    /// Bytes of one row of `cols` elements in the file, or `None` when `cols` is not whole blocks.
    pub fn file_row_bytes(&self, cols: usize) -> Option<usize> {
        cols.is_multiple_of(self.block_elems).then(|| cols / self.block_elems * self.file_bytes)
    }

    /// u32 words of one row of `cols` elements on the GPU.
    pub fn row_words(&self, cols: usize) -> usize {
        let bytes = cols / self.block_elems * self.gpu_block_bytes();
        if self.is_float() {
            bytes.div_ceil(16) * 4
        } else {
            bytes.div_ceil(4)
        }
    }

    /// Re-packs whole rows (`src` = `n` rows as in the file) into GPU words, appended to `dst`.
    pub fn repack_rows(&self, src: &[u8], cols: usize, dst: &mut Vec<u8>) {
        let row_in = cols / self.block_elems * self.file_bytes;
        let row_out = self.row_words(cols) * 4;
        for row in src.chunks_exact(row_in) {
            let start = dst.len();
            match self.pad_at {
                None => dst.extend_from_slice(row),
                Some(at) => {
                    for block in row.chunks_exact(self.file_bytes) {
                        dst.extend_from_slice(&block[..at]);
                        dst.resize(dst.len() + self.pad_len, 0);
                        dst.extend_from_slice(&block[at..]);
                    }
                }
            }
            dst.resize(start + row_out, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_block_becomes_whole_words() {
        for ty in quant::SUPPORTED {
            let l = TypeLayout::of(ty).expect("supported type has a layout");
            assert_eq!(l.file_bytes, ty.type_size(), "{ty}");
            assert_eq!(l.block_elems, ty.block_size(), "{ty}");
            if l.block_elems > 1 {
                assert_eq!(l.gpu_block_bytes() % 4, 0, "{ty}");
            }
        }
    }

    #[test]
    fn q8_0_gets_padding_after_the_scale() {
        let l = TypeLayout::of(GgmlType::Q8_0).unwrap();
        let block: Vec<u8> = (0..34).collect();
        let mut out = Vec::new();
        l.repack_rows(&block, 32, &mut out);
        assert_eq!(out.len(), 36);
        assert_eq!(&out[..4], &[0, 1, 0, 0]);
        assert_eq!(&out[4..], &block[2..]);
    }

    #[test]
    fn odd_f16_rows_are_padded_to_16_bytes() {
        let l = TypeLayout::of(GgmlType::F16).unwrap();
        let rows: Vec<u8> = (0..12).collect(); // 2 rows of 3 halves
        let mut out = Vec::new();
        l.repack_rows(&rows, 3, &mut out);
        let mut expected = vec![0u8; 32];
        expected[..6].copy_from_slice(&rows[..6]);
        expected[16..22].copy_from_slice(&rows[6..]);
        assert_eq!(out, expected);
        assert_eq!(l.row_words(3), 4);
        assert_eq!(l.row_words(8), 4);
        assert_eq!(l.row_words(9), 8);
    }

    #[test]
    fn vectorized_blocks_start_on_16_bytes() {
        for ty in [GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q3_K] {
            let l = TypeLayout::of(ty).unwrap();
            assert_eq!(l.gpu_block_bytes() % 16, 0, "{ty}");
        }
        let l = TypeLayout::of(GgmlType::Q6_K).unwrap();
        let block: Vec<u8> = (0..210).map(|i| i as u8).collect();
        let mut out = Vec::new();
        l.repack_rows(&block, 256, &mut out);
        assert_eq!(out.len(), 224);
        assert_eq!(&out[..210], &block[..]);
        assert!(out[210..].iter().all(|&b| b == 0));
    }
}
