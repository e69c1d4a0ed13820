//! Streaming answers: engine events become OpenAI chunks as server-sent events, ending `data: [DONE]`.
//!
//! The SSE body owns the requests' handles, so a client that disconnects drops the body and with it
//! the handles, which cancels the requests and frees their batch slots.

use std::convert::Infallible;
use std::sync::Arc;

use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, BoxStream, SelectAll, StreamExt};
use serde_json::Value;
use tokenizer::Tokenizer;

use crate::error::ApiError;
use crate::responses::{finish_chunk, role_chunk, text_chunk, usage_chunk, Kind, Meta};
use engine::{Event, RequestHandle, Usage};

pub struct StreamSpec {
    pub kind: Kind,
    pub id: String,
    pub created: u64,
    pub model: String,
    pub tokenizer: Arc<Tokenizer>,
    pub include_usage: bool,
    pub logprobs: bool,
    /// Choices per prompt (`n`), to count each prompt's tokens once in the usage.
    pub per_prompt: usize,
    pub echo: Option<Vec<String>>,
}

struct State {
    spec: StreamSpec,
    events: SelectAll<BoxStream<'static, (usize, Event)>>,
    /// Text offset per choice (for completions' `text_offset`).
    offsets: Vec<usize>,
    remaining: usize,
    usage: Usage,
    started: bool,
    over: bool,
}

pub fn sse_response(spec: StreamSpec, handles: Vec<RequestHandle>) -> Response {
    let n = handles.len();
    let events = stream::select_all(handles.into_iter().enumerate().map(|(i, h)| {
        stream::unfold(h, move |mut h| async move { h.next().await.map(|e| ((i, e), h)) }).boxed()
    }));
    let state = State { spec, events, offsets: vec![0; n], remaining: n, usage: Usage::default(), started: false, over: false };
    let body = stream::unfold(state, |mut s| async move {
        if s.over {
            return None;
        }
        let out = s.advance().await;
        Some((out, s))
    })
    .flat_map(stream::iter)
    .map(Ok::<_, Infallible>);
    Sse::new(body).into_response()
}

fn data(v: &Value) -> SseEvent {
    SseEvent::default().data(v.to_string())
}

impl State {
    fn meta(&self) -> Meta<'_> {
        Meta { kind: self.spec.kind, id: &self.spec.id, created: self.spec.created, model: &self.spec.model }
    }

    /// The SSE events for the next thing that happened.
    async fn advance(&mut self) -> Vec<SseEvent> {
        if !self.started {
            self.started = true;
            return self.opening();
        }
        let mut out = Vec::new();
        match self.events.next().await {
            Some((i, Event::Token(t))) => {
                let lp = if self.spec.logprobs { t.logprob.as_ref().map(|l| (t.token, l)) } else { None };
                if !t.text.is_empty() || lp.is_some() {
                    let chunk = text_chunk(&self.meta(), &self.spec.tokenizer, i, &t.text, lp, self.offsets[i]);
                    out.push(data(&chunk));
                }
                self.offsets[i] += t.text.len();
            }
            Some((i, Event::Done { finish, usage, text })) => {
                out.push(data(&finish_chunk(&self.meta(), i, finish, &text)));
                self.usage.completion_tokens += usage.completion_tokens;
                if i % self.spec.per_prompt == 0 {
                    self.usage.prompt_tokens += usage.prompt_tokens;
                    self.usage.cached_tokens += usage.cached_tokens;
                }
                self.remaining -= 1;
                if self.remaining == 0 {
                    if self.spec.include_usage {
                        out.push(data(&usage_chunk(&self.meta(), &self.usage)));
                    }
                    out.push(SseEvent::default().data("[DONE]"));
                    self.over = true;
                }
            }
            Some((_, Event::Failed(message))) => out.extend(self.fail(ApiError::Internal(message))),
            None => out.extend(self.fail(ApiError::Internal("the engine stopped before the request finished".into()))),
        }
        out
    }

    fn opening(&mut self) -> Vec<SseEvent> {
        let n = self.offsets.len();
        match (&self.spec.kind, &self.spec.echo) {
            (Kind::Chat, _) => (0..n).map(|i| data(&role_chunk(&self.meta(), i))).collect(),
            (Kind::Completion, Some(echo)) => {
                let echo = echo.clone();
                (0..n)
                    .map(|i| {
                        let text = &echo[i / self.spec.per_prompt];
                        self.offsets[i] = text.len();
                        data(&text_chunk(&self.meta(), &self.spec.tokenizer, i, text, None, 0))
                    })
                    .collect()
            }
            (Kind::Completion, None) => vec![],
        }
    }

    fn fail(&mut self, e: ApiError) -> Vec<SseEvent> {
        self.over = true;
        vec![data(&e.body()), SseEvent::default().data("[DONE]")]
    }
}
