//! One running request inside the engine: where it is in its prompt, its sampler, and its output.

use std::time::Instant;

use model::StateId;
use tokenizer::Tokenizer;
use tokio::sync::mpsc::UnboundedSender;

use super::request::{Event, Finish, Request, TokenEvent, TokenLogprob, Usage};
use super::text::{TextStep, TextStream};
use crate::{EngineError, Sampler};

pub(crate) struct Sequence {
    pub req: Request,
    pub events: UnboundedSender<Event>,
    pub state: StateId,
    /// Prompt tokens in the state so far (restored from the cache or computed).
    pub fed: usize,
    /// A sampled token still to be fed to the model (decode phase).
    pub next_input: Option<u32>,
    /// Logits waiting to be sampled from.
    pub logits: Option<Vec<f32>>,
    pub sampler: Sampler,
    pub generated: Vec<u32>,
    /// Generated tokens fed back into the state (all but the one waiting in `next_input`, if any).
    pub fed_generated: usize,
    text: TextStream,
    pub usage: Usage,
    pub submitted: Instant,
    pub first_token_at: Option<Instant>,
    /// Set when the sequence is over (finished, failed or cancelled) and must leave the batch.
    pub done: bool,
}

/// What sampling one token did to a sequence.
pub(crate) enum Sampled {
    Continue,
    Finished(Finish),
    /// The client is gone (its receiver was dropped).
    Cancelled,
}

impl Sequence {
    pub fn new(req: Request, events: UnboundedSender<Event>, state: StateId, submitted: Instant) -> Result<Sequence, EngineError> {
        let sampler = Sampler::new(req.sampler.clone())?;
        let text = TextStream::new(req.stop_strings.clone());
        let usage = Usage { prompt_tokens: req.prompt.len(), ..Usage::default() };
        Ok(Sequence {
            req,
            events,
            state,
            fed: 0,
            next_input: None,
            logits: None,
            sampler,
            generated: Vec::new(),
            fed_generated: 0,
            text,
            usage,
            submitted,
            first_token_at: None,
            done: false,
        })
    }

    pub fn in_prefill(&self) -> bool {
        self.fed < self.req.prompt.len()
    }

    pub fn client_gone(&self) -> bool {
        self.events.is_closed()
    }

    /// Samples a token from the waiting logits, sends it to the client and decides whether to go on.
    pub fn sample(&mut self, tokenizer: Option<&Tokenizer>) -> Result<Sampled, EngineError> {
        let Some(logits) = self.logits.take() else { return Ok(Sampled::Continue) };
        if self.generated.len() >= self.req.max_tokens {
            return Ok(Sampled::Finished(Finish::Length));
        }
        let token = self.sampler.sample(&logits)?;
        self.sampler.accept(token);
        self.generated.push(token);
        self.usage.completion_tokens += 1;
        if self.first_token_at.is_none() {
            self.first_token_at = Some(Instant::now());
        }
        let logprob = self.req.logprobs.map(|n| token_logprob(&logits, token, n));
        let is_stop_token = self.req.stop_tokens.contains(&token);
        let (text, stopped) = if is_stop_token {
            (String::new(), false)
        } else {
            let bytes = tokenizer.and_then(|t| t.token_bytes(token)).unwrap_or(&[]);
            match self.text.push(bytes) {
                TextStep::Text(t) => (t, false),
                TextStep::Stopped(t) => (t, true),
            }
        };
        if self.events.send(Event::Token(TokenEvent { token, text, logprob })).is_err() {
            return Ok(Sampled::Cancelled);
        }
        if is_stop_token {
            return Ok(Sampled::Finished(Finish::StopToken));
        }
        if stopped {
            return Ok(Sampled::Finished(Finish::StopString));
        }
        if self.generated.len() >= self.req.max_tokens {
            return Ok(Sampled::Finished(Finish::Length));
        }
        self.next_input = Some(token);
        Ok(Sampled::Continue)
    }

    /// Sends the final event (a client that is gone just misses it).
    pub fn finish(&mut self, finish: Finish) {
        self.done = true;
        let text = self.text.finish();
        // A stop string drops the rest of the text; nothing held back belongs to the output then.
        let text = if finish == Finish::StopString { String::new() } else { text };
        let _ = self.events.send(Event::Done { finish, usage: self.usage, text });
    }

    pub fn fail(&mut self, message: String) {
        self.done = true;
        let _ = self.events.send(Event::Failed(message));
    }
}

/// The token's log-softmax under `logits`, and the `n` most likely tokens with theirs.
pub(crate) fn token_logprob(logits: &[f32], token: u32, n: usize) -> TokenLogprob {
    let max = logits.iter().copied().filter(|v| !v.is_nan()).fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().filter(|v| !v.is_nan()).map(|&v| f64::from(v - max).exp()).sum();
    let log_z = f64::from(max) + sum.ln();
    let lp = |t: u32| logits.get(t as usize).map_or(f32::NEG_INFINITY, |&v| (f64::from(v) - log_z) as f32);
    let mut top: Vec<u32> = Vec::new();
    if n > 0 {
        let mut ids: Vec<u32> = (0..logits.len() as u32).filter(|&i| !logits[i as usize].is_nan()).collect();
        let n = n.min(ids.len());
        if n > 0 {
            let by_logit_desc = |a: &u32, b: &u32| logits[*b as usize].total_cmp(&logits[*a as usize]).then(a.cmp(b));
            ids.select_nth_unstable_by(n - 1, by_logit_desc);
            ids.truncate(n);
            ids.sort_unstable_by(by_logit_desc);
            top = ids;
        }
    }
    TokenLogprob { logprob: lp(token), top: top.into_iter().map(|t| (t, lp(t))).collect() }
}
