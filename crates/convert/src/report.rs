//! What a write did: per-tensor types and sizes, warnings, and a printable summary.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use gguf::GgmlType;

use crate::FileType;

/// One tensor of a written file.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSummary {
    pub name: String,
    pub dims: Vec<u64>,
    /// Type in the input file (F32 for generated tensors).
    pub from: GgmlType,
    /// Type in the output file.
    pub to: GgmlType,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// The result of [`crate::quantize`] or [`crate::write_synth`].
#[derive(Clone, Debug)]
pub struct WriteReport {
    pub path: PathBuf,
    pub file_type: FileType,
    /// In file order.
    pub tensors: Vec<TensorSummary>,
    pub warnings: Vec<String>,
}

impl WriteReport {
    /// Number of tensors stored in each type.
    pub fn type_counts(&self) -> BTreeMap<GgmlType, usize> {
        let mut counts = BTreeMap::new();
        for t in &self.tensors {
            *counts.entry(t.to).or_insert(0) += 1;
        }
        counts
    }

    pub fn bytes_in(&self) -> u64 {
        self.tensors.iter().map(|t| t.bytes_in).sum()
    }

    /// Tensor data bytes written (without header and padding).
    pub fn bytes_out(&self) -> u64 {
        self.tensors.iter().map(|t| t.bytes_out).sum()
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

impl fmt::Display for WriteReport {
    /// `wrote F (Q4_K_M): 62 tensors (F32 38, F16 12, Q4_K 11, Q6_K 1); tensor data 7.68 MiB -> 2.53 MiB (3.04x smaller)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts: Vec<String> = self.type_counts().iter().map(|(ty, n)| format!("{ty} {n}")).collect();
        let (i, o) = (self.bytes_in(), self.bytes_out());
        write!(
            f,
            "wrote {} ({}): {} tensors ({}); tensor data {:.2} MiB -> {:.2} MiB ({:.2}x smaller)",
            self.path.display(),
            self.file_type,
            self.tensors.len(),
            counts.join(", "),
            mib(i),
            mib(o),
            if o == 0 { 0.0 } else { i as f64 / o as f64 }
        )
    }
}
