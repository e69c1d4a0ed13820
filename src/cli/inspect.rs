//! `aviary inspect`: what a model file holds, without running it.

use std::sync::Arc;

use anyhow::Result;
use clap::Args;
use gguf::GgufFile;
use model::{Architecture, Hparams};

use super::ModelArgs;

#[derive(Args)]
pub struct InspectArgs {
    #[command(flatten)]
    model: ModelArgs,
}

pub fn run(a: InspectArgs) -> Result<()> {
    let path = a.model.path()?;
    let (file, legacy_version) = if model::legacy::is_legacy_file(&path) {
        let version = model::legacy::LegacyVersion::detect(&model::legacy::LegacyFile::open(&path)?);
        (Arc::new(aviary::legacy::open_legacy(&path, &Default::default())?), Some(version))
    } else {
        (Arc::new(GgufFile::open(&path)?), None)
    };
    let arch = file.get_str("general.architecture")?.unwrap_or("(none)").to_string();
    println!("file:          {}", path.display());
    if let Some(version) = legacy_version {
        println!("format:        rwkv.cpp legacy file (RWKV-{version}), shown as its GGUF conversion");
    }
    println!("size:          {} bytes ({:.2} MiB)", file.file_size(), file.file_size() as f64 / (1024.0 * 1024.0));
    println!("gguf version:  {}", file.version());
    println!("architecture:  {arch}");
    if let Some(name) = file.get_str("general.name")? {
        println!("name:          {name}");
    }
    println!("quant:         {}", model::quant_label(&file));
    let hp = Hparams::from_gguf(&file)?;
    println!("layers:        {}", hp.n_layer);
    println!("embedding:     {}", hp.n_embd);
    if hp.arch == Architecture::Rwkv4 {
        println!("heads:         none (RWKV-4)");
    } else {
        println!("heads:         {} x {}", hp.n_head, hp.head_size);
    }
    println!("ffn:           {}", hp.n_ffn);
    println!("vocab:         {}", hp.n_vocab);
    match hp.arch {
        Architecture::Rwkv7 => println!(
            "lora ranks:    decay {}, iclr {}, value {}, gate {}",
            hp.decay_lora_rank, hp.iclr_lora_rank, hp.value_lora_rank, hp.gate_lora_rank
        ),
        Architecture::Rwkv6 => println!(
            "lora ranks:    token shift {}, decay {}; rescale every {} layers",
            hp.token_shift_lora_rank, hp.decay_lora_rank, hp.rescale_every_n_layers
        ),
        _ => {}
    }
    if hp.arch != Architecture::Rwkv4 {
        println!("group norm:    eps {:e}", hp.group_norm_eps);
    }
    println!("parameters:    {}", hp.parameter_count());
    println!("tensors:       {}", file.tensors().len());
    let mut counts = std::collections::BTreeMap::new();
    for t in file.tensors() {
        *counts.entry(t.ty).or_insert(0usize) += 1;
    }
    for (ty, n) in counts {
        let supported = if quant::is_supported(ty) { "" } else { "  (unsupported)" };
        println!("  {:<8} {n}{supported}", ty.name());
    }
    Ok(())
}
