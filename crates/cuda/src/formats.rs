//! Which block-format kernels (`src/kernels/blocks.cuh`) serve a tensor type, and their geometry.

use gguf::GgmlType;

/// A block format as the kernels cut it: `units` units of work per block of `block_elems` elements.
#[derive(Debug)]
pub struct Format {
    /// Suffix of the kernel names (`matmul_<name>_t1`, `matmul_<name>_t8`, `embed_<name>`).
    pub name: &'static str,
    /// The struct in blocks.cuh that decodes it.
    pub cuda_struct: &'static str,
    pub block_elems: usize,
    pub units: usize,
    /// Bytes of one block on the device: the GGUF block size, or more for a padded layout the
    /// backend builds at upload (see [`Format::repack_row`]).
    pub device_block_bytes: usize,
}

const fn f(name: &'static str, cuda_struct: &'static str, block_elems: usize, units: usize) -> Format {
    Format { name, cuda_struct, block_elems, units, device_block_bytes: 0 }
}

static F32V: Format = f("f32v", "FmtF32V", 4, 1);
static F32S: Format = f("f32s", "FmtF32S", 1, 1);
static F16V: Format = f("f16v", "FmtF16V", 8, 1);
static F16S: Format = f("f16s", "FmtF16S", 1, 1);
static BF16V: Format = f("bf16v", "FmtBF16V", 8, 1);
static BF16S: Format = f("bf16s", "FmtBF16S", 1, 1);
static Q8_0: Format = f("q8_0", "FmtQ8_0", 32, 4);
static Q4_0: Format = f("q4_0", "FmtQ4_0", 32, 4);
static Q4_1: Format = f("q4_1", "FmtQ4_1", 32, 4);
static Q5_0: Format = f("q5_0", "FmtQ5_0", 32, 4);
static Q5_1: Format = f("q5_1", "FmtQ5_1", 32, 4);
static Q2_K: Format = f("q2_k", "FmtQ2_K", 256, 8);
static Q3_K: Format = f("q3_k", "FmtQ3_K", 256, 8);
static Q4_K: Format = f("q4_k", "FmtQ4_K", 256, 8);
static Q5_K: Format = f("q5_k", "FmtQ5_K", 256, 8);
static Q6_K: Format = f("q6_k", "FmtQ6_K", 256, 8);
/// Q6_K with every 210-byte block padded to 224 bytes (16-byte aligned, so the matvec and MMA
/// kernels load whole 16-byte vectors). The layout inside a block is GGUF's.
static Q6_KR: Format = Format { device_block_bytes: Q6_K_PADDED, ..f("q6_kr", "FmtQ6_KR", 256, 8) };
const Q6_K_PADDED: usize = 224;
const Q6_K_BYTES: usize = 210;

/// Every format, for loading kernels and for tests.
pub static ALL: [&Format; 17] = [
    &F32V, &F32S, &F16V, &F16S, &BF16V, &BF16S, &Q8_0, &Q4_0, &Q4_1, &Q5_0, &Q5_1, &Q2_K, &Q3_K, &Q4_K, &Q5_K, &Q6_K, &Q6_KR,
];

/// The format for rows of `cols` elements of `ty`: the 16-byte-load variants of the float types when
/// a row is a whole number of 16-byte chunks, else the scalar ones. `None` for types without kernels.
pub fn for_type(ty: GgmlType, cols: usize) -> Option<&'static Format> {
    Some(match ty {
        GgmlType::F32 if cols % 4 == 0 => &F32V,
        GgmlType::F32 => &F32S,
        GgmlType::F16 if cols % 8 == 0 => &F16V,
        GgmlType::F16 => &F16S,
        GgmlType::BF16 if cols % 8 == 0 => &BF16V,
        GgmlType::BF16 => &BF16S,
        GgmlType::Q8_0 => &Q8_0,
        GgmlType::Q4_0 => &Q4_0,
        GgmlType::Q4_1 => &Q4_1,
        GgmlType::Q5_0 => &Q5_0,
        GgmlType::Q5_1 => &Q5_1,
        GgmlType::Q2_K => &Q2_K,
        GgmlType::Q3_K => &Q3_K,
        GgmlType::Q4_K => &Q4_K,
        GgmlType::Q5_K => &Q5_K,
        GgmlType::Q6_K => &Q6_KR,
        _ => return None,
    })
}

impl Format {
    /// Units of work in a row of `cols` elements.
    pub fn units_per_row(&self, cols: usize) -> usize {
        cols / self.block_elems * self.units
    }

    /// Whether the device copy differs from the GGUF bytes.
    pub fn is_repacked(&self) -> bool {
        self.device_block_bytes != 0
    }

    /// Bytes of a device row of `cols` elements, given the GGUF row size.
    pub fn device_row_bytes(&self, cols: usize, gguf_row_bytes: usize) -> usize {
        if self.is_repacked() {
            cols / self.block_elems * self.device_block_bytes
        } else {
            gguf_row_bytes
        }
    }

    /// Appends the device layout of one GGUF row to `out` (a copy, or the padded blocks).
    pub fn repack_row(&self, row: &[u8], out: &mut Vec<u8>) {
        if !self.is_repacked() {
            out.extend_from_slice(row);
            return;
        }
        for block in row.chunks_exact(Q6_K_BYTES) {
            out.extend_from_slice(block);
            out.resize(out.len() + (self.device_block_bytes - Q6_K_BYTES), 0);
        }
    }
}
