//! The figures of one benchmark run, and their three renderings: the BENCHMARKS.md entry, the table
//! printed to stdout, and one JSON object.

use serde_json::{json, Value};

/// How many quality tokens an entry shows.
pub const SHOWN_QUALITY_TOKENS: usize = 16;

/// Everything one run measured, plus what identifies the model, machine and code.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchReport {
    /// File name of the model (no directory).
    pub model_file: String,
    /// `V7` for `rwkv7`.
    pub version: String,
    pub n_layer: usize,
    pub n_embd: usize,
    /// Adapter or device name; the CPU model for the cpu backend.
    pub device: String,
    pub backend: String,
    pub quant: String,
    /// Worker threads actually used (0 on the command line resolves to the core count).
    pub threads: usize,
    /// `git rev-parse --short HEAD`, when available.
    pub commit: Option<String>,
    /// Per-run figures; the report shows their means.
    pub load_ms: Vec<f64>,
    pub prefill_tok_s: Vec<f64>,
    pub gen_tok_s: Vec<f64>,
    /// Sequences of the batched generation measurement (1 = not measured).
    pub batch: usize,
    /// Total tokens per second of `batch` sequences decoding together, per run (empty when skipped).
    pub batch_gen_tok_s: Vec<f64>,
    /// All greedy tokens after the fixed prompt (32).
    pub quality_tokens: Vec<u32>,
    /// Host memory read bandwidth, best of 3, in GB/s (1e9 bytes).
    pub memory_bw_gb_s: f64,
    /// The bandwidth generation's roofline is computed against, in GB/s: the measured host
    /// bandwidth on the cpu backend, the `--device-bw` given for a GPU backend, or `None` (no
    /// roofline: host memory says nothing about a GPU's).
    pub roofline_bw_gb_s: Option<f64>,
    /// Weight bytes one generated token reads (every tensor, one row of token_embd).
    pub weight_bytes_per_token: u64,
    pub prefill_tokens: usize,
    pub gen_tokens: usize,
    pub runs: usize,
    pub seed: u64,
    /// Local time `YYYY-MM-DD HH:MM:SS`.
    pub timestamp: String,
}

/// `acc = acc * 31 + token` over the tokens, wrapping in u64, starting from 0.
pub fn quality_hash(tokens: &[u32]) -> u64 {
    tokens.iter().fold(0u64, |acc, &t| acc.wrapping_mul(31).wrapping_add(u64::from(t)))
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// A table cell: a `|` would end the cell early.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

impl BenchReport {
    pub fn load_ms_mean(&self) -> f64 {
        mean(&self.load_ms)
    }
    pub fn prefill_tok_s_mean(&self) -> f64 {
        mean(&self.prefill_tok_s)
    }
    pub fn gen_tok_s_mean(&self) -> f64 {
        mean(&self.gen_tok_s)
    }
    pub fn quality_hash(&self) -> u64 {
        quality_hash(&self.quality_tokens)
    }
    /// Lower-case hex, no leading zeros.
    pub fn quality_hash_hex(&self) -> String {
        format!("{:x}", self.quality_hash())
    }
    pub fn shown_quality_tokens(&self) -> &[u32] {
        &self.quality_tokens[..self.quality_tokens.len().min(SHOWN_QUALITY_TOKENS)]
    }
    /// Tokens per second if generation were bound only by reading the weights at
    /// `roofline_bw_gb_s`; `None` without a roofline bandwidth.
    pub fn gen_bound_tok_s(&self) -> Option<f64> {
        let bw = self.roofline_bw_gb_s?;
        (self.weight_bytes_per_token > 0).then(|| bw * 1e9 / self.weight_bytes_per_token as f64)
    }
    /// Measured generation speed as a percentage of the bandwidth bound. Above 100 means the
    /// weights were served from caches (tiny models).
    pub fn gen_roofline_pct(&self) -> Option<f64> {
        let bound = self.gen_bound_tok_s()?;
        (bound > 0.0).then(|| 100.0 * self.gen_tok_s_mean() / bound)
    }

    /// `(metric, value, bold)` in entry order: the format's fixed rows first, then the extras.
    pub fn rows(&self) -> Vec<(&'static str, String, bool)> {
        let mut rows = vec![
            ("Model", self.model_file.clone(), false),
            ("Version", self.version.clone(), false),
            ("Layers", self.n_layer.to_string(), false),
            ("Embedding", self.n_embd.to_string(), false),
            ("GPU", self.device.clone(), false),
            ("Load Time", format!("{:.2} ms", self.load_ms_mean()), true),
            ("Prefill", format!("{:.2} tok/s", self.prefill_tok_s_mean()), true),
            ("Generation", format!("{:.2} tok/s", self.gen_tok_s_mean()), true),
            ("Quality Hash", self.quality_hash_hex(), false),
            ("Backend", self.backend.clone(), false),
            ("Quant", self.quant.clone(), false),
            ("Threads", self.threads.to_string(), false),
        ];
        if !self.batch_gen_tok_s.is_empty() {
            rows.push(("Batched gen", format!("{:.2} tok/s ({} sequences)", mean(&self.batch_gen_tok_s), self.batch), false));
        }
        if let Some(c) = &self.commit {
            rows.push(("Commit", c.clone(), false));
        }
        rows.push(("Memory BW", format!("{:.2} GB/s", self.memory_bw_gb_s), false));
        rows.push(("Weights/token", format!("{:.2} MB", self.weight_bytes_per_token as f64 / 1e6), false));
        if let Some(bw) = self.roofline_bw_gb_s.filter(|&bw| bw != self.memory_bw_gb_s) {
            rows.push(("Roofline BW", format!("{bw:.2} GB/s (given)"), false));
        }
        let roofline = match self.gen_roofline_pct() {
            Some(pct) => format!("{pct:.2}%"),
            None => "n/a (GPU backend: pass --device-bw)".to_string(),
        };
        rows.push(("Gen roofline", roofline, false));
        rows.push((
            "Workload",
            format!("prefill {}, gen {}, runs {}, seed {}", self.prefill_tokens, self.gen_tokens, self.runs, self.seed),
            false,
        ));
        rows
    }

    /// The `### <time> - <change>` block of BENCHMARKS.md, ending in a line break.
    pub fn markdown_entry(&self, change: &str) -> String {
        let mut s = format!("### {} - {}\n\n| Metric | Value |\n|--------|-------|\n", self.timestamp, change.trim());
        for (name, value, bold) in self.rows() {
            let value = if name == "Quality Hash" { format!("`{value}`") } else { cell(&value) };
            if bold {
                s.push_str(&format!("| **{name}** | **{value}** |\n"));
            } else {
                s.push_str(&format!("| {name} | {value} |\n"));
            }
        }
        s.push_str(&format!(
            "\n<details><summary>Quality tokens (first {SHOWN_QUALITY_TOKENS})</summary>\n\n```\n{:?}\n```\n\n</details>\n",
            self.shown_quality_tokens()
        ));
        s
    }

    /// The table printed to stdout.
    pub fn text_table(&self, title: Option<&str>, change: Option<&str>) -> String {
        let mut rows: Vec<(String, String)> = Vec::new();
        if let Some(t) = title {
            rows.push(("Title".into(), t.trim().to_string()));
        }
        if let Some(c) = change {
            rows.push(("Change".into(), c.trim().to_string()));
        }
        rows.push(("Time".into(), self.timestamp.clone()));
        rows.extend(self.rows().into_iter().map(|(k, v, _)| (k.to_string(), v)));
        rows.push(("Quality tokens".into(), format!("{:?}", self.shown_quality_tokens())));
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        rows.iter().map(|(k, v)| format!("{k:<width$}  {v}\n")).collect()
    }

    /// Every figure, per-run values included, as one JSON object.
    pub fn to_json(&self, title: Option<&str>, change: Option<&str>) -> Value {
        json!({
            "title": title.map(str::trim),
            "change": change.map(str::trim),
            "timestamp": self.timestamp,
            "model": self.model_file,
            "version": self.version,
            "layers": self.n_layer,
            "embedding": self.n_embd,
            "device": self.device,
            "backend": self.backend,
            "quant": self.quant,
            "threads": self.threads,
            "commit": self.commit,
            "load_ms": self.load_ms_mean(),
            "load_ms_runs": self.load_ms,
            "prefill_tok_s": self.prefill_tok_s_mean(),
            "prefill_tok_s_runs": self.prefill_tok_s,
            "generation_tok_s": self.gen_tok_s_mean(),
            "generation_tok_s_runs": self.gen_tok_s,
            "batch": self.batch,
            "batched_generation_tok_s": (!self.batch_gen_tok_s.is_empty()).then(|| mean(&self.batch_gen_tok_s)),
            "batched_generation_tok_s_runs": self.batch_gen_tok_s,
            "quality_hash": self.quality_hash_hex(),
            "quality_tokens": self.quality_tokens,
            "memory_bw_gb_s": self.memory_bw_gb_s,
            "roofline_bw_gb_s": self.roofline_bw_gb_s,
            "weight_bytes_per_token": self.weight_bytes_per_token,
            "generation_bound_tok_s": self.gen_bound_tok_s(),
            "generation_roofline_pct": self.gen_roofline_pct(),
            "prefill_tokens": self.prefill_tokens,
            "gen_tokens": self.gen_tokens,
            "runs": self.runs,
            "seed": self.seed,
        })
    }
}
