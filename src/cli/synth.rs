//! `aviary synth`: write a deterministic random-weight RWKV-7 model.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use convert::{write_synth, FileType, Preset, WorldVocab, WriteOptions};

#[derive(Args)]
pub struct SynthArgs {
    /// Model size: tiny, 0.1b, 0.4b, 1.5b, 2.9b or 7.2b.
    #[arg(long, value_name = "PRESET")]
    preset: Preset,
    /// Tensor type mix, as llama-quantize names it (F32, F16, BF16, Q8_0, Q4_K_M, ...).
    #[arg(long = "type", default_value = "F16", value_name = "TYPE")]
    file_type: FileType,
    /// Output GGUF file.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Overwrite an existing output file.
    #[arg(long)]
    force: bool,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0, value_name = "N")]
    threads: usize,
}

pub fn run(a: SynthArgs) -> Result<()> {
    let vocab = WorldVocab::load(&convert::cache_dir()?)?;
    let opts = WriteOptions { force: a.force, progress: true, threads: a.threads };
    let report = write_synth(&a.preset.spec(), &vocab, a.file_type, &a.out, &opts)?;
    eprintln!("{report}");
    Ok(())
}
