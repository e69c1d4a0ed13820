//! A server on 127.0.0.1 port 0 around a fixture model, and a tiny HTTP/1.1 client over std's
//! TcpStream (raw, so tests can send broken bodies, read SSE incrementally and hang up mid-stream).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use engine::{CacheConfig, Engine, EngineConfig};
use gguf::GgufFile;
use model::Rwkv7Runner;
use serde_json::Value;
use server::ServerConfig;
use tokenizer::Tokenizer;

pub const MODEL: &str = "synth-tiny-k-F32.gguf";

pub struct TestServer {
    pub addr: SocketAddr,
    pub engine: Arc<Engine>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.engine.abort();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn engine_config() -> EngineConfig {
    EngineConfig { max_batch: 8, max_queue: 32, prefill_chunk: 16, prefill_budget: 64, cache: Some(CacheConfig::default()) }
}

pub fn server_config() -> ServerConfig {
    ServerConfig { port: 0, model_id: "tiny".into(), max_tokens_limit: 5000, ..ServerConfig::default() }
}

/// Starts a server, or `None` (after a loud message) when the fixture is missing outside CI.
pub fn start(cfg: ServerConfig, ecfg: EngineConfig) -> Option<TestServer> {
    let path = testkit::fixture(MODEL)?;
    let file = Arc::new(GgufFile::open(&path).expect("open fixture"));
    let tokens = file.get_str_array("tokenizer.ggml.tokens").unwrap().expect("fixture has a vocabulary");
    let types = file.get_i64_array("tokenizer.ggml.token_type").unwrap();
    let tok = Arc::new(Tokenizer::from_gguf_tokens(&tokens, types.as_deref()).unwrap());
    let model = Rwkv7Runner::load(file, cpu::CpuBackend::new(1).unwrap()).unwrap();
    let engine = Arc::new(Engine::start(Box::new(model), Some(tok), ecfg).unwrap());
    let app = server::router(Arc::clone(&engine), cfg).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            server::serve(listener, app, async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
    });
    let addr = addr_rx.recv().unwrap();
    Some(TestServer { addr, engine, stop: Some(tx), thread: Some(thread) })
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("status {} body is not JSON ({e}): {}", self.status, String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The `data:` payloads of an SSE body.
    pub fn sse(&self) -> Vec<String> {
        sse_data(&String::from_utf8_lossy(&self.body))
    }

    /// Asserts an OpenAI error body with this status; returns the `error` object.
    pub fn expect_error(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", String::from_utf8_lossy(&self.body));
        let v = self.json();
        let e = v["error"].clone();
        for key in ["message", "type", "param", "code"] {
            assert!(e.get(key).is_some(), "error body lacks '{key}': {v}");
        }
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
        e
    }
}

pub fn sse_data(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|event| event.lines().find_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:"))))
        .map(str::to_string)
        .collect()
}

fn request_bytes(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    s
}

pub fn send(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut s = connect(addr);
    s.write_all(&request_bytes(addr, method, path, headers, body)).expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read reply");
    parse_reply(&raw)
}

pub fn get(addr: SocketAddr, path: &str) -> Reply {
    send(addr, "GET", path, &[], b"")
}

pub fn post(addr: SocketAddr, path: &str, body: &Value) -> Reply {
    send(addr, "POST", path, &[("Content-Type", "application/json")], body.to_string().as_bytes())
}

/// Opens a streaming request and returns the socket once the response head has arrived, plus the bytes
/// read so far.
pub fn open_stream(addr: SocketAddr, path: &str, body: &Value) -> (TcpStream, Vec<u8>) {
    let mut s = connect(addr);
    s.write_all(&request_bytes(addr, "POST", path, &[("Content-Type", "application/json")], body.to_string().as_bytes()))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed before the response head");
        got.extend_from_slice(&buf[..n]);
    }
    (s, got)
}

/// Reads from a stream until `n` SSE data events have arrived (or EOF); returns everything read.
pub fn read_events(s: &mut TcpStream, mut got: Vec<u8>, n: usize) -> Vec<u8> {
    let mut buf = [0u8; 4096];
    while String::from_utf8_lossy(&got).matches("data:").count() < n {
        let k = s.read(&mut buf).unwrap();
        if k == 0 {
            break;
        }
        got.extend_from_slice(&buf[..k]);
    }
    got
}

pub fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status code");
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    let rest = &raw[split + 4..];
    let chunked = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked { dechunk(rest) } else { rest.to_vec() };
    Reply { status, headers, body }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&raw[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
    }
    out
}

/// Polls until `f` holds (engine state changes land a step or two after the client acts).
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..600 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for: {what}");
}
