//! `aviary convert`: an rwkv.cpp legacy file or a BlinkDL `.pth` checkpoint to GGUF — llama.cpp's layout for RWKV-7 and RWKV-6
//! (llama.cpp loads these), aviary's documented `rwkv5`/`rwkv4` layouts otherwise (see
//! `model::names`). `--type` re-types the tensors with llama-quantize's rules.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use convert::{FileType, WriteOptions};
use gguf::{GgufFile, GgufWriter};
use model::legacy::{LegacyOptions, LegacyVersion};

#[derive(Args)]
pub struct ConvertArgs {
    /// Input: an rwkv.cpp model file (RWKV-4, 5.1, 5.2, 6 or 7; FP32, FP16 or quantized) or a
    /// BlinkDL .pth checkpoint (FP32, FP16 or BF16).
    #[arg(value_name = "IN")]
    input: PathBuf,
    /// Output GGUF file.
    #[arg(value_name = "OUT")]
    output: PathBuf,
    /// Re-type the tensors as llama-quantize would (F32, F16, Q8_0, Q4_K_M, ...); default: keep the
    /// input's types.
    #[arg(long = "type", value_name = "TYPE")]
    file_type: Option<FileType>,
    /// RWKV-5 only: the GroupNorm epsilon to record (default 1e-5 for rwkv.cpp files, what rwkv.cpp
    /// computes with; 64e-5 for .pth checkpoints, what BlinkDL's own code uses).
    #[arg(long, value_name = "EPS")]
    group_norm_eps: Option<f32>,
    /// Overwrite an existing output file.
    #[arg(long)]
    force: bool,
}

pub fn run(a: ConvertArgs) -> Result<()> {
    let is_pth = model::pth::is_pth_file(&a.input);
    if !is_pth && !model::legacy::is_legacy_file(&a.input) {
        bail!("{}: not an rwkv.cpp model file (no \"fmgg\" magic) and not a PyTorch .pth (zip); to re-type a GGUF file use `aviary quantize`", a.input.display());
    }
    if a.output.exists() && !a.force {
        bail!("{} already exists (pass --force to overwrite it)", a.output.display());
    }
    let version = LegacyVersion::detect(&aviary::legacy::open_legacy_file(&a.input)?);
    let default_eps = if is_pth { Some(model::pth::BLINKDL_GROUP_NORM_EPS) } else { None };
    let opts = LegacyOptions { rwkv5_group_norm_eps: a.group_norm_eps.or(default_eps) };
    let w = aviary::legacy::legacy_to_gguf(&a.input, &opts)?;
    if is_pth {
        if let Some(t) = model::pth::merged_state_tuning(&a.input)? {
            eprintln!("warning: {}: the att.time_state of {} layers (a state-tuned model) has no place in GGUF and is left out; run the GGUF with `--init-state {}` to start from it", a.input.display(), t.n_layer(), a.input.display());
        }
    }
    let arch = version.architecture();
    eprintln!("{}: RWKV-{version} ({}), {} tensors, writing {arch}", a.input.display(), if is_pth { "PyTorch checkpoint" } else { "rwkv.cpp" }, w.tensor_count());
    match a.file_type {
        None => write_atomically(&w, &a.output)?,
        Some(ftype) => {
            let file = GgufFile::from_bytes(w.to_bytes())?;
            if arch == model::Architecture::Rwkv7 {
                let report = convert::quantize(&file, &a.output, ftype, &WriteOptions { force: a.force, progress: true, threads: 0 })?;
                for warning in &report.warnings {
                    eprintln!("warning: {warning}");
                }
            } else {
                write_atomically(&aviary::legacy::retype(&file, ftype)?, &a.output)?;
            }
        }
    }
    let size = std::fs::metadata(&a.output).map(|m| m.len()).unwrap_or(0);
    eprintln!("wrote {} ({size} bytes)", a.output.display());
    Ok(())
}

/// Writes under a temporary name, then renames, so no half-written output is left behind.
fn write_atomically(w: &GgufWriter, out: &Path) -> Result<()> {
    let tmp = out.with_extension("partial");
    w.write_file(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("renaming {} to {}", tmp.display(), out.display()))
}
