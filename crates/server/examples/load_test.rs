//! Load test on loopback: concurrent streaming clients against an in-process server.
//!
//! `cargo run --release -p server --example load_test -- [CLIENTS] [MAX_TOKENS]` (defaults 64, 32) on
//! the `synth-tiny-k-F32.gguf` fixture. Two workloads:
//! 1. distinct chat prompts: every streamed answer must equal the same request run alone (same seed);
//! 2. a shared ~600-token system prompt with different questions: shows the prefix-state cache.
//!
//! Prints throughput, p50/p99 latency and time to first token, and the cache hit rate. A benchmark,
//! not a test: nothing is timed against a threshold.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

struct Outcome {
    text: String,
    latency: Duration,
    first_token: Duration,
}

/// Streams one chat request; returns the concatenated content and the timings.
fn stream_chat(addr: std::net::SocketAddr, body: &Value) -> Outcome {
    let t = Instant::now();
    let (mut s, got) = open_stream(addr, "/v1/chat/completions", body);
    // The role chunk comes first; the first content arrives with the second event.
    let got = read_events(&mut s, got, 2);
    let first_token = t.elapsed();
    let got = read_events(&mut s, got, usize::MAX);
    let latency = t.elapsed();
    let reply = parse_reply(&got);
    let events = reply.sse();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "incomplete stream");
    let text = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str::<Value>(e).unwrap())
        .flat_map(|c| c["choices"].as_array().cloned().unwrap_or_default())
        .map(|c| c["delta"]["content"].as_str().unwrap_or("").to_string())
        .collect();
    Outcome { text, latency, first_token }
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn run_concurrent(addr: std::net::SocketAddr, bodies: &[Value]) -> (Vec<Outcome>, Duration) {
    let t = Instant::now();
    let threads: Vec<_> = bodies.iter().cloned().map(|b| std::thread::spawn(move || stream_chat(addr, &b))).collect();
    let outcomes = threads.into_iter().map(|t| t.join().expect("client thread")).collect();
    (outcomes, t.elapsed())
}

fn report(name: &str, outcomes: &[Outcome], wall: Duration, srv: &TestServer, before: &engine::MetricsSnapshot) {
    let m = srv.engine.metrics();
    let tokens = m.generated_tokens - before.generated_tokens;
    let prompt = m.prompt_tokens - before.prompt_tokens;
    let cached = m.cached_prompt_tokens - before.cached_prompt_tokens;
    let steps = (m.steps - before.steps).max(1);
    let lat: Vec<Duration> = outcomes.iter().map(|o| o.latency).collect();
    let ttft: Vec<Duration> = outcomes.iter().map(|o| o.first_token).collect();
    println!("== {name}: {} clients", outcomes.len());
    println!("   wall {:.2} s, {tokens} tokens generated, {:.1} tok/s", wall.as_secs_f64(), tokens as f64 / wall.as_secs_f64());
    println!(
        "   latency p50 {:.0} ms, p99 {:.0} ms; first token p50 {:.0} ms, p99 {:.0} ms",
        percentile(lat.clone(), 0.5).as_secs_f64() * 1e3,
        percentile(lat, 0.99).as_secs_f64() * 1e3,
        percentile(ttft.clone(), 0.5).as_secs_f64() * 1e3,
        percentile(ttft, 0.99).as_secs_f64() * 1e3
    );
    println!(
        "   prompt tokens {prompt}, restored from cache {cached} ({:.1}%); mean batch {:.1} sequences/step",
        100.0 * cached as f64 / prompt.max(1) as f64,
        (m.batch_sequences - before.batch_sequences) as f64 / steps as f64
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let clients: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(64);
    let max_tokens: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(32);
    let mut ecfg = engine_config();
    ecfg.max_batch = 16;
    ecfg.max_queue = clients;
    ecfg.prefill_chunk = 64;
    ecfg.prefill_budget = 256;
    let srv = start(server_config(), ecfg).expect("the synth-tiny-k-F32.gguf fixture");
    println!("model {MODEL}, cpu backend, max_batch 16, {} cores", std::thread::available_parallelism().map_or(1, |n| n.get()));

    let body = |i: usize, content: String| {
        json!({"model": "tiny", "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens,
               "temperature": 0.8, "top_p": 0.9, "seed": i, "stream": true, "stop": ["\u{1}"]})
    };
    let distinct: Vec<Value> = (0..clients).map(|i| body(i, format!("Question {i}: what is the number {}?", i * 7919))).collect();
    let before = srv.engine.metrics();
    let (together, wall) = run_concurrent(srv.addr, &distinct);
    report("distinct prompts", &together, wall, &srv, &before);
    let mismatches = distinct.iter().zip(&together).filter(|(b, o)| stream_chat(srv.addr, b).text != o.text).count();
    println!("   {} of {clients} answers identical to the same request run alone", clients - mismatches);
    assert_eq!(mismatches, 0, "concurrent answers differ from solo runs");

    let system = "You are a helpful assistant. ".repeat(100);
    let shared: Vec<Value> = (0..clients)
        .map(|i| {
            let mut b = body(i, format!("Question {i}?"));
            b["messages"] = json!([{"role": "system", "content": system}, {"role": "user", "content": format!("Question {i}?")}]);
            b
        })
        .collect();
    let before = srv.engine.metrics();
    let (outcomes, wall) = run_concurrent(srv.addr, &shared);
    report("shared system prompt", &outcomes, wall, &srv, &before);
}
