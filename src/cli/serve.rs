//! `aviary serve`: the OpenAI-compatible HTTP server over one model.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use engine::{CacheConfig, Engine, EngineConfig, SpillConfig, StateDtype};
use server::ServerConfig;

use super::ModelArgs;

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Address to listen on (loopback by default; anything else should come with --api-key).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Require `Authorization: Bearer KEY` on every request.
    #[arg(long, value_name = "KEY")]
    api_key: Option<String>,
    /// The model name clients use (default: the file name without extension).
    #[arg(long, value_name = "NAME")]
    model_name: Option<String>,
    /// Sequences generated together.
    #[arg(long, default_value_t = 16, value_name = "N")]
    max_batch: usize,
    /// Requests waiting for a slot; more are answered 429.
    #[arg(long, default_value_t = 64, value_name = "N")]
    max_queue: usize,
    /// Prompt tokens per sequence per step.
    #[arg(long, default_value_t = 64, value_name = "N")]
    prefill_chunk: usize,
    /// Memory for the prefix-state cache in bytes (0 disables the cache).
    #[arg(long, default_value_t = 256 << 20, value_name = "BYTES")]
    cache_bytes: usize,
    /// Cache a checkpoint every N prompt tokens (rounded up to a multiple of --prefill-chunk).
    #[arg(long, default_value_t = 256, value_name = "N")]
    cache_interval: usize,
    /// Store cached states as f16 (half the memory; outputs no longer bit-identical to uncached runs).
    #[arg(long)]
    cache_f16: bool,
    /// Spill states evicted from memory into a private directory under DIR.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Disk budget for spilled states in bytes.
    #[arg(long, default_value_t = 4 << 30, value_name = "BYTES")]
    cache_disk_bytes: u64,
    /// Largest max_tokens a request may ask for.
    #[arg(long, default_value_t = 4096, value_name = "N")]
    max_tokens_limit: usize,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    max_body_bytes: usize,
}

pub fn run(a: ServeArgs) -> Result<()> {
    let loaded = a.model.load()?;
    let tokenizer = loaded.tokenizer.map(Arc::new).with_context(|| {
        format!("{} has no tokenizer (tokenizer.ggml.tokens); the server needs one", loaded.path.display())
    })?;
    let model_id = a.model_name.clone().unwrap_or_else(|| {
        loaded.path.file_stem().map_or_else(|| "rwkv".into(), |s| s.to_string_lossy().into_owned())
    });
    let cache = (a.cache_bytes > 0).then(|| CacheConfig {
        budget_bytes: a.cache_bytes,
        checkpoint_interval: a.cache_interval,
        dtype: if a.cache_f16 { StateDtype::F16 } else { StateDtype::F32 },
        spill: a.cache_dir.clone().map(|dir| SpillConfig { dir, budget_bytes: a.cache_disk_bytes }),
    });
    let ecfg = EngineConfig {
        max_batch: a.max_batch,
        max_queue: a.max_queue,
        prefill_chunk: a.prefill_chunk,
        prefill_budget: a.prefill_chunk * 4,
        cache,
    };
    let engine = Arc::new(Engine::start(loaded.model, Some(tokenizer), ecfg)?);
    let loopback = matches!(a.host.as_str(), "127.0.0.1" | "localhost" | "::1");
    if !loopback && a.api_key.is_none() {
        eprintln!("warning: listening on {} without --api-key: anyone who can reach it can use it", a.host);
    }
    let cfg = ServerConfig {
        host: a.host,
        port: a.port,
        api_key: a.api_key,
        model_id: model_id.clone(),
        max_body_bytes: a.max_body_bytes,
        max_tokens_limit: a.max_tokens_limit,
        ..ServerConfig::default()
    };
    server::run_blocking(engine, cfg, |addr| {
        eprintln!("serving model '{model_id}' on http://{addr}/v1 (Ctrl-C to stop)");
    })?;
    eprintln!("stopped");
    Ok(())
}
