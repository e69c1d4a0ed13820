//! The benchmark behind `cargo run --example benchmark` and `aviary bench` (one implementation,
//! two doors): load time, prefill and generation speed, the greedy quality hash, and the generation
//! roofline against measured memory bandwidth, appended to BENCHMARKS.md
//! (format: shared/docs/benchmark-format.md).
//!
//! Everything is measured before the results file is touched, and the file is replaced atomically
//! with its old bytes plus one inserted entry, so a failed run writes nothing.
//!
//! Out of scope: comparing entries, and device memory bandwidth for GPU backends (the bandwidth
//! row measures host memory, which is the bound of the cpu backend).

mod bandwidth;
mod error;
pub mod markdown;
mod measure;
mod report;

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

pub use bandwidth::{memory_bandwidth_gb_s, DEFAULT_BW_BYTES};
pub use error::BenchError;
pub use markdown::{append_entry, insert_entry, parse_results, ParsedEntry, ParsedSection, HEADER};
pub use measure::{measure_model, quality_prompt, weight_bytes_per_token, ModelFigures, Workload, QUALITY_PROMPT, QUALITY_TOKENS};
pub use report::{quality_hash, BenchReport, SHOWN_QUALITY_TOKENS};

use crate::{Backend, LoadOptions};

/// The benchmark's flags, shared by both doors.
#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    /// Model file (GGUF), or synth:<preset>[:<type>] for a generated random-weight model.
    #[arg(long, short = 'm', value_name = "FILE")]
    pub model: String,
    /// Section of the results file; runs with the same title are grouped (required unless --no-write).
    #[arg(long)]
    pub title: Option<String>,
    /// What this run measures, e.g. "before: baseline" (required unless --no-write).
    #[arg(long)]
    pub change: Option<String>,
    /// Compute backend: cpu, wgpu or cuda.
    #[arg(long, default_value = "cpu", value_name = "NAME")]
    pub backend: Backend,
    /// CPU threads (0 = one per core).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub threads: usize,
    /// Prompt tokens of the prefill measurement.
    #[arg(long, default_value_t = 128, value_name = "N")]
    pub prefill: usize,
    /// Tokens generated one at a time in the generation measurement.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub gen: usize,
    /// Also measure batched generation: this many sequences decoding together, one token each per
    /// step (1 = skip).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub batch: usize,
    /// Repetitions averaged (loads, prefills and generations each).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub runs: usize,
    /// Seed of the random prompt token ids.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Results file [default: BENCHMARKS.md at the repository root (example) or in the current directory (aviary bench)].
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Also print every figure as one JSON object (the last line of stdout).
    #[arg(long)]
    pub json: bool,
    /// Measure and print only; leave the results file alone.
    #[arg(long)]
    pub no_write: bool,
    /// Memory bandwidth of the GPU, in GB/s, for the generation roofline of a GPU backend (e.g. 4400
    /// for an H200). The cpu backend uses the measured host bandwidth unless this is given.
    #[arg(long, value_name = "GBPS")]
    pub device_bw: Option<f64>,
    /// Size of the memory bandwidth test buffer, in MiB.
    #[arg(long, default_value_t = DEFAULT_BW_BYTES >> 20, value_name = "MIB")]
    pub bw_mib: usize,
}

/// Where a door puts results by default, and which checkout names the commit.
#[derive(Clone, Debug)]
pub struct Door {
    /// Results file when `--output` is not given.
    pub default_output: PathBuf,
    /// Directory `git rev-parse --short HEAD` runs in.
    pub repo_dir: PathBuf,
}

impl Door {
    /// `aviary bench`: BENCHMARKS.md in the current directory.
    pub fn current_dir() -> Door {
        let dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Door { default_output: dir.join("BENCHMARKS.md"), repo_dir: dir }
    }

    /// The example: BENCHMARKS.md at the root of the given checkout.
    pub fn repository(root: impl Into<PathBuf>) -> Door {
        let root = root.into();
        Door { default_output: root.join("BENCHMARKS.md"), repo_dir: root }
    }
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct BenchOutcome {
    pub report: BenchReport,
    /// The results file written, unless `--no-write`.
    pub written: Option<PathBuf>,
}

/// Title and change for writing: both given, not blank, one line each.
fn entry_labels(args: &BenchArgs) -> Result<(String, String), BenchError> {
    let check = |flag: &str, v: &Option<String>| -> Result<String, BenchError> {
        let v = v.as_deref().map(str::trim).unwrap_or("");
        if v.is_empty() {
            return Err(BenchError::Usage(format!(
                "{flag} is required to write results (give both --title and --change, or pass --no-write)"
            )));
        }
        if let Some(c) = v.chars().find(|c| c.is_control()) {
            return Err(BenchError::Usage(format!("{flag} must be one line of text; it contains {c:?}")));
        }
        Ok(v.to_string())
    };
    Ok((check("--title", &args.title)?, check("--change", &args.change)?))
}

/// Measures, prints the table (and JSON) to `out`, then appends the entry unless `--no-write`.
/// Progress goes to stderr.
pub fn run(args: &BenchArgs, door: &Door, out: &mut dyn Write) -> Result<BenchOutcome, BenchError> {
    for (flag, v) in [("--prefill", args.prefill), ("--gen", args.gen), ("--runs", args.runs), ("--bw-mib", args.bw_mib), ("--batch", args.batch)] {
        if v == 0 {
            return Err(BenchError::Usage(format!("{flag} must be at least 1")));
        }
    }
    if let Some(bw) = args.device_bw {
        if !(bw.is_finite() && bw > 0.0) {
            return Err(BenchError::Usage(format!("--device-bw must be a positive number of GB/s, got {bw}")));
        }
    }
    let labels = if args.no_write { None } else { Some(entry_labels(args)?) };
    let output = args.output.clone().unwrap_or_else(|| door.default_output.clone());
    if labels.is_some() {
        markdown::check_file(&output)?;
    }
    let path = crate::resolve_model(&args.model)?;
    let opts = LoadOptions { backend: args.backend, threads: args.threads, ..Default::default() };
    let workload = Workload { prefill: args.prefill, gen: args.gen, runs: args.runs, seed: args.seed, batch: args.batch };
    eprintln!("benchmark: {} on {}, seed {}", path.display(), args.backend, args.seed);
    let figures = measure_model(&path, &opts, &workload, &mut |phase| eprintln!("  {phase}"))?;
    let threads = resolved_threads(args.threads);
    eprintln!("  memory bandwidth ({} MiB, {threads} threads)", args.bw_mib);
    let memory_bw_gb_s = memory_bandwidth_gb_s(args.bw_mib << 20, threads, 3);

    let info = &figures.info;
    let report = BenchReport {
        model_file: path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned()),
        version: version_label(&info.architecture),
        n_layer: info.hparams.n_layer,
        n_embd: info.hparams.n_embd,
        device: info.device.clone(),
        backend: info.backend.to_string(),
        quant: info.quant.clone(),
        threads,
        commit: git_commit(&door.repo_dir),
        load_ms: figures.load_ms,
        prefill_tok_s: figures.prefill_tok_s,
        gen_tok_s: figures.gen_tok_s,
        batch: args.batch,
        batch_gen_tok_s: figures.batch_gen_tok_s,
        quality_tokens: figures.quality_tokens,
        memory_bw_gb_s,
        roofline_bw_gb_s: args.device_bw.or((args.backend == crate::Backend::Cpu).then_some(memory_bw_gb_s)),
        weight_bytes_per_token: figures.weight_bytes_per_token,
        prefill_tokens: args.prefill,
        gen_tokens: args.gen,
        runs: args.runs,
        seed: args.seed,
        timestamp: chrono::Local::now().format("%Y-%m-%d %H:%M:%S").to_string(),
    };

    let (title, change) = match &labels {
        Some((t, c)) => (Some(t.as_str()), Some(c.as_str())),
        None => (args.title.as_deref(), args.change.as_deref()),
    };
    let io = |source| BenchError::Io { path: PathBuf::from("<stdout>"), source };
    out.write_all(report.text_table(title, change).as_bytes()).map_err(io)?;
    if args.json {
        writeln!(out, "{}", report.to_json(title, change)).map_err(io)?;
    }
    out.flush().map_err(io)?;

    let written = match &labels {
        Some((title, change)) => {
            let target = append_entry(&output, title, &report.markdown_entry(change))?;
            eprintln!("appended to {}", target.display());
            Some(target)
        }
        None => None,
    };
    Ok(BenchOutcome { report, written })
}

/// Threads the cpu backend and the bandwidth test use (0 = one per core).
fn resolved_threads(threads: usize) -> usize {
    match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// `rwkv7` -> `V7`.
fn version_label(architecture: &str) -> String {
    match architecture.strip_prefix("rwkv") {
        Some(v) if !v.is_empty() => format!("V{v}"),
        _ => architecture.to_string(),
    }
}

/// The short commit of the checkout at `dir`, or `None` outside git.
fn git_commit(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let hash = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !hash.is_empty()).then_some(hash)
}
