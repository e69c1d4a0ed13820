//! Token sampling: repetition penalties, temperature, top-k, top-p, min-p and a seeded draw.
//!
//! The order of the steps is fixed: penalties, then greedy argmax when `temperature == 0`, otherwise
//! temperature, softmax, top-k, top-p, min-p, renormalise and draw. The penalties follow RWKV's ChatRWKV
//! (`alpha_presence`, `alpha_frequency`, counts decayed by `penalty_decay` at every accepted token).
//! Top-p measures its nucleus against the mass left after top-k (as llama.cpp and HF transformers do).

mod filters;
mod occurrences;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

pub use filters::argmax;
use filters::Candidate;
use occurrences::Occurrences;

/// Errors from configuring or running the sampler.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SamplerError {
    #[error("sampler config: {field} is {value}, expected {expected}")]
    InvalidConfig { field: &'static str, value: f32, expected: &'static str },
    #[error("no logits to sample from (the slice is empty)")]
    EmptyLogits,
    #[error("no candidate token: all {n_vocab} logits are -inf or NaN")]
    NoCandidates { n_vocab: usize },
}

/// How to pick tokens. The default is greedy decoding with no penalties.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerConfig {
    /// 0 means greedy argmax (ties go to the lowest token id).
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens; 0 means off.
    pub top_k: usize,
    /// Nucleus: keep the smallest most-likely-first set whose probability reaches `top_p`; 1 means off.
    pub top_p: f32,
    /// Keep tokens with `p >= min_p * p_max`; 0 means off.
    pub min_p: f32,
    /// Subtracted from a token's logit once it has appeared at all (ChatRWKV `alpha_presence`).
    pub presence_penalty: f32,
    /// Subtracted per (decayed) occurrence of a token (ChatRWKV `alpha_frequency`).
    pub frequency_penalty: f32,
    /// Every accepted token multiplies all occurrence counts by this; 1 means no decay.
    pub penalty_decay: f32,
    /// Seed of the ChaCha8 generator that draws tokens.
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            penalty_decay: 1.0,
            seed: 0,
        }
    }
}

impl SamplerConfig {
    /// Checks every field's range; the error names the first bad field and its value.
    pub fn validate(&self) -> Result<(), SamplerError> {
        let check = |field: &'static str, value: f32, ok: bool, expected: &'static str| {
            if ok {
                Ok(())
            } else {
                Err(SamplerError::InvalidConfig { field, value, expected })
            }
        };
        let t = self.temperature;
        check("temperature", t, t.is_finite() && t >= 0.0, "a finite value >= 0")?;
        let p = self.top_p;
        check("top_p", p, p > 0.0 && p <= 1.0, "0 < top_p <= 1")?;
        let m = self.min_p;
        check("min_p", m, (0.0..=1.0).contains(&m), "0 <= min_p <= 1")?;
        let pp = self.presence_penalty;
        check("presence_penalty", pp, pp.is_finite(), "a finite value")?;
        let fp = self.frequency_penalty;
        check("frequency_penalty", fp, fp.is_finite(), "a finite value")?;
        let d = self.penalty_decay;
        check("penalty_decay", d, d > 0.0 && d <= 1.0, "0 < penalty_decay <= 1")?;
        Ok(())
    }

    fn penalties_on(&self) -> bool {
        self.presence_penalty != 0.0 || self.frequency_penalty != 0.0
    }
}

/// A configured sampler with its own RNG and occurrence counts; one per generation stream.
#[derive(Clone, Debug)]
pub struct Sampler {
    cfg: SamplerConfig,
    rng: ChaCha8Rng,
    occurrences: Occurrences,
    /// Penalised logits of the current step (reused to avoid a 65536-float allocation per token).
    scratch: Vec<f32>,
    /// Candidates of the current step (reused likewise).
    cands: Vec<Candidate>,
}

impl Sampler {
    pub fn new(cfg: SamplerConfig) -> Result<Sampler, SamplerError> {
        cfg.validate()?;
        Ok(Sampler {
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            cfg,
            occurrences: Occurrences::new(),
            scratch: Vec::new(),
            cands: Vec::new(),
        })
    }

    pub fn config(&self) -> &SamplerConfig {
        &self.cfg
    }

    /// Picks the next token from raw logits. The caller's slice is not modified.
    ///
    /// NaN logits count as -inf; if no logit is left above -inf the result is `NoCandidates`.
    pub fn sample(&mut self, logits: &[f32]) -> Result<u32, SamplerError> {
        if self.cfg.temperature == 0.0 {
            return self.greedy(logits);
        }
        self.filter(logits)?;
        let u = unit_f64(&mut self.rng);
        filters::draw(&self.cands, u).ok_or(SamplerError::NoCandidates { n_vocab: logits.len() })
    }

    /// Records an emitted (or prompt) token: decays all counts, then adds one to `token`'s count.
    pub fn accept(&mut self, token: u32) {
        self.occurrences.accept(token, f64::from(self.cfg.penalty_decay));
    }

    /// Forgets all counts and re-seeds the RNG, as if freshly built.
    pub fn reset(&mut self) {
        self.occurrences.clear();
        self.rng = ChaCha8Rng::seed_from_u64(self.cfg.seed);
    }

    /// The decayed occurrence count of `token` (0 if it was never accepted since the last reset).
    pub fn occurrence_count(&self, token: u32) -> f32 {
        self.occurrences.count(token) as f32
    }

    /// The candidates left after every filter, as `(token, probability)` most likely first, summing to 1.
    /// With `temperature == 0` this is the single argmax token with probability 1. Does not use the RNG.
    pub fn distribution(&mut self, logits: &[f32]) -> Result<Vec<(u32, f32)>, SamplerError> {
        if self.cfg.temperature == 0.0 {
            return Ok(vec![(self.greedy(logits)?, 1.0)]);
        }
        self.filter(logits)?;
        self.cands.sort_unstable_by(filters::by_weight_desc);
        let total = filters::total_weight(&self.cands);
        Ok(self.cands.iter().map(|&(t, w)| (t, (f64::from(w) / total) as f32)).collect())
    }

    fn greedy(&mut self, logits: &[f32]) -> Result<u32, SamplerError> {
        let logits = self.penalised(logits)?;
        match argmax(logits) {
            Some(i) if logits[i as usize] > f32::NEG_INFINITY => Ok(i),
            _ => Err(SamplerError::NoCandidates { n_vocab: logits.len() }),
        }
    }

    /// Runs temperature, softmax and the filters, leaving the unnormalised survivors in `self.cands`.
    fn filter(&mut self, logits: &[f32]) -> Result<(), SamplerError> {
        let n_vocab = logits.len();
        let temperature = self.cfg.temperature;
        let (top_k, top_p, min_p) = (self.cfg.top_k, self.cfg.top_p, self.cfg.min_p);
        let logits = penalise_into(&mut self.scratch, logits, &self.cfg, &self.occurrences)?;
        let cands = &mut self.cands;
        filters::softmax_candidates(logits, temperature, cands);
        if cands.is_empty() {
            return Err(SamplerError::NoCandidates { n_vocab });
        }
        filters::top_k(cands, top_k);
        // min-p keeps a most-likely-first prefix, as top-p does, so running it before top-p (against the
        // same max and the same total mass) gives the spec's result while shrinking what top-p must sort.
        let total = filters::total_weight(cands);
        filters::min_p(cands, min_p);
        filters::top_p(cands, top_p, total);
        Ok(())
    }

    fn penalised(&mut self, logits: &[f32]) -> Result<&[f32], SamplerError> {
        penalise_into(&mut self.scratch, logits, &self.cfg, &self.occurrences)
    }
}

/// Copies `logits` into `scratch` with NaN replaced by -inf and the repetition penalties applied.
fn penalise_into<'a>(
    scratch: &'a mut Vec<f32>,
    logits: &[f32],
    cfg: &SamplerConfig,
    occurrences: &Occurrences,
) -> Result<&'a [f32], SamplerError> {
    if logits.is_empty() {
        return Err(SamplerError::EmptyLogits);
    }
    scratch.clear();
    scratch.extend(logits.iter().map(|&l| if l.is_nan() { f32::NEG_INFINITY } else { l }));
    if cfg.penalties_on() {
        let (presence, frequency) = (f64::from(cfg.presence_penalty), f64::from(cfg.frequency_penalty));
        for (token, count) in occurrences.iter() {
            // Tokens outside this vocabulary (a caller mixing models) simply have no logit to penalise.
            if let Some(l) = scratch.get_mut(token as usize) {
                *l = (f64::from(*l) - presence - frequency * count) as f32;
            }
        }
    }
    Ok(scratch)
}

/// Uniform in [0, 1) with 53 random bits.
fn unit_f64(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}
