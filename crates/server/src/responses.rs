//! OpenAI's response and stream-chunk JSON for completions and chat completions.

use serde_json::{json, Value};
use tokenizer::Tokenizer;

use engine::{Completion, Finish, TokenLogprob, Usage};

/// Which endpoint a response belongs to (they differ in object names and choice shape).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Completion,
    Chat,
}

/// Fields every response and chunk of one request shares.
pub struct Meta<'a> {
    pub kind: Kind,
    pub id: &'a str,
    pub created: u64,
    pub model: &'a str,
}

pub fn usage_json(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.prompt_tokens + u.completion_tokens,
        "prompt_tokens_details": { "cached_tokens": u.cached_tokens },
    })
}

fn token_text(tok: &Tokenizer, id: u32) -> String {
    String::from_utf8_lossy(tok.token_bytes(id).unwrap_or(&[])).into_owned()
}

/// Chat `logprobs.content` entries for some tokens.
fn chat_logprobs(tok: &Tokenizer, tokens: &[u32], lps: &[TokenLogprob]) -> Value {
    let entry = |id: u32, lp: f32| {
        let bytes = tok.token_bytes(id).unwrap_or(&[]).to_vec();
        json!({ "token": token_text(tok, id), "logprob": lp, "bytes": bytes })
    };
    let content: Vec<Value> = tokens
        .iter()
        .zip(lps)
        .map(|(&id, l)| {
            let mut e = entry(id, l.logprob);
            e["top_logprobs"] = l.top.iter().map(|&(t, lp)| entry(t, lp)).collect();
            e
        })
        .collect();
    json!({ "content": content })
}

/// Legacy completions `logprobs` for some tokens; `offset` is the text offset of the first one.
fn completion_logprobs(tok: &Tokenizer, tokens: &[u32], lps: &[TokenLogprob], mut offset: usize) -> Value {
    let mut texts = Vec::new();
    let mut offsets = Vec::new();
    for &id in tokens {
        let t = token_text(tok, id);
        offsets.push(offset);
        offset += t.len();
        texts.push(t);
    }
    let top: Vec<Value> = lps
        .iter()
        .map(|l| {
            let mut m = serde_json::Map::new();
            for &(t, lp) in &l.top {
                m.insert(token_text(tok, t), json!(lp));
            }
            Value::Object(m)
        })
        .collect();
    json!({
        "tokens": texts,
        "token_logprobs": lps.iter().map(|l| l.logprob).collect::<Vec<_>>(),
        "top_logprobs": top,
        "text_offset": offsets,
    })
}

fn logprobs_json(meta: &Meta, tok: &Tokenizer, tokens: &[u32], lps: &[TokenLogprob], offset: usize) -> Value {
    match meta.kind {
        Kind::Chat => chat_logprobs(tok, tokens, lps),
        Kind::Completion => completion_logprobs(tok, tokens, lps, offset),
    }
}

/// The whole (non-streamed) response for the finished choices.
pub fn full_response(meta: &Meta, tok: &Tokenizer, choices: &[Completion], echo: Option<&[String]>, per_prompt: usize, logprobs: bool) -> Value {
    let mut usage = Usage::default();
    let items: Vec<Value> = choices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            usage.completion_tokens += c.usage.completion_tokens;
            if i % per_prompt == 0 {
                usage.prompt_tokens += c.usage.prompt_tokens;
                usage.cached_tokens += c.usage.cached_tokens;
            }
            let prefix = echo.map_or(String::new(), |e| e[i / per_prompt].clone());
            let lp = if logprobs { logprobs_json(meta, tok, &c.tokens, &c.logprobs, prefix.len()) } else { Value::Null };
            match meta.kind {
                Kind::Chat => json!({
                    "index": i,
                    "message": { "role": "assistant", "content": c.text },
                    "logprobs": lp,
                    "finish_reason": c.finish.as_openai(),
                }),
                Kind::Completion => json!({
                    "index": i,
                    "text": prefix + &c.text,
                    "logprobs": lp,
                    "finish_reason": c.finish.as_openai(),
                }),
            }
        })
        .collect();
    json!({
        "id": meta.id,
        "object": match meta.kind { Kind::Chat => "chat.completion", Kind::Completion => "text_completion" },
        "created": meta.created,
        "model": meta.model,
        "system_fingerprint": Value::Null,
        "choices": items,
        "usage": usage_json(&usage),
    })
}

fn chunk(meta: &Meta, choices: Vec<Value>, usage: Option<&Usage>) -> Value {
    let mut v = json!({
        "id": meta.id,
        "object": match meta.kind { Kind::Chat => "chat.completion.chunk", Kind::Completion => "text_completion" },
        "created": meta.created,
        "model": meta.model,
        "system_fingerprint": Value::Null,
        "choices": choices,
    });
    if let Some(u) = usage {
        v["usage"] = usage_json(u);
    }
    v
}

/// The first chunk of a chat choice: the assistant role with empty content.
pub fn role_chunk(meta: &Meta, index: usize) -> Value {
    let choice = json!({ "index": index, "delta": { "role": "assistant", "content": "" }, "logprobs": Value::Null, "finish_reason": Value::Null });
    chunk(meta, vec![choice], None)
}

/// A chunk with new text (and its token's log-probability when asked for).
pub fn text_chunk(meta: &Meta, tok: &Tokenizer, index: usize, text: &str, token: Option<(u32, &TokenLogprob)>, offset: usize) -> Value {
    let lp = token.map_or(Value::Null, |(id, l)| logprobs_json(meta, tok, &[id], std::slice::from_ref(l), offset));
    let choice = match meta.kind {
        Kind::Chat => json!({ "index": index, "delta": { "content": text }, "logprobs": lp, "finish_reason": Value::Null }),
        Kind::Completion => json!({ "index": index, "text": text, "logprobs": lp, "finish_reason": Value::Null }),
    };
    chunk(meta, vec![choice], None)
}

/// The last chunk of a choice: its finish reason (and any text released at the end).
pub fn finish_chunk(meta: &Meta, index: usize, finish: Finish, text: &str) -> Value {
    let choice = match meta.kind {
        Kind::Chat => {
            let delta = if text.is_empty() { json!({}) } else { json!({ "content": text }) };
            json!({ "index": index, "delta": delta, "logprobs": Value::Null, "finish_reason": finish.as_openai() })
        }
        Kind::Completion => json!({ "index": index, "text": text, "logprobs": Value::Null, "finish_reason": finish.as_openai() }),
    };
    chunk(meta, vec![choice], None)
}

/// The usage chunk sent before `[DONE]` when `stream_options.include_usage` is set.
pub fn usage_chunk(meta: &Meta, usage: &Usage) -> Value {
    chunk(meta, vec![], Some(usage))
}
