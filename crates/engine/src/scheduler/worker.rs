//! The engine thread: admits queued requests, runs steps over all active sequences, retires them.
//!
//! A step gives every active sequence one unit of work: a decoding sequence feeds its last sampled
//! token, a prefilling one its next prompt chunk. Prefill chunks per step are bounded by a token budget
//! (the first prefilling sequence always gets its chunk), and the sequence that gets the first chunk
//! rotates from step to step, so long prompts neither starve decoding clients nor each other.
//!
//! Prompt chunks end on multiples of the chunk size counted from the prompt's start, and cache
//! checkpoints lie on that grid, so a sequence restored from a checkpoint runs exactly the chunks an
//! uncached run would.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use model::{LogitsMode, Model, ModelError, StateId};
use tokenizer::Tokenizer;
use tokio::sync::mpsc::UnboundedSender;

use super::metrics::Metrics;
use super::request::{Event, Request};
use super::sequence::{Sampled, Sequence};
use super::EngineConfig;
use crate::state_cache::PrefixCache;
use crate::EngineError;

pub(crate) struct Queued {
    pub req: Request,
    pub events: UnboundedSender<Event>,
    pub submitted: Instant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shutdown {
    /// Take no new requests; finish the queued and running ones, then stop.
    Drain,
    /// Fail everything queued and running, then stop.
    Now,
}

#[derive(Default)]
pub(crate) struct Inbox {
    pub queue: VecDeque<Queued>,
    pub shutdown: Option<Shutdown>,
}

pub(crate) struct Shared {
    pub inbox: Mutex<Inbox>,
    pub wake: Condvar,
    pub metrics: Arc<Metrics>,
}

impl Shared {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Inbox> {
        // A panic while holding the lock leaves a queue that is still consistent (push/pop only).
        self.inbox.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One unit of model work in a step.
pub struct StepItem<'a> {
    pub state: StateId,
    pub tokens: &'a [u32],
    pub want_logits: bool,
}

/// Runs every item of a step and returns, per item, the logits after its last token (if wanted).
///
/// This is the batching seam: the single-token items (decoding sequences) run as one
/// [`Model::decode_batch`] step, which reads each weight once for all of them on backends that batch;
/// prompt chunks run one sequence per call. If the batched step fails, its items are retried one by
/// one, so an error lands on the sequence that caused it.
pub fn forward_batch(model: &mut dyn Model, items: &[StepItem<'_>]) -> Vec<Result<Option<Vec<f32>>, EngineError>> {
    let mut out: Vec<Option<Result<Option<Vec<f32>>, EngineError>>> = items.iter().map(|_| None).collect();
    let decode: Vec<usize> = (0..items.len()).filter(|&i| items[i].tokens.len() == 1 && items[i].want_logits).collect();
    if decode.len() > 1 {
        let ids: Vec<_> = decode.iter().map(|&i| items[i].state).collect();
        let tokens: Vec<u32> = decode.iter().map(|&i| items[i].tokens[0]).collect();
        match model.decode_batch(&ids, &tokens) {
            Ok(rows) => {
                for (&i, row) in decode.iter().zip(rows) {
                    out[i] = Some(Ok(Some(row)));
                }
            }
            // The batch was refused before it ran (a bad id or token): retry one by one below.
            Err(ModelError::Backend(msg)) => {
                // It failed while running: the states of all its sequences are in doubt.
                for &i in &decode {
                    out[i] = Some(Err(ModelError::Backend(msg.clone()).into()));
                }
            }
            // Refused before it ran (a bad id or token): retried one by one below.
            Err(_) => {}
        }
    }
    items
        .iter()
        .zip(out)
        .map(|(item, done)| {
            done.unwrap_or_else(|| {
                let mode = if item.want_logits { LogitsMode::Last } else { LogitsMode::None };
                let mut rows = model.forward(item.state, item.tokens, mode)?;
                Ok(if item.want_logits { Some(rows.pop().ok_or(EngineError::NoLogits)?) } else { None })
            })
        })
        .collect()
}

enum Work {
    Prefill { end: usize },
    Decode,
}

pub(crate) struct Worker {
    pub model: Box<dyn Model>,
    pub tokenizer: Option<Arc<Tokenizer>>,
    pub cfg: EngineConfig,
    pub cache: Option<PrefixCache>,
    pub shared: Arc<Shared>,
    active: Vec<Sequence>,
    rotation: usize,
}

impl Worker {
    pub fn new(
        model: Box<dyn Model>,
        tokenizer: Option<Arc<Tokenizer>>,
        cfg: EngineConfig,
        cache: Option<PrefixCache>,
        shared: Arc<Shared>,
    ) -> Worker {
        Worker { model, tokenizer, cfg, cache, shared, active: Vec::new(), rotation: 0 }
    }

    pub fn run(mut self) {
        loop {
            let admitted = {
                let mut inbox = self.shared.lock();
                while self.active.is_empty() && inbox.queue.is_empty() && inbox.shutdown.is_none() {
                    inbox = self.shared.wake.wait(inbox).unwrap_or_else(|e| e.into_inner());
                }
                if inbox.shutdown == Some(Shutdown::Now) {
                    let queued: Vec<Queued> = inbox.queue.drain(..).collect();
                    drop(inbox);
                    self.abort_all(queued);
                    break;
                }
                if inbox.shutdown == Some(Shutdown::Drain) && self.active.is_empty() && inbox.queue.is_empty() {
                    break;
                }
                self.take_admissions(&mut inbox)
            };
            for q in admitted {
                self.admit(q);
            }
            self.step();
            self.publish_gauges();
        }
        self.publish_gauges();
    }

    fn take_admissions(&self, inbox: &mut Inbox) -> Vec<Queued> {
        let before = inbox.queue.len();
        inbox.queue.retain(|q| !q.events.is_closed());
        Metrics::add(&self.shared.metrics.requests_cancelled, before - inbox.queue.len());
        let free = self.cfg.max_batch.saturating_sub(self.active.len());
        let n = free.min(inbox.queue.len());
        let admitted = inbox.queue.drain(..n).collect();
        Metrics::set(&self.shared.metrics.queued, inbox.queue.len());
        admitted
    }

    /// Gives a request a state, restored from the deepest cached prefix of its prompt when there is one.
    fn admit(&mut self, q: Queued) {
        let events = q.events.clone();
        match self.start_sequence(q) {
            Ok(seq) => {
                let metrics = &self.shared.metrics;
                Metrics::add(&metrics.prompt_tokens, seq.req.prompt.len());
                Metrics::add(&metrics.cached_prompt_tokens, seq.usage.cached_tokens);
                self.active.push(seq);
            }
            Err(e) => {
                self.shared.metrics.requests_failed.fetch_add(1, Ordering::Relaxed);
                let _ = events.send(Event::Failed(e.to_string()));
            }
        }
    }

    fn start_sequence(&mut self, q: Queued) -> Result<Sequence, EngineError> {
        let state = self.model.new_state()?;
        let mut seq = match Sequence::new(q.req, q.events, state, q.submitted) {
            Ok(seq) => seq,
            Err(e) => {
                self.model.drop_state(state);
                return Err(e);
            }
        };
        if !seq.req.use_cache {
            return Ok(seq);
        }
        if let Some(hit) = self.cache.as_mut().and_then(|c| c.lookup(&seq.req.prompt)) {
            if let Err(e) = self.model.load_state(state, &hit.state) {
                self.model.drop_state(state);
                return Err(e.into());
            }
            seq.fed = hit.depth;
            seq.usage.cached_tokens = hit.depth;
            if hit.depth == seq.req.prompt.len() {
                seq.logits = hit.logits;
            }
        }
        Ok(seq)
    }

    fn step(&mut self) {
        for seq in self.active.iter_mut().filter(|s| s.client_gone()) {
            seq.done = true;
            self.shared.metrics.requests_cancelled.fetch_add(1, Ordering::Relaxed);
        }
        self.retire_done();
        if self.active.is_empty() {
            return;
        }
        let plan = self.plan();
        let items: Vec<StepItem<'_>> = plan
            .iter()
            .map(|&(i, ref work)| {
                let seq = &self.active[i];
                match *work {
                    Work::Prefill { end } => StepItem {
                        state: seq.state,
                        tokens: &seq.req.prompt[seq.fed..end],
                        want_logits: end == seq.req.prompt.len(),
                    },
                    Work::Decode => StepItem {
                        state: seq.state,
                        tokens: std::slice::from_ref(seq.next_input.as_ref().expect("planned decode has a token")),
                        want_logits: true,
                    },
                }
            })
            .collect();
        let outputs = forward_batch(self.model.as_mut(), &items);
        drop(items);
        let metrics = Arc::clone(&self.shared.metrics);
        metrics.steps.fetch_add(1, Ordering::Relaxed);
        Metrics::add(&metrics.batch_sequences, plan.len());
        for ((i, work), output) in plan.into_iter().zip(outputs) {
            let logits = match output {
                Ok(l) => l,
                Err(e) => {
                    metrics.requests_failed.fetch_add(1, Ordering::Relaxed);
                    self.active[i].fail(e.to_string());
                    continue;
                }
            };
            match work {
                Work::Prefill { end } => {
                    self.active[i].fed = end;
                    self.checkpoint(i, logits.as_deref());
                    self.active[i].logits = logits;
                }
                Work::Decode => {
                    self.active[i].next_input = None;
                    self.active[i].fed_generated += 1;
                    self.active[i].logits = logits;
                }
            }
        }
        // Cache numbers first: a client that sees its last event may read them right away.
        self.publish_cache_stats();
        self.sample_all();
        self.retire_done();
        self.rotation = self.rotation.wrapping_add(1);
    }

    /// This step's work: every decoding sequence, and prefill chunks up to the budget, starting from a
    /// rotating position.
    fn plan(&self) -> Vec<(usize, Work)> {
        let n = self.active.len();
        let chunk = self.cfg.prefill_chunk;
        let mut budget = self.cfg.prefill_budget as isize;
        let mut prefill_given = false;
        let mut plan = Vec::with_capacity(n);
        for k in 0..n {
            let i = (self.rotation + k) % n;
            let seq = &self.active[i];
            if seq.done || seq.logits.is_some() {
                continue;
            }
            if seq.next_input.is_some() {
                plan.push((i, Work::Decode));
            } else if seq.in_prefill() && (budget > 0 || !prefill_given) {
                let end = ((seq.fed / chunk + 1) * chunk).min(seq.req.prompt.len());
                budget -= (end - seq.fed) as isize;
                prefill_given = true;
                plan.push((i, Work::Prefill { end }));
            }
        }
        plan
    }

    /// Keeps the state of a prompt prefix in the cache at checkpoints and at the prompt's end.
    fn checkpoint(&mut self, i: usize, logits: Option<&[f32]>) {
        let Some(cache) = self.cache.as_mut() else { return };
        let seq = &self.active[i];
        let (fed, len) = (seq.fed, seq.req.prompt.len());
        let interval = cache.config().checkpoint_interval;
        let at_checkpoint = fed == len || (interval > 0 && fed % interval == 0);
        if !seq.req.use_cache || !at_checkpoint || cache.contains(&seq.req.prompt[..fed]) {
            return;
        }
        if let Ok(host) = self.model.save_state(seq.state) {
            cache.insert(&seq.req.prompt[..fed], &host, if fed == len { logits } else { None });
        }
    }

    fn sample_all(&mut self) {
        let metrics = Arc::clone(&self.shared.metrics);
        let tokenizer = self.tokenizer.clone();
        let mut finished = Vec::new();
        for (i, seq) in self.active.iter_mut().enumerate().filter(|(_, s)| !s.done && s.logits.is_some()) {
            let had = seq.generated.len();
            let outcome = seq.sample(tokenizer.as_deref());
            Metrics::add(&metrics.generated_tokens, seq.generated.len() - had);
            if had == 0 && seq.generated.len() == 1 {
                metrics.time_to_first_token.observe(seq.submitted.elapsed());
            }
            match outcome {
                Ok(Sampled::Continue) => {}
                Ok(Sampled::Finished(finish)) => {
                    // Counted before the final event is sent, so a client that saw it also sees the count.
                    if seq.client_gone() {
                        metrics.requests_cancelled.fetch_add(1, Ordering::Relaxed);
                    } else {
                        metrics.requests_completed.fetch_add(1, Ordering::Relaxed);
                        metrics.request_latency.observe(seq.submitted.elapsed());
                    }
                    // Sent after the completion's state is cached (below).
                    finished.push((i, finish));
                }
                Ok(Sampled::Cancelled) => {
                    seq.done = true;
                    metrics.requests_cancelled.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    metrics.requests_failed.fetch_add(1, Ordering::Relaxed);
                    seq.fail(e.to_string());
                }
            }
        }
        if finished.is_empty() {
            return;
        }
        for &(i, _) in &finished {
            self.checkpoint_completion(i);
        }
        // Cache numbers first: a client that sees its last event may read them right away.
        self.publish_cache_stats();
        for (i, finish) in finished {
            self.active[i].finish(finish);
        }
    }

    /// Keeps the state after a finished sequence's prompt and completion, so that a follow-up whose
    /// prompt extends that conversation (the next chat turn) resumes there instead of recomputing it.
    fn checkpoint_completion(&mut self, i: usize) {
        let Some(cache) = self.cache.as_mut() else { return };
        let seq = &self.active[i];
        if !seq.req.use_cache || seq.fed_generated == 0 {
            return;
        }
        let tokens: Vec<u32> = seq.req.prompt.iter().chain(&seq.generated[..seq.fed_generated]).copied().collect();
        if cache.contains(&tokens) {
            return;
        }
        if let Ok(host) = self.model.save_state(seq.state) {
            cache.insert(&tokens, &host, None);
        }
    }

    fn retire_done(&mut self) {
        let model = self.model.as_mut();
        self.active.retain(|seq| {
            if seq.done {
                model.drop_state(seq.state);
            }
            !seq.done
        });
    }

    fn abort_all(&mut self, queued: Vec<Queued>) {
        let msg = EngineError::ShuttingDown.to_string();
        for q in queued {
            let _ = q.events.send(Event::Failed(msg.clone()));
        }
        for seq in &mut self.active {
            seq.fail(msg.clone());
        }
        self.retire_done();
    }

    fn publish_gauges(&self) {
        let m = &self.shared.metrics;
        Metrics::set(&m.active, self.active.len());
        Metrics::set(&m.queued, self.shared.lock().queue.len());
        self.publish_cache_stats();
    }

    fn publish_cache_stats(&self) {
        if let Some(c) = &self.cache {
            *self.shared.metrics.cache.lock().unwrap_or_else(|e| e.into_inner()) = Some(c.stats());
        }
    }
}
