//! The timed runs: load, prefill, generation, and the greedy quality run.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use model::{LogitsMode, Model, ModelInfo};

use super::BenchError;
use crate::{Backend, LoadOptions, Loaded};

/// The text whose greedy continuation gives the quality hash.
pub const QUALITY_PROMPT: &str = "The quick brown fox";
/// Greedy tokens generated for the quality hash.
pub const QUALITY_TOKENS: usize = 32;
/// Prompt tokens fed before timing generation.
pub const GEN_PREFILL: usize = 32;

/// What to run: token counts, repetitions and the seed of the random prompts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    pub prefill: usize,
    pub gen: usize,
    pub runs: usize,
    pub seed: u64,
    /// Sequences decoding together in the batched generation measurement (1 = skip it).
    pub batch: usize,
}

/// What [`measure_model`] found.
#[derive(Clone, Debug)]
pub struct ModelFigures {
    pub info: ModelInfo,
    pub load_ms: Vec<f64>,
    pub prefill_tok_s: Vec<f64>,
    pub gen_tok_s: Vec<f64>,
    /// Total tokens per second of `Workload::batch` sequences decoding together (empty when skipped).
    pub batch_gen_tok_s: Vec<f64>,
    pub quality_tokens: Vec<u32>,
    pub weight_bytes_per_token: u64,
}

/// SplitMix64: a few lines, fully determined by the seed, and good enough for token ids.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `n` token ids in `0..n_vocab` from `rng`.
fn random_tokens(rng: &mut SplitMix64, n: usize, n_vocab: usize) -> Vec<u32> {
    (0..n).map(|_| (rng.next() % n_vocab.max(1) as u64) as u32).collect()
}

/// Loads the model `runs` times (timing each, from opening the file to weights resident), then times prefill and generation and runs the
/// quality prompt on the last load. `progress` receives one line per phase.
pub fn measure_model(
    path: &Path,
    opts: &LoadOptions,
    w: &Workload,
    progress: &mut dyn FnMut(&str),
) -> Result<ModelFigures, BenchError> {
    let mut load_ms = Vec::with_capacity(w.runs);
    let mut loaded: Option<Loaded> = None;
    for i in 0..w.runs {
        progress(&format!("load {}/{}", i + 1, w.runs));
        drop(loaded.take()); // one model in memory at a time
        let t = Instant::now();
        let l = load_resident(path, opts)?;
        load_ms.push(t.elapsed().as_secs_f64() * 1e3);
        loaded = Some(l);
    }
    let Some(loaded) = loaded else {
        return Err(BenchError::Usage("--runs must be at least 1".into()));
    };
    let prompt = quality_prompt(&loaded)?;
    let mut model = loaded.model;
    let model = model.as_mut();
    let n_vocab = model.info().hparams.n_vocab;
    let mut rng = SplitMix64(w.seed);
    let prefill_prompt = random_tokens(&mut rng, w.prefill, n_vocab);
    let gen_prompt = random_tokens(&mut rng, GEN_PREFILL, n_vocab);

    progress("prefill warm-up");
    prefill_once(model, &prefill_prompt)?;
    let mut prefill_tok_s = Vec::with_capacity(w.runs);
    for i in 0..w.runs {
        progress(&format!("prefill {}/{} ({} tokens)", i + 1, w.runs, w.prefill));
        let secs = prefill_once(model, &prefill_prompt)?;
        prefill_tok_s.push(w.prefill as f64 / secs);
    }

    let mut gen_tok_s = Vec::with_capacity(w.runs);
    for i in 0..w.runs {
        progress(&format!("generation {}/{} ({} tokens)", i + 1, w.runs, w.gen));
        let (_, secs) = greedy(model, &gen_prompt, w.gen)?;
        gen_tok_s.push(w.gen as f64 / secs);
    }

    let mut batch_gen_tok_s = Vec::new();
    if w.batch > 1 {
        for i in 0..w.runs {
            progress(&format!("batched generation {}/{} ({} sequences x {} tokens)", i + 1, w.runs, w.batch, w.gen));
            let secs = batched_greedy(model, &mut rng, w.batch, w.gen)?;
            batch_gen_tok_s.push((w.batch * w.gen) as f64 / secs);
        }
    }

    progress("quality");
    let (quality_tokens, _) = greedy(model, &prompt, QUALITY_TOKENS - 1)?;
    Ok(ModelFigures {
        info: model.info().clone(),
        load_ms,
        prefill_tok_s,
        gen_tok_s,
        batch_gen_tok_s,
        quality_tokens,
        weight_bytes_per_token: weight_bytes_per_token(path)?,
    })
}

/// `aviary::load` plus, on the cpu backend, one read of every page of the mapped file: the cpu
/// backend computes straight from the memory map, so a model is only ready (weights resident) once
/// the pages are in; otherwise the first prefill would pay for the load.
fn load_resident(path: &Path, opts: &LoadOptions) -> Result<Loaded, BenchError> {
    let file = Arc::new(gguf::GgufFile::open(path).map_err(crate::LoadError::from)?);
    let loaded = crate::load_gguf(Arc::clone(&file), opts)?;
    if opts.backend == Backend::Cpu {
        let bytes = file.as_bytes();
        let sum = (0..bytes.len()).step_by(4096).fold(0u8, |a, i| a.wrapping_add(bytes[i]));
        std::hint::black_box(sum);
    }
    Ok(loaded)
}

/// The fixed prompt as token ids: through the model's tokenizer, or its UTF-8 bytes when the file
/// has none (byte-level test models).
pub fn quality_prompt(loaded: &Loaded) -> Result<Vec<u32>, BenchError> {
    let ids = match &loaded.tokenizer {
        Some(t) => t.encode(QUALITY_PROMPT)?,
        None => QUALITY_PROMPT.bytes().map(u32::from).collect(),
    };
    let n_vocab = loaded.model.info().hparams.n_vocab;
    if let Some(&token) = ids.iter().find(|&&t| t as usize >= n_vocab) {
        return Err(BenchError::PromptOutOfVocab { token, n_vocab });
    }
    Ok(ids)
}

/// Seconds to feed `tokens` to a fresh state, reading the last logits as a real prompt would.
fn prefill_once(model: &mut dyn Model, tokens: &[u32]) -> Result<f64, BenchError> {
    let id = model.new_state()?;
    let t = Instant::now();
    let result = model.forward(id, tokens, LogitsMode::Last);
    let secs = t.elapsed().as_secs_f64();
    model.drop_state(id);
    result?;
    Ok(secs.max(1e-9))
}

/// From a fresh state: feeds `prompt`, picks the argmax, then takes `steps` timed steps of feeding
/// the last pick and picking again. Returns the `steps + 1` picks and the seconds of the steps.
/// Picks go through `Model::forward_argmax`, so a backend with a device argmax reads back one id
/// per step rather than the vocabulary's logits.
fn greedy(model: &mut dyn Model, prompt: &[u32], steps: usize) -> Result<(Vec<u32>, f64), BenchError> {
    let id = model.new_state()?;
    let result = (|| {
        let mut tokens = Vec::with_capacity(steps + 1);
        tokens.push(model.forward_argmax(id, prompt)?);
        let t = Instant::now();
        for _ in 1..=steps {
            let last = tokens[tokens.len() - 1];
            tokens.push(model.forward_argmax(id, &[last])?);
        }
        Ok((tokens, t.elapsed().as_secs_f64().max(1e-9)))
    })();
    model.drop_state(id);
    result
}

/// `batch` fresh sequences, each fed its own random prompt, then `steps` timed batched greedy steps
/// ([`Model::decode_batch_argmax`]: one token for every sequence per step). Returns the seconds of
/// the steps.
fn batched_greedy(model: &mut dyn Model, rng: &mut SplitMix64, batch: usize, steps: usize) -> Result<f64, BenchError> {
    let n_vocab = model.info().hparams.n_vocab;
    let mut ids = Vec::with_capacity(batch);
    let result = (|| {
        let mut last = Vec::with_capacity(batch);
        for _ in 0..batch {
            let id = model.new_state()?;
            ids.push(id);
            last.push(model.forward_argmax(id, &random_tokens(rng, GEN_PREFILL, n_vocab))?);
        }
        let t = Instant::now();
        for _ in 0..steps {
            last = model.decode_batch_argmax(&ids, &last)?;
        }
        Ok(t.elapsed().as_secs_f64().max(1e-9))
    })();
    for id in ids {
        model.drop_state(id);
    }
    result
}

/// Weight bytes one generated token reads: every tensor of the file, except that the embedding
/// table contributes only the row of the token fed.
pub fn weight_bytes_per_token(path: &Path) -> Result<u64, BenchError> {
    let file = gguf::GgufFile::open(path).map_err(crate::LoadError::from)?;
    Ok(file
        .tensors()
        .iter()
        .map(|t| if t.name == model::names::TOKEN_EMBD { t.n_bytes() / t.ne(1).max(1) } else { t.n_bytes() })
        .sum())
}
