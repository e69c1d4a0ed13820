//! `aviary quantize`: convert an RWKV-7 GGUF file to another type mix with llama-quantize's rules.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use convert::{quantize_file, FileType, WriteOptions};

#[derive(Args)]
pub struct QuantizeArgs {
    /// Input GGUF file (RWKV-7, any supported tensor types).
    #[arg(value_name = "IN")]
    input: PathBuf,
    /// Output GGUF file.
    #[arg(value_name = "OUT")]
    output: PathBuf,
    /// Target type mix: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_S/M/L, Q4_K_S/M,
    /// Q5_K_S/M or Q6_K (case-insensitive).
    #[arg(value_name = "TYPE")]
    file_type: FileType,
    /// Overwrite an existing output file.
    #[arg(long)]
    force: bool,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0, value_name = "N")]
    threads: usize,
}

pub fn run(a: QuantizeArgs) -> Result<()> {
    let opts = WriteOptions { force: a.force, progress: true, threads: a.threads };
    let report = quantize_file(&a.input, &a.output, a.file_type, &opts)?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!("{report}");
    Ok(())
}
