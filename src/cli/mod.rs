//! Subcommands of the `aviary` CLI. Exit status: 0 on success, 1 on any error (printed to stderr),
//! 2 for invalid command-line usage.

mod bench;
mod convert;
mod generate;
mod inspect;
mod logits;
mod quantize;
mod serve;
mod synth;
mod tokens;

use anyhow::{Context, Result};
use aviary::{Backend, LoadOptions, Loaded};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "aviary", version, about = "Run RWKV language models stored as GGUF files")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate text from a prompt, streamed to stdout.
    Run(generate::RunArgs),
    /// Print the logits after a token sequence as JSON.
    Logits(logits::LogitsArgs),
    /// Encode text into token ids (JSON).
    Tokenize(tokens::TokenizeArgs),
    /// Decode token ids into text.
    Detokenize(tokens::DetokenizeArgs),
    /// Show a model file's architecture, hyper-parameters and tensor types.
    Inspect(inspect::InspectArgs),
    /// Measure load, prefill and generation speed and the quality hash; append to BENCHMARKS.md.
    Bench(aviary::bench::BenchArgs),
    /// Write a deterministic random-weight RWKV-7 model (World vocabulary) as GGUF.
    Synth(synth::SynthArgs),
    /// Quantize an RWKV-7 GGUF file with llama-quantize's per-tensor type rules.
    Quantize(quantize::QuantizeArgs),
    /// Convert an rwkv.cpp model file (RWKV-4 to 7) to GGUF.
    Convert(convert::ConvertArgs),
    /// Serve the model over an OpenAI-compatible HTTP API.
    Serve(serve::ServeArgs),
}

/// Options every command that loads a model takes.
#[derive(Args, Clone)]
pub struct ModelArgs {
    /// Model file (GGUF, rwkv.cpp or BlinkDL .pth), or synth:<preset>[:<type>] for a generated random-weight model.
    #[arg(long, short = 'm', value_name = "FILE")]
    pub model: String,
    /// Compute backend: cpu, wgpu (WebGPU: Vulkan, Metal, DX12) or cuda (when built with it).
    #[arg(long, default_value = "cpu", value_name = "NAME")]
    pub backend: Backend,
    /// CPU threads (0 = one per core).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub threads: usize,
    /// GPU adapter for --backend wgpu: part of its name (default: $AVIARY_WGPU_ADAPTER, else the best one).
    #[arg(long, value_name = "NAME")]
    pub adapter: Option<String>,
    /// Start every sequence from a BlinkDL state-tuning .pth (blocks.N.att.time_state) instead of
    /// the zero state; it must come from a model of this one's layers, heads and head size.
    #[arg(long, value_name = "FILE.pth")]
    pub init_state: Option<std::path::PathBuf>,
    /// RWKV-5 GroupNorm epsilon for .pth and rwkv.cpp inputs (default: 64e-5 for .pth, what
    /// BlinkDL's code uses; 1e-5 for rwkv.cpp files, what rwkv.cpp computes with). GGUF files
    /// carry their own.
    #[arg(long, value_name = "EPS")]
    pub group_norm_eps: Option<f32>,
}

impl ModelArgs {
    pub fn load(&self) -> Result<Loaded> {
        let opts = LoadOptions {
            backend: self.backend,
            threads: self.threads,
            adapter: self.adapter.clone(),
            init_state: self.init_state.clone(),
            rwkv5_group_norm_eps: self.group_norm_eps,
        };
        // Load errors already name the file.
        let path = aviary::resolve_model(&self.model)?;
        Ok(aviary::load(path, &opts)?)
    }

    pub fn path(&self) -> Result<std::path::PathBuf> {
        Ok(aviary::resolve_model(&self.model)?)
    }
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(a) => generate::run(a),
        Command::Logits(a) => logits::run(a),
        Command::Tokenize(a) => tokens::tokenize(a),
        Command::Detokenize(a) => tokens::detokenize(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Synth(a) => synth::run(a),
        Command::Quantize(a) => quantize::run(a),
        Command::Convert(a) => convert::run(a),
        Command::Serve(a) => serve::run(a),
    }
}

/// The text prompt encoded with the model's tokenizer; an empty prompt is an error.
pub fn encode_prompt(loaded: &Loaded, prompt: &str) -> Result<Vec<u32>> {
    if prompt.is_empty() {
        anyhow::bail!("the prompt is empty: give at least one character");
    }
    let tok = loaded.tokenizer.as_ref().with_context(|| {
        format!("{} has no tokenizer (no tokenizer.ggml.tokens): pass token ids instead", loaded.path.display())
    })?;
    Ok(tok.encode(prompt)?)
}
