//! The engine thread on a fixture model: batched results equal solo runs, the cache changes nothing
//! but the work done, stops, cancellation, the queue bound, fairness and shutdown.

mod common;

use std::time::{Duration, Instant};

use engine::{
    generate, CacheConfig, Engine, EngineConfig, EngineError, Event, Finish, GenerateOptions, Request, Sampler,
    SamplerConfig, StateDtype,
};

fn config(max_batch: usize, max_queue: usize, cache: bool) -> EngineConfig {
    EngineConfig {
        max_batch,
        max_queue,
        prefill_chunk: 16,
        prefill_budget: 64,
        cache: cache.then(|| CacheConfig { checkpoint_interval: 32, ..CacheConfig::default() }),
    }
}

fn sampled(prompt: Vec<u32>, max_tokens: usize, seed: u64) -> Request {
    let mut r = Request::new(prompt, max_tokens);
    r.sampler = SamplerConfig { temperature: 0.8, top_k: 20, top_p: 0.95, presence_penalty: 0.3, seed, ..SamplerConfig::default() };
    r
}

/// The same request through the single-sequence loop, for reference.
fn solo(name: &str, req: &Request) -> Vec<u32> {
    let (mut model, _) = common::load(name).expect("fixture");
    let state = model.new_state().unwrap();
    let mut sampler = Sampler::new(req.sampler.clone()).unwrap();
    let opts = GenerateOptions { max_tokens: req.max_tokens, stop_tokens: req.stop_tokens.clone() };
    generate(model.as_mut(), state, &req.prompt, &mut sampler, &opts, |_| true).unwrap().tokens
}

#[test]
fn concurrent_requests_equal_solo_runs() {
    let Some((model, tok)) = common::load(common::WORLD) else { return };
    let n_vocab = model.info().hparams.n_vocab;
    let engine = Engine::start(model, tok, config(3, 16, true)).unwrap();
    // Odd prompt lengths around the chunk and checkpoint grid; two share a long prefix.
    let lens = [1usize, 7, 16, 17, 33, 65, 40];
    let mut reqs: Vec<Request> =
        lens.iter().enumerate().map(|(i, &n)| sampled(common::prompt(i as u64, n, n_vocab), 5 + i, 100 + i as u64)).collect();
    let mut shared = reqs[5].prompt[..50].to_vec();
    shared.extend(common::prompt(99, 9, n_vocab));
    reqs.push(sampled(shared, 6, 7));
    let handles: Vec<_> = reqs.iter().map(|r| engine.submit(r.clone()).unwrap()).collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.wait().unwrap()).collect();
    assert_eq!(results.len(), reqs.len());
    for (req, got) in reqs.iter().zip(&results) {
        assert_eq!(got.tokens, solo(common::WORLD, req), "prompt of {} tokens", req.prompt.len());
        assert_eq!(got.finish, Finish::Length);
        assert_eq!(got.usage.prompt_tokens, req.prompt.len());
        assert_eq!(got.usage.completion_tokens, req.max_tokens);
    }
    let m = engine.metrics();
    assert_eq!(m.requests_completed, reqs.len() as u64);
    assert!(m.batch_sequences > m.steps, "some steps advanced more than one sequence: {m:?}");
}

/// Full log-distributions of every sampled position, so equal results mean equal logits.
fn logprob_run(engine: &Engine, prompt: &[u32], n_vocab: usize) -> (Vec<Vec<(u32, f32)>>, usize) {
    let mut r = Request::new(prompt.to_vec(), 3);
    r.logprobs = Some(n_vocab);
    let c = engine.submit(r).unwrap().wait().unwrap();
    assert_eq!(c.logprobs.len(), 3);
    (c.logprobs.into_iter().map(|l| l.top).collect(), c.usage.cached_tokens)
}

#[test]
fn cache_hits_give_exactly_the_uncached_logits() {
    let Some((model, tok)) = common::load(common::WORLD) else { return };
    let n_vocab = model.info().hparams.n_vocab;
    let cached = Engine::start(model, tok, config(4, 16, true)).unwrap();
    let (model, tok) = common::load(common::WORLD).unwrap();
    let uncached = Engine::start(model, tok, config(4, 16, false)).unwrap();
    let base = common::prompt(5, 70, n_vocab);
    let mut cases = vec![base.clone()];
    // Extends the whole first prompt (hit at 70, off the chunk grid), shares 40 tokens (hit at the
    // 32-token checkpoint), repeats the first prompt exactly (hit with stored logits).
    cases.push([base.clone(), common::prompt(6, 23, n_vocab)].concat());
    cases.push([base[..40].to_vec(), common::prompt(7, 11, n_vocab)].concat());
    cases.push(base.clone());
    let expected_cached = [0usize, 70, 32, 70];
    for (prompt, want_cached) in cases.iter().zip(expected_cached) {
        let (a, hit) = logprob_run(&cached, prompt, n_vocab);
        let (b, miss) = logprob_run(&uncached, prompt, n_vocab);
        assert_eq!((hit, miss), (want_cached, 0), "prompt of {} tokens", prompt.len());
        assert_eq!(a, b, "prompt of {} tokens restarted at {hit}: logits differ from the uncached run", prompt.len());
    }
    let stats = cached.metrics().cache.expect("cache on");
    assert_eq!(stats.hits, 3);
    assert!(stats.entries >= 4 && stats.bytes <= CacheConfig::default().budget_bytes);
}

#[test]
fn f16_cache_stays_close() {
    let Some((model, tok)) = common::load(common::WORLD) else { return };
    let n_vocab = model.info().hparams.n_vocab;
    let mut cfg = config(2, 4, true);
    cfg.cache.as_mut().unwrap().dtype = StateDtype::F16;
    let engine = Engine::start(model, tok, cfg).unwrap();
    let p = common::prompt(11, 50, n_vocab);
    let (a, _) = logprob_run(&engine, &p, n_vocab);
    let longer = [p.clone(), vec![3, 4, 5]].concat();
    let (b, hit) = logprob_run(&engine, &longer, n_vocab);
    let (model, tok) = common::load(common::WORLD).unwrap();
    let (c, _) = logprob_run(&Engine::start(model, tok, config(2, 4, false)).unwrap(), &longer, n_vocab);
    assert_eq!(hit, 50);
    assert!(!a.is_empty());
    let lp = |v: &Vec<(u32, f32)>| {
        let mut v = v.clone();
        v.sort_by_key(|x| x.0);
        v.into_iter().map(|x| x.1).collect::<Vec<f32>>()
    };
    let err = testkit::max_abs_diff(&lp(&b[0]), &lp(&c[0]));
    assert!(err < 0.05, "f16 state changed log-probs by {err}");
}

#[test]
fn stop_tokens_and_stop_strings() {
    let Some((model, tok)) = common::load(common::WORLD) else { return };
    let tok_ref = tok.clone().unwrap();
    let n_vocab = model.info().hparams.n_vocab;
    let engine = Engine::start(model, tok, config(2, 4, false)).unwrap();
    let prompt = common::prompt(21, 12, n_vocab);
    let free = engine.submit(Request::new(prompt.clone(), 12)).unwrap().wait().unwrap();
    assert_eq!(free.text, tok_ref.decode_lossy(&free.tokens).unwrap());
    // Stop token: the third generated token.
    let mut r = Request::new(prompt.clone(), 12);
    r.stop_tokens = vec![free.tokens[2]];
    let c = engine.submit(r).unwrap().wait().unwrap();
    let first = free.tokens.iter().position(|&t| t == free.tokens[2]).unwrap();
    assert_eq!((c.finish, c.tokens.len()), (Finish::StopToken, first + 1));
    assert_eq!(c.usage.completion_tokens, first + 1);
    assert_eq!(c.text, tok_ref.decode_lossy(&free.tokens[..first]).unwrap());
    // Stop string: a piece of text from the middle of the free run.
    let chars: Vec<char> = free.text.chars().collect();
    if chars.len() >= 6 {
        let stop: String = chars[3..5].iter().collect();
        let mut r = Request::new(prompt, 12);
        r.stop_strings = vec![stop.clone()];
        let c = engine.submit(r).unwrap().wait().unwrap();
        let cut = free.text.find(&stop).unwrap();
        assert_eq!((c.finish, c.text.as_str()), (Finish::StopString, &free.text[..cut]));
    }
}

#[test]
fn dropping_the_handle_cancels_and_frees_the_slot() {
    let Some((model, tok)) = common::load(common::WORLD) else { return };
    let n_vocab = model.info().hparams.n_vocab;
    let engine = Engine::start(model, tok, config(1, 4, false)).unwrap();
    let mut h = engine.submit(Request::new(common::prompt(1, 5, n_vocab), 1_000_000)).unwrap();
    assert!(matches!(h.blocking_next(), Some(Event::Token(_))));
    drop(h);
    // With one slot, this can only finish if the cancelled request left it.
    let c = engine.submit(Request::new(common::prompt(2, 5, n_vocab), 3)).unwrap().wait().unwrap();
    assert_eq!(c.tokens.len(), 3);
    let m = engine.metrics();
    assert_eq!((m.requests_cancelled, m.requests_completed), (1, 1));
}

#[test]
fn queue_bound_rejects_and_recovers() {
    let Some((model, tok)) = common::load(common::WORLD) else { return };
    let n_vocab = model.info().hparams.n_vocab;
    let engine = Engine::start(model, tok, config(1, 2, false)).unwrap();
    let mut running = engine.submit(Request::new(common::prompt(1, 5, n_vocab), 1_000_000)).unwrap();
    assert!(matches!(running.blocking_next(), Some(Event::Token(_))));
    let q1 = engine.submit(Request::new(common::prompt(2, 5, n_vocab), 2)).unwrap();
    let q2 = engine.submit(Request::new(common::prompt(3, 5, n_vocab), 2)).unwrap();
    let err = engine.submit(Request::new(common::prompt(4, 5, n_vocab), 2)).err().expect("queue is full");
    assert!(matches!(err, EngineError::QueueFull { limit: 2 }), "{err}");
    assert_eq!(engine.metrics().requests_rejected, 1);
    drop(running);
    assert_eq!(q1.wait().unwrap().tokens.len(), 2);
    assert_eq!(q2.wait().unwrap().tokens.len(), 2);
}

#[test]
fn a_long_prefill_does_not_starve_a_short_request() {
    let Some((model, tok)) = common::load(common::WORLD) else { return };
    let n_vocab = model.info().hparams.n_vocab;
    let mut cfg = config(4, 4, false);
    cfg.prefill_budget = 16;
    let engine = Engine::start(model, tok, cfg).unwrap();
    let mut long = engine.submit(Request::new(common::prompt(1, 2000, n_vocab), 1)).unwrap();
    let short = engine.submit(Request::new(common::prompt(2, 20, n_vocab), 4)).unwrap().wait().unwrap();
    assert_eq!(short.tokens.len(), 4);
    assert!(long.try_next().is_err(), "the 2000-token prompt (125 chunks) cannot be done after a few steps");
    assert!(matches!(long.blocking_next(), Some(Event::Token(_))));
}

#[test]
fn invalid_requests_fail_at_submit() {
    let Some((model, tok)) = common::load(common::WORLD) else { return };
    let n_vocab = model.info().hparams.n_vocab as u32;
    let engine = Engine::start(model, tok, config(1, 1, false)).unwrap();
    let bad = |r: Request| engine.submit(r).err().expect("rejected").to_string();
    assert!(bad(Request::new(vec![], 1)).contains("empty"));
    assert!(bad(Request::new(vec![1, n_vocab], 1)).contains(&format!("token {n_vocab} is out of range")));
    let mut r = Request::new(vec![1], 1);
    r.sampler.temperature = f32::NAN;
    assert!(bad(r).contains("temperature"));
}

#[test]
fn graceful_shutdown_finishes_work_and_refuses_more() {
    let Some((model, tok)) = common::load(common::WORLD) else { return };
    let n_vocab = model.info().hparams.n_vocab;
    let engine = Engine::start(model, tok, config(2, 8, true)).unwrap();
    let handles: Vec<_> = (0..5).map(|i| engine.submit(Request::new(common::prompt(i, 9, n_vocab), 4)).unwrap()).collect();
    let t = Instant::now();
    engine.shutdown();
    assert!(t.elapsed() < Duration::from_secs(60));
    for h in handles {
        assert_eq!(h.wait().unwrap().tokens.len(), 4);
    }
    assert!(matches!(engine.submit(Request::new(vec![1], 1)), Err(EngineError::ShuttingDown)));
}

#[test]
fn abort_fails_running_requests() {
    let Some((model, tok)) = common::load(common::WORLD) else { return };
    let engine = Engine::start(model, tok, config(1, 8, false)).unwrap();
    let mut h = engine.submit(Request::new(vec![1, 2, 3], 1_000_000)).unwrap();
    let queued = engine.submit(Request::new(vec![1, 2, 3], 1)).unwrap();
    assert!(matches!(h.blocking_next(), Some(Event::Token(_))));
    engine.abort();
    let rest: Vec<Event> = std::iter::from_fn(|| h.blocking_next()).collect();
    assert!(matches!(rest.last(), Some(Event::Failed(m)) if m.contains("shutting down")), "{:?}", rest.last());
    assert!(queued.wait().unwrap_err().contains("shutting down"));
}

#[test]
fn byte_model_without_tokenizer_generates_tokens() {
    let Some((model, _)) = common::load(common::BYTES) else { return };
    let engine = Engine::start(model, None, config(2, 2, true)).unwrap();
    let req = Request::new(vec![34, 105, 110], 6);
    let c = engine.submit(req.clone()).unwrap().wait().unwrap();
    assert_eq!(c.tokens, solo(common::BYTES, &req));
    assert_eq!(c.text, "");
    let mut r = req;
    r.stop_strings = vec!["x".into()];
    assert!(engine.submit(r).is_err(), "stop strings need a tokenizer");
}

#[test]
fn a_follow_up_resumes_after_the_previous_completion() {
    let Some((model, tok)) = common::load(common::WORLD) else { return };
    let n_vocab = model.info().hparams.n_vocab;
    let cached = Engine::start(model, tok, config(2, 16, true)).unwrap();
    let (model, tok) = common::load(common::WORLD).unwrap();
    let uncached = Engine::start(model, tok, config(2, 16, false)).unwrap();
    let first = common::prompt(21, 19, n_vocab);
    let reply = cached.submit(Request::new(first.clone(), 6)).unwrap().wait().unwrap().tokens;
    assert_eq!(reply.len(), 6);
    // The next turn: the whole conversation so far plus a new message. All but the reply's last
    // token went through the model already (the last was sampled, never fed).
    let next = [first.clone(), reply.clone(), common::prompt(22, 5, n_vocab)].concat();
    let (a, hit) = logprob_run(&cached, &next, n_vocab);
    let (b, miss) = logprob_run(&uncached, &next, n_vocab);
    assert_eq!((hit, miss), (first.len() + reply.len() - 1, 0));
    assert_eq!(a, b, "resuming after the cached completion changed the logits");
}
