//! Where a matrix's bytes live while the backend computes on them: copied once, unchanged, into
//! the process's own memory (the default), or read in place from the memory-mapped file.
//!
//! Why copy: decode streams every weight once per token, and on some machines file-backed pages
//! stream far slower than anonymous memory. Measured on the development VM (2 threads summing a
//! 0.4B model's bytes with AVX-512): the mapped F16 file 12-15 GB/s, the same bytes copied into
//! anonymous memory 30-32 GB/s (4 KiB or 2 MiB pages alike); Q8_0 8.7 vs 31-33 GB/s. The copy keeps
//! the stored type (no dequantization) and costs one pass over the file at load and the model's
//! size in resident memory. `AVIARY_CPU_WEIGHTS=mapped` keeps the old in-place reads.

use model::TensorSource;

use crate::pool::Pool;

/// Bytes per copy task: big enough to amortise a task, small enough to spread over the threads.
const COPY_CHUNK: usize = 1 << 20;

/// One cache line, so that copied matrices start 64-byte aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// A matrix's bytes.
pub struct WeightBytes(Place);

enum Place {
    /// In place in the mapped file.
    Mapped(TensorSource),
    /// A copy in this process's memory: `len` bytes at the start of `lines`.
    Resident { lines: Vec<Line>, len: usize },
}

impl WeightBytes {
    /// `src`'s bytes, copied (by the pool's threads: the page faults of fresh memory and the
    /// reads of the file's pages spread over them) when `resident`.
    pub fn new(src: &TensorSource, resident: bool, pool: &Pool) -> WeightBytes {
        if !resident {
            return WeightBytes(Place::Mapped(src.clone()));
        }
        let bytes = src.bytes();
        let mut lines: Vec<Line> = Vec::with_capacity(bytes.len().div_ceil(64));
        let dst = lines.as_mut_ptr() as usize;
        pool.run(bytes.len().div_ceil(COPY_CHUNK), &|i| {
            let part = &bytes[i * COPY_CHUNK..bytes.len().min((i + 1) * COPY_CHUNK)];
            // SAFETY: the capacity covers `bytes.len()` bytes; each task writes its own range.
            unsafe { std::ptr::copy_nonoverlapping(part.as_ptr(), (dst as *mut u8).add(i * COPY_CHUNK), part.len()) };
        });
        let tail = lines.capacity() * 64 - bytes.len();
        // SAFETY: the bytes past `len` in the last line are zeroed here; then every line is
        // initialised (a Line is plain bytes).
        unsafe {
            std::ptr::write_bytes((dst as *mut u8).add(bytes.len()), 0, tail);
            lines.set_len(lines.capacity());
        }
        WeightBytes(Place::Resident { lines, len: bytes.len() })
    }

    /// Whether the bytes were copied into process memory.
    pub fn is_resident(&self) -> bool {
        matches!(self.0, Place::Resident { .. })
    }

    pub fn bytes(&self) -> &[u8] {
        match &self.0 {
            Place::Mapped(src) => src.bytes(),
            // SAFETY: `lines` holds at least `len` initialised bytes.
            Place::Resident { lines, len } => unsafe { std::slice::from_raw_parts(lines.as_ptr() as *const u8, *len) },
        }
    }
}

/// Whether matrices are copied into process memory at upload: yes unless
/// `AVIARY_CPU_WEIGHTS=mapped`.
pub fn resident_from_env() -> bool {
    !std::env::var("AVIARY_CPU_WEIGHTS").is_ok_and(|v| v.trim() == "mapped")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use gguf::{GgmlType, GgufFile, GgufWriter};

    use super::*;

    /// Resident copies equal the file's bytes, start on a cache line, and leave the mapped path
    /// alone; odd sizes across several copy tasks and a partial last line.
    #[test]
    fn resident_copy_equals_the_file_bytes() {
        let pool = Pool::new(2).unwrap();
        let mut rng = testkit::TestRng::new(7);
        let shapes = [(1u64, 1u64), (33, 3), (999, 1051), (4097, 300)];
        let mut writer = GgufWriter::new();
        for (i, (cols, rows)) in shapes.iter().enumerate() {
            let data: Vec<u8> = (0..2 * cols * rows).map(|_| rng.next_u64() as u8).collect();
            writer.add_tensor(format!("t{i}"), &[*cols, *rows], GgmlType::F16, data).unwrap();
        }
        let file = Arc::new(GgufFile::from_bytes(writer.to_bytes()).unwrap());
        let mut checked = 0;
        for info in file.tensors() {
            let src = TensorSource { file: file.clone(), info: info.clone() };
            let copy = WeightBytes::new(&src, true, &pool);
            let mapped = WeightBytes::new(&src, false, &pool);
            assert!(copy.is_resident() && !mapped.is_resident());
            assert_eq!(copy.bytes(), src.bytes(), "tensor {}", info.name);
            assert_eq!(mapped.bytes().as_ptr(), src.bytes().as_ptr());
            assert_eq!(copy.bytes().as_ptr() as usize % 64, 0);
            checked += 1;
        }
        assert_eq!(checked, shapes.len());
        assert!(file.tensors().iter().any(|t| 2 * t.n_elements() as usize > 2 * COPY_CHUNK), "a tensor spans several copy tasks");
    }
}
