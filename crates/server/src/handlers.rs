//! Thin HTTP handlers: parse, submit to the engine, shape the answer. Failures are `ApiError`s.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::future::join_all;
use serde_json::json;

use crate::error::ApiError;
use crate::params::{parse_json, ChatBody, Common, CompletionBody, Plan};
use crate::prometheus;
use crate::responses::{full_response, Kind, Meta};
use crate::stream::{sse_response, StreamSpec};
use crate::AppState;

fn json_response(v: serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

/// The body bytes, with a too-large body answered 413.
fn body_bytes(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    body.map_err(|r| match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit },
        _ => ApiError::bad(format!("could not read the request body: {}", r.body_text())),
    })
}

pub async fn health(State(app): State<AppState>) -> Response {
    let m = app.engine.metrics();
    json_response(json!({ "status": "ok", "model": app.cfg.model_id, "active": m.active, "queued": m.queued }))
}

pub async fn models(State(app): State<AppState>) -> Response {
    json_response(json!({ "object": "list", "data": [model_json(&app)] }))
}

pub async fn model(State(app): State<AppState>, axum::extract::Path(id): axum::extract::Path<String>) -> Result<Response, ApiError> {
    if id != app.cfg.model_id {
        return Err(ApiError::ModelNotFound(id));
    }
    Ok(json_response(model_json(&app)))
}

fn model_json(app: &AppState) -> serde_json::Value {
    json!({ "id": app.cfg.model_id, "object": "model", "created": app.created, "owned_by": "aviary" })
}

pub async fn metrics(State(app): State<AppState>) -> Response {
    let text = prometheus::render(&app.engine.metrics(), &app.http);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

pub async fn completions(State(app): State<AppState>, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let body = body_bytes(body, app.cfg.max_body_bytes)?;
    let req: CompletionBody = parse_json(&body)?;
    check_model(&app, &req.common)?;
    let plan = req.plan(&app.cfg, &app.tokenizer)?;
    run(app, Kind::Completion, plan).await
}

pub async fn chat(State(app): State<AppState>, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let body = body_bytes(body, app.cfg.max_body_bytes)?;
    let req: ChatBody = parse_json(&body)?;
    check_model(&app, &req.common)?;
    let plan = req.plan(&app.cfg, &app.tokenizer)?;
    run(app, Kind::Chat, plan).await
}

fn check_model(app: &AppState, common: &Common) -> Result<(), ApiError> {
    match &common.model {
        Some(m) if *m != app.cfg.model_id => Err(ApiError::ModelNotFound(m.clone())),
        _ => Ok(()),
    }
}

/// Submits every choice, then answers with one JSON body or a stream.
async fn run(app: AppState, kind: Kind, plan: Plan) -> Result<Response, ApiError> {
    let per_prompt = plan.n_per_prompt;
    // If any submission fails, dropping the handles already made cancels those requests.
    let handles = plan.requests.into_iter().map(|r| app.engine.submit(r)).collect::<Result<Vec<_>, _>>()?;
    let id = app.next_id(kind);
    let created = crate::unix_time();
    if plan.stream {
        let spec = StreamSpec {
            kind,
            id,
            created,
            model: app.cfg.model_id.clone(),
            tokenizer: Arc::clone(&app.tokenizer),
            include_usage: plan.include_usage,
            logprobs: plan.logprobs,
            per_prompt,
            echo: plan.echo,
        };
        return Ok(sse_response(spec, handles));
    }
    let results = join_all(handles.into_iter().map(|h| h.collect())).await;
    let choices = results.into_iter().collect::<Result<Vec<_>, _>>().map_err(ApiError::Internal)?;
    let meta = Meta { kind, id: &id, created, model: &app.cfg.model_id };
    Ok(json_response(full_response(&meta, &app.tokenizer, &choices, plan.echo.as_deref(), per_prompt, plan.logprobs)))
}

pub async fn unknown_route(req: Request) -> ApiError {
    ApiError::UnknownRoute { method: req.method().to_string(), path: req.uri().path().to_string() }
}

pub async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::MethodNotAllowed { method: req.method().to_string(), path: req.uri().path().to_string() }
}

/// Checks `Authorization: Bearer <key>` when the server has a key, refuses a body whose declared
/// length is over the limit before reading it, and counts responses by status.
pub async fn guard(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let limit = app.cfg.max_body_bytes;
    let response = match &app.cfg.api_key {
        Some(key) if !bearer_matches(&req, key) => ApiError::Unauthorized.into_response(),
        _ if declared.is_some_and(|n| n > limit as u64) => ApiError::PayloadTooLarge { limit }.into_response(),
        _ => next.run(req).await,
    };
    app.http.record(response.status().as_u16());
    response
}

fn bearer_matches(req: &Request, key: &str) -> bool {
    let Some(value) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return false };
    let Some(given) = value.strip_prefix("Bearer ") else { return false };
    // Compare every byte, so the time taken does not tell how much of a guess was right.
    given.len() == key.len() && given.bytes().zip(key.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}
