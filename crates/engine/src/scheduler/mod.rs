//! The scheduler: one thread owns the model and serves many sequences with continuous batching.
//!
//! Clients [`Engine::submit`] requests from any thread and read [`Event`]s from the returned
//! [`RequestHandle`] (sync or async). New requests join the running batch at the next step and
//! finished ones leave it; at most `max_batch` sequences run at once and at most `max_queue` wait.
//! Dropping a handle cancels its request at the next step. See `worker.rs` for the step itself.

mod metrics;
mod request;
mod sequence;
mod text;
mod worker;

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use model::{Model, ModelInfo};
use tokenizer::Tokenizer;

use crate::state_cache::{CacheConfig, PrefixCache};
use crate::EngineError;
pub use metrics::{HistogramSnapshot, Metrics, MetricsSnapshot, LATENCY_BUCKETS};
pub use request::{Completion, Event, Finish, Request, RequestHandle, TokenEvent, TokenLogprob, Usage};
pub use worker::{forward_batch, StepItem};
use worker::{Inbox, Queued, Shared, Shutdown, Worker};

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Sequences advanced together (the batch); further requests wait in the queue.
    pub max_batch: usize,
    /// Requests waiting for a batch slot; beyond this `submit` answers `QueueFull`.
    pub max_queue: usize,
    /// Prompt tokens per sequence per step.
    pub prefill_chunk: usize,
    /// Prompt tokens per step over all sequences (the first prefilling sequence always gets a chunk).
    pub prefill_budget: usize,
    /// The prefix-state cache; `None` disables it. Its checkpoint interval is rounded up to a multiple
    /// of `prefill_chunk`.
    pub cache: Option<CacheConfig>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig { max_batch: 16, max_queue: 64, prefill_chunk: 64, prefill_budget: 256, cache: Some(CacheConfig::default()) }
    }
}

/// The handle to a running engine; share it (`Arc<Engine>`) between request handlers.
pub struct Engine {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    info: ModelInfo,
    tokenizer: Option<Arc<Tokenizer>>,
    cfg: EngineConfig,
    next_id: std::sync::atomic::AtomicU64,
}

impl Engine {
    /// Moves `model` onto a new engine thread and starts serving.
    pub fn start(model: Box<dyn Model>, tokenizer: Option<Arc<Tokenizer>>, mut cfg: EngineConfig) -> Result<Engine, EngineError> {
        cfg.max_batch = cfg.max_batch.max(1);
        cfg.prefill_chunk = cfg.prefill_chunk.max(1);
        if let Some(c) = cfg.cache.as_mut() {
            c.checkpoint_interval = c.checkpoint_interval.div_ceil(cfg.prefill_chunk) * cfg.prefill_chunk;
        }
        let cache = cfg.cache.clone().map(PrefixCache::new).transpose()?;
        let shared = Arc::new(Shared { inbox: Mutex::new(Inbox::default()), wake: Condvar::new(), metrics: Arc::default() });
        let info = model.info().clone();
        let worker = Worker::new(model, tokenizer.clone(), cfg.clone(), cache, Arc::clone(&shared));
        let thread = std::thread::Builder::new()
            .name("aviary-engine".into())
            .spawn(move || worker.run())
            .map_err(|source| EngineError::Io { path: "(engine thread)".into(), source })?;
        Ok(Engine { shared, thread: Mutex::new(Some(thread)), info, tokenizer, cfg, next_id: Default::default() })
    }

    pub fn model_info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn tokenizer(&self) -> Option<&Arc<Tokenizer>> {
        self.tokenizer.as_ref()
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.metrics.snapshot()
    }

    /// Queues a request. Fails at once for an invalid request, a full queue or a shutting-down engine.
    pub fn submit(&self, req: Request) -> Result<RequestHandle, EngineError> {
        self.validate(&req)?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let metrics = &self.shared.metrics;
        {
            let mut inbox = self.shared.lock();
            if inbox.shutdown.is_some() {
                return Err(EngineError::ShuttingDown);
            }
            // Requests whose clients left already should not hold queue places.
            inbox.queue.retain(|q| !q.events.is_closed());
            if inbox.queue.len() >= self.cfg.max_queue {
                metrics.requests_rejected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Err(EngineError::QueueFull { limit: self.cfg.max_queue });
            }
            inbox.queue.push_back(Queued { req, events: tx, submitted: Instant::now() });
            Metrics::set(&metrics.queued, inbox.queue.len());
        }
        metrics.requests_submitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.shared.wake.notify_one();
        let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(RequestHandle { id, events: rx })
    }

    fn validate(&self, req: &Request) -> Result<(), EngineError> {
        let n_vocab = self.info.hparams.n_vocab;
        if req.prompt.is_empty() {
            return Err(EngineError::InvalidRequest("the prompt is empty: give at least one token".into()));
        }
        if let Some(&t) = req.prompt.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(EngineError::InvalidRequest(format!("prompt token {t} is out of range (vocabulary has {n_vocab} tokens)")));
        }
        if !req.stop_strings.is_empty() && self.tokenizer.is_none() {
            return Err(EngineError::InvalidRequest("stop strings need a model with a tokenizer".into()));
        }
        req.sampler.validate()?;
        Ok(())
    }

    /// Takes no new requests, lets every queued and running one finish, then stops the thread.
    pub fn shutdown(&self) {
        self.stop(Shutdown::Drain);
    }

    /// Fails every queued and running request and stops the thread.
    pub fn abort(&self) {
        self.stop(Shutdown::Now);
    }

    fn stop(&self, how: Shutdown) {
        {
            let mut inbox = self.shared.lock();
            if inbox.shutdown != Some(Shutdown::Now) {
                inbox.shutdown = Some(how);
            }
        }
        self.shared.wake.notify_all();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread {
            // A panic on the engine thread has already been printed; there is nothing left to stop.
            let _ = t.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.abort();
    }
}
