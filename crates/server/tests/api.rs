//! Every endpoint of a live server on 127.0.0.1: answers, streaming, parameters, errors, auth, limits,
//! the queue bound and client disconnects.

mod common;

use std::io::Write;

use common::*;
use engine::EngineConfig;
use serde_json::{json, Value};

fn completion(prompt: &str, max_tokens: usize, seed: u64) -> Value {
    json!({ "model": "tiny", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0.9, "top_p": 0.95, "seed": seed })
}

fn chat(content: &str, max_tokens: usize, seed: u64) -> Value {
    json!({ "model": "tiny", "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens, "temperature": 0.9, "seed": seed })
}

/// The text of a streamed answer (all choices' deltas concatenated in order) and the final chunk.
fn streamed_text(events: &[String], chat: bool) -> (String, Vec<Value>) {
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "stream must end with [DONE]: {events:?}");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    let mut text = String::new();
    for c in &chunks {
        for choice in c["choices"].as_array().unwrap() {
            let piece = if chat { &choice["delta"]["content"] } else { &choice["text"] };
            text.push_str(piece.as_str().unwrap_or(""));
        }
    }
    (text, chunks)
}

#[test]
fn health_models_and_metrics() {
    let Some(srv) = start(server_config(), engine_config()) else { return };
    let h = get(srv.addr, "/health");
    assert_eq!((h.status, h.json()["status"].as_str()), (200, Some("ok")));
    let m = get(srv.addr, "/v1/models").json();
    assert_eq!(m["object"], "list");
    assert_eq!(m["data"][0]["id"], "tiny");
    assert_eq!(m["data"][0]["object"], "model");
    assert_eq!(get(srv.addr, "/v1/models/tiny").json()["id"], "tiny");
    let e = get(srv.addr, "/v1/models/gpt-4").expect_error(404);
    assert_eq!(e["code"], "model_not_found");

    // Twice the same prompt: the second restores the whole prompt from the cache.
    for _ in 0..2 {
        assert_eq!(post(srv.addr, "/v1/completions", &completion("The cache", 3, 1)).status, 200);
    }
    let text = String::from_utf8(get(srv.addr, "/metrics").body).unwrap();
    for line in ["aviary_requests_completed_total 2", "aviary_cache_hits_total 1", "aviary_generated_tokens_total 6", "# TYPE aviary_request_duration_seconds histogram", "aviary_http_responses_total{code=\"200\"}"] {
        assert!(text.contains(line), "metrics lack '{line}':\n{text}");
    }
}

#[test]
fn completions_answer_and_count_usage() {
    let Some(srv) = start(server_config(), engine_config()) else { return };
    let r = post(srv.addr, "/v1/completions", &completion("Hello there", 8, 42));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["object"], "text_completion");
    assert!(v["id"].as_str().unwrap().starts_with("cmpl-"));
    assert_eq!(v["model"], "tiny");
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert!(["length", "stop"].contains(&choice["finish_reason"].as_str().unwrap()));
    let u = &v["usage"];
    assert!(u["prompt_tokens"].as_u64().unwrap() > 0);
    assert!(u["completion_tokens"].as_u64().unwrap() <= 8);
    assert_eq!(u["total_tokens"], u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap());
    // Same seed, same answer; echo puts the prompt in front.
    let again = post(srv.addr, "/v1/completions", &completion("Hello there", 8, 42)).json();
    assert_eq!(again["choices"][0]["text"], choice["text"]);
    assert_eq!(again["usage"]["prompt_tokens_details"]["cached_tokens"], u["prompt_tokens"]);
    let mut body = completion("Hello there", 8, 42);
    body["echo"] = json!(true);
    let echoed = post(srv.addr, "/v1/completions", &body).json();
    assert_eq!(echoed["choices"][0]["text"].as_str().unwrap(), format!("Hello there{}", choice["text"].as_str().unwrap()));
    // Token-id prompts work too.
    let ids = post(srv.addr, "/v1/completions", &json!({"prompt": [1, 2, 3], "max_tokens": 2})).json();
    assert_eq!(ids["usage"]["prompt_tokens"], 3);
}

#[test]
fn chat_answers_in_the_chat_shape() {
    let Some(srv) = start(server_config(), engine_config()) else { return };
    let r = post(srv.addr, "/v1/chat/completions", &chat("What is RWKV?", 10, 7));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    let msg = &v["choices"][0]["message"];
    assert_eq!(msg["role"], "assistant");
    let content = msg["content"].as_str().unwrap();
    assert!(!content.contains("\n\n"), "the turn separator stops generation: {content:?}");
    // Same request, with a system message and content parts, is accepted.
    let body = json!({"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]}
    ], "max_tokens": 3});
    assert_eq!(post(srv.addr, "/v1/chat/completions", &body).status, 200);
}

#[test]
fn streaming_matches_the_whole_answer() {
    let Some(srv) = start(server_config(), engine_config()) else { return };
    for (path, is_chat) in [("/v1/completions", false), ("/v1/chat/completions", true)] {
        let mut body = if is_chat { chat("Tell me a story", 12, 3) } else { completion("Once upon", 12, 3) };
        let whole = post(srv.addr, path, &body).json();
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
        let r = post(srv.addr, path, &body);
        assert_eq!(r.status, 200);
        assert!(r.header("content-type").unwrap().starts_with("text/event-stream"));
        let (text, chunks) = streamed_text(&r.sse(), is_chat);
        let expected = if is_chat { &whole["choices"][0]["message"]["content"] } else { &whole["choices"][0]["text"] };
        assert_eq!(text, expected.as_str().unwrap(), "{path}");
        let object = if is_chat { "chat.completion.chunk" } else { "text_completion" };
        assert!(chunks.iter().all(|c| c["object"] == object && c["id"] == chunks[0]["id"]));
        if is_chat {
            assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        }
        let finish = &chunks[chunks.len() - 2]["choices"][0]["finish_reason"];
        assert_eq!(finish, &whole["choices"][0]["finish_reason"]);
        let usage = &chunks.last().unwrap()["usage"];
        assert_eq!(usage["completion_tokens"], whole["usage"]["completion_tokens"]);
        assert_eq!(chunks.last().unwrap()["choices"], json!([]));
    }
}

#[test]
fn n_choices_and_logprobs() {
    let Some(srv) = start(server_config(), engine_config()) else { return };
    let mut body = completion("Many ways", 5, 10);
    body["n"] = json!(3);
    body["logprobs"] = json!(2);
    let v = post(srv.addr, "/v1/completions", &body).json();
    let choices = v["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3);
    for (i, c) in choices.iter().enumerate() {
        // Choice i is the request with seed + i.
        let single = post(srv.addr, "/v1/completions", &completion("Many ways", 5, 10 + i as u64)).json();
        assert_eq!(c["text"], single["choices"][0]["text"], "choice {i}");
        let lp = &c["logprobs"];
        let n = lp["tokens"].as_array().unwrap().len();
        assert!(n >= 1 && lp["token_logprobs"].as_array().unwrap().len() == n);
        // Keyed by token text: two alternatives with the same text (e.g. lone bytes) share a key.
        assert!((1..=2).contains(&lp["top_logprobs"][0].as_object().unwrap().len()));
        assert!(lp["token_logprobs"].as_array().unwrap().iter().all(|x| x.as_f64().unwrap() <= 0.0));
    }
    assert_eq!(v["usage"]["completion_tokens"].as_u64().unwrap(), choices.len() as u64 * 5);

    let mut body = chat("Hi", 4, 1);
    body["logprobs"] = json!(true);
    body["top_logprobs"] = json!(3);
    let v = post(srv.addr, "/v1/chat/completions", &body).json();
    let content = v["choices"][0]["logprobs"]["content"].as_array().unwrap().clone();
    assert!(!content.is_empty());
    assert_eq!(content[0]["top_logprobs"].as_array().unwrap().len(), 3);
    assert!(content[0]["bytes"].is_array());
    // Streaming n=2: both indices appear and finish.
    let mut body = chat("Hi", 4, 1);
    body["n"] = json!(2);
    body["stream"] = json!(true);
    let events = post(srv.addr, "/v1/chat/completions", &body).sse();
    let (_, chunks) = streamed_text(&events, true);
    let finished: Vec<u64> = chunks
        .iter()
        .flat_map(|c| c["choices"].as_array().unwrap().clone())
        .filter(|c| c["finish_reason"].is_string())
        .map(|c| c["index"].as_u64().unwrap())
        .collect();
    let mut sorted = finished.clone();
    sorted.sort();
    assert_eq!(sorted, vec![0, 1]);
}

#[test]
fn stop_strings_cut_the_text() {
    let Some(srv) = start(server_config(), engine_config()) else { return };
    let free = post(srv.addr, "/v1/completions", &completion("Stop here", 16, 5)).json();
    let text = free["choices"][0]["text"].as_str().unwrap().to_string();
    let chars: Vec<char> = text.chars().collect();
    if chars.len() < 6 {
        eprintln!("free text too short to cut ({text:?}); nothing to check");
        return;
    }
    let stop: String = chars[3..5].iter().collect();
    let mut body = completion("Stop here", 16, 5);
    body["stop"] = json!([stop.clone(), "\u{1}never"]);
    let cut = post(srv.addr, "/v1/completions", &body).json();
    assert_eq!(cut["choices"][0]["text"].as_str().unwrap(), &text[..text.find(&stop).unwrap()]);
    assert_eq!(cut["choices"][0]["finish_reason"], "stop");
}

#[test]
fn bad_requests_get_clear_4xx_and_the_server_keeps_serving() {
    let Some(srv) = start(server_config(), engine_config()) else { return };
    let a = srv.addr;
    let raw = |body: &[u8]| send(a, "POST", "/v1/chat/completions", &[("Content-Type", "application/json")], body);
    assert!(raw(b"{not json").expect_error(400)["message"].as_str().unwrap().contains("invalid JSON"));
    raw(b"\xff\xfe{}").expect_error(400);
    raw(b"{\"messages\": [{\"role\": \"user\", \"content\": \"\xc3\x28\"}]}").expect_error(400);
    raw(b"{\"messages\": \"hi\"}").expect_error(400);
    let cases = [
        (json!({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}), None),
        (json!({"messages": [{"role": "user", "content": "x"}], "temperature": -1}), Some("temperature")),
        (json!({"messages": [{"role": "user", "content": "x"}], "top_p": 0}), Some("top_p")),
        (json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 100000}), Some("max_tokens")),
        (json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": -5}), Some("max_tokens")),
        (json!({"messages": [{"role": "user", "content": "x"}], "n": 0}), Some("n")),
        (json!({"messages": [{"role": "user", "content": "x"}], "stop": ["a", "b", "c", "d", "e"]}), Some("stop")),
        (json!({"messages": []}), Some("messages")),
        (json!({"messages": [{"role": "user", "content": ""}]}), Some("messages[0].content")),
        (json!({"messages": [{"role": "wizard", "content": "x"}]}), Some("messages[0].role")),
        (json!({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2}), Some("top_logprobs")),
    ];
    for (body, param) in &cases {
        let e = post(a, "/v1/chat/completions", body).expect_error(400);
        assert_eq!(e["type"], "invalid_request_error");
        if let Some(p) = param {
            assert_eq!(e["param"], *p, "{body}: {e}");
        }
    }
    for body in [json!({"prompt": ""}), json!({"prompt": [1, 99999]}), json!({"prompt": [-1]}), json!({})] {
        post(a, "/v1/completions", &body).expect_error(400);
    }
    let e = post(a, "/v1/chat/completions", &json!({"model": "gpt-4", "messages": [{"role": "user", "content": "x"}]})).expect_error(404);
    assert_eq!((e["code"].as_str(), e["param"].as_str()), (Some("model_not_found"), Some("model")));
    assert_eq!(get(a, "/v1/nothing").expect_error(404)["code"], "unknown_url");
    assert_eq!(get(a, "/v1/chat/completions").expect_error(405)["code"], "method_not_allowed");
    // 10 MB body: refused from its Content-Length before it is read.
    let mut s = connect(a);
    let head = format!("POST /v1/completions HTTP/1.1\r\nHost: {a}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", 10 << 20);
    s.write_all(head.as_bytes()).unwrap();
    let mut raw_reply = Vec::new();
    std::io::Read::read_to_end(&mut s, &mut raw_reply).unwrap();
    parse_reply(&raw_reply).expect_error(413);
    // A chunked body (no declared length) over the limit: refused once 1 MiB has been read. The server
    // closes without reading the rest, so the client may see a reset instead of the answer.
    let mut s = connect(a);
    let head = format!("POST /v1/completions HTTP/1.1\r\nHost: {a}\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let mut writer = s.try_clone().unwrap();
    let feeder = std::thread::spawn(move || {
        let chunk = vec![b'a'; 64 << 10];
        for _ in 0..40 {
            if writer.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).and_then(|()| writer.write_all(&chunk)).and_then(|()| writer.write_all(b"\r\n")).is_err() {
                break;
            }
        }
    });
    let mut raw_reply = Vec::new();
    match std::io::Read::read_to_end(&mut s, &mut raw_reply) {
        Ok(_) if !raw_reply.is_empty() => {
            parse_reply(&raw_reply).expect_error(413);
        }
        other => eprintln!("oversized chunked body: connection ended without a readable answer ({other:?})"),
    }
    feeder.join().unwrap();
    assert_eq!(get(a, "/health").status, 200);
    assert_eq!(post(a, "/v1/completions", &completion("still here", 2, 1)).status, 200);
}

#[test]
fn api_key_is_required_when_set() {
    let cfg = server::ServerConfig { api_key: Some("sekrit".into()), ..server_config() };
    let Some(srv) = start(cfg, engine_config()) else { return };
    let a = srv.addr;
    let e = get(a, "/v1/models").expect_error(401);
    assert_eq!(e["code"], "invalid_api_key");
    send(a, "GET", "/v1/models", &[("Authorization", "Bearer wrong!")], b"").expect_error(401);
    send(a, "GET", "/health", &[("Authorization", "sekrit")], b"").expect_error(401);
    let ok = send(a, "GET", "/v1/models", &[("Authorization", "Bearer sekrit")], b"");
    assert_eq!(ok.status, 200);
    let body = completion("k", 2, 1).to_string();
    let r = send(a, "POST", "/v1/completions", &[("Authorization", "Bearer sekrit")], body.as_bytes());
    assert_eq!(r.status, 200);
}

#[test]
fn a_full_queue_answers_429() {
    let mut ecfg = engine_config();
    ecfg.max_batch = 1;
    ecfg.max_queue = 1;
    let Some(srv) = start(server_config(), ecfg) else { return };
    let mut long = completion("long one", 5000, 1);
    long["stream"] = json!(true);
    let (mut running, got) = open_stream(srv.addr, "/v1/completions", &long);
    let _ = read_events(&mut running, got, 1);
    let (_queued, _) = open_stream(srv.addr, "/v1/completions", &long);
    eventually("one request queued", || srv.engine.metrics().queued == 1);
    let r = post(srv.addr, "/v1/completions", &completion("no room", 2, 1));
    let e = r.expect_error(429);
    assert_eq!(e["code"], "queue_full");
    assert_eq!(r.header("retry-after"), Some("1"));
}

#[test]
fn a_client_that_hangs_up_frees_its_slot() {
    let mut ecfg = engine_config();
    ecfg.max_batch = 1;
    let Some(srv) = start(server_config(), ecfg) else { return };
    for path in ["/v1/completions", "/v1/chat/completions"] {
        let mut body = if path.contains("chat") { chat("go on", 5000, 1) } else { completion("go on", 5000, 1) };
        body["stream"] = json!(true);
        body["stop"] = json!("\u{1}");
        let (mut s, got) = open_stream(srv.addr, path, &body);
        let got = read_events(&mut s, got, 3);
        assert!(String::from_utf8_lossy(&got).matches("data:").count() >= 3);
        drop(s);
        eventually("the abandoned request to leave the batch", || {
            let m = srv.engine.metrics();
            m.active == 0 && m.queued == 0
        });
        // With one slot, this only completes because the slot was freed.
        assert_eq!(post(srv.addr, "/v1/completions", &completion("next", 2, 1)).status, 200);
    }
    let m = srv.engine.metrics();
    assert_eq!(m.requests_cancelled, 2, "{m:?}");
    assert!(m.generated_tokens < 2 * 5000);
    // A non-streaming client that hangs up is noticed too.
    let before = srv.engine.metrics();
    let mut s = connect(srv.addr);
    let body = completion("quietly", 5000, 1).to_string();
    let head = format!("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    s.write_all(head.as_bytes()).unwrap();
    eventually("the request to generate", || {
        let m = srv.engine.metrics();
        m.requests_submitted > before.requests_submitted && m.generated_tokens > before.generated_tokens + 2
    });
    drop(s);
    eventually("the request to be cancelled", || srv.engine.metrics().requests_cancelled == 3);
}

#[test]
fn concurrent_streams_equal_solo_answers() {
    // The load test: 64 concurrent streaming clients, each answer complete and identical to
    // the same request run alone (throughput is measured by examples/load_test.rs, not asserted).
    const CLIENTS: u64 = 64;
    let engine = EngineConfig { max_batch: 16, max_queue: CLIENTS as usize, ..engine_config() };
    let Some(srv) = start(server_config(), engine) else { return };
    let bodies: Vec<Value> = (0..CLIENTS)
        .map(|i| {
            let mut b = if i % 2 == 0 { chat(&format!("Question number {i}"), 10, i) } else { completion(&format!("Shared prefix, then {i}"), 10, i) };
            b["stream"] = json!(true);
            b
        })
        .collect();
    let solo: Vec<String> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let path = if i % 2 == 0 { "/v1/chat/completions" } else { "/v1/completions" };
            streamed_text(&post(srv.addr, path, b).sse(), i % 2 == 0).0
        })
        .collect();
    let addr = srv.addr;
    let threads: Vec<_> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            std::thread::spawn(move || {
                let path = if i % 2 == 0 { "/v1/chat/completions" } else { "/v1/completions" };
                streamed_text(&post(addr, path, &b).sse(), i % 2 == 0).0
            })
        })
        .collect();
    let together: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(together.len() as u64, CLIENTS);
    assert_eq!(together, solo);
    let m = srv.engine.metrics();
    assert!(m.batch_sequences > m.steps, "requests were batched: {m:?}");
}
