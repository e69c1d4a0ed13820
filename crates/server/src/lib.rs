//! server: an OpenAI-compatible HTTP API (axum) over an aviary [`Engine`].
//!
//! Endpoints: `GET /v1/models`, `GET /v1/models/{id}`, `POST /v1/completions`,
//! `POST /v1/chat/completions` (RWKV G1 chat format; `stream: true` as server-sent events),
//! `GET /health`, `GET /metrics` (Prometheus text). Handlers are thin: parameters are checked in
//! `params`, every failure is an [`ApiError`] turned into OpenAI's error body in one place (`error`).
//!
//! Out of scope: TLS (put a proxy in front), embeddings, tools/function calling, images, and more than
//! one model per server.

mod chat;
mod error;
mod handlers;
mod params;
mod prometheus;
mod responses;
mod stream;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use engine::Engine;
use tokenizer::Tokenizer;

pub use chat::{format_chat, ChatTurn};
pub use error::ApiError;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    /// When set, every request needs `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    /// The name clients pass as `model` (others get 404).
    pub model_id: String,
    pub max_body_bytes: usize,
    /// The largest `max_tokens` a request may ask for.
    pub max_tokens_limit: usize,
    /// `max_tokens` of a chat request that gives none.
    pub default_max_tokens: usize,
    pub max_prompt_tokens: usize,
    /// The largest `n` (choices per prompt).
    pub max_n: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".into(),
            port: 8080,
            api_key: None,
            model_id: "rwkv".into(),
            max_body_bytes: 1 << 20,
            max_tokens_limit: 4096,
            default_max_tokens: 512,
            max_prompt_tokens: 32768,
            max_n: 8,
        }
    }
}

/// What every handler sees.
#[derive(Clone)]
pub struct AppState {
    engine: Arc<Engine>,
    cfg: Arc<ServerConfig>,
    tokenizer: Arc<Tokenizer>,
    http: Arc<prometheus::HttpCounters>,
    created: u64,
    ids: Arc<AtomicU64>,
}

impl AppState {
    fn next_id(&self, kind: responses::Kind) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        let prefix = match kind {
            responses::Kind::Chat => "chatcmpl",
            responses::Kind::Completion => "cmpl",
        };
        format!("{prefix}-{:x}{n:06x}", self.created)
    }
}

fn unix_time() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The application: routes, the API-key guard, the body limit and the error fallbacks.
pub fn router(engine: Arc<Engine>, cfg: ServerConfig) -> Result<Router, ApiError> {
    let tokenizer = engine
        .tokenizer()
        .cloned()
        .ok_or_else(|| ApiError::Startup("the model has no tokenizer (tokenizer.ggml.tokens); the API needs one".into()))?;
    let limit = cfg.max_body_bytes;
    let state = AppState {
        engine,
        cfg: Arc::new(cfg),
        tokenizer,
        http: Arc::default(),
        created: unix_time(),
        ids: Arc::default(),
    };
    Ok(Router::new()
        .route("/health", get(handlers::health))
        .route("/metrics", get(handlers::metrics))
        .route("/v1/models", get(handlers::models))
        .route("/v1/models/{id}", get(handlers::model))
        .route("/v1/completions", post(handlers::completions))
        .route("/v1/chat/completions", post(handlers::chat))
        .fallback(handlers::unknown_route)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), handlers::guard))
        .with_state(state))
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// Runs the server on its own runtime until Ctrl-C (or SIGTERM), then drains the engine.
/// `on_ready` gets the bound address (useful with port 0).
pub fn run_blocking(engine: Arc<Engine>, cfg: ServerConfig, on_ready: impl FnOnce(SocketAddr)) -> Result<(), ApiError> {
    let startup = |what: &str, e: std::io::Error| ApiError::Startup(format!("{what}: {e}"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("aviary-http")
        .build()
        .map_err(|e| startup("tokio runtime", e))?;
    let addr = format!("{}:{}", cfg.host, cfg.port);
    let app = router(Arc::clone(&engine), cfg)?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|e| startup(&format!("binding {addr}"), e))?;
        on_ready(listener.local_addr().map_err(|e| startup("local address", e))?);
        serve(listener, app, shutdown_signal()).await.map_err(|e| startup("serving", e))
    })?;
    // The HTTP side has stopped taking requests; let the engine finish what it holds.
    engine.shutdown();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    futures_util::pin_mut!(ctrl_c, term);
    futures_util::future::select(ctrl_c, term).await;
}
