//! OpenAI request bodies: parsing, range checks with the parameter named, and the engine requests
//! they turn into (one per prompt and choice).

use serde::Deserialize;

use crate::chat::{format_chat, ChatTurn};
use crate::error::ApiError;
use crate::ServerConfig;
use engine::{Request, SamplerConfig};
use tokenizer::Tokenizer;

/// The sampling and stopping fields both endpoints share.
#[derive(Deserialize, Default)]
pub struct Common {
    pub model: Option<String>,
    max_tokens: Option<i64>,
    max_completion_tokens: Option<i64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<i64>,
    min_p: Option<f64>,
    seed: Option<i64>,
    stop: Option<Stop>,
    presence_penalty: Option<f64>,
    frequency_penalty: Option<f64>,
    n: Option<i64>,
    #[serde(default)]
    pub stream: bool,
    stream_options: Option<StreamOptions>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Deserialize)]
pub struct CompletionBody {
    prompt: Prompt,
    logprobs: Option<i64>,
    #[serde(default)]
    echo: bool,
    #[serde(flatten)]
    pub common: Common,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Prompt {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<i64>),
    TokenLists(Vec<Vec<i64>>),
}

#[derive(Deserialize)]
pub struct ChatBody {
    messages: Vec<Message>,
    #[serde(default)]
    logprobs: bool,
    top_logprobs: Option<i64>,
    #[serde(flatten)]
    pub common: Common,
}

#[derive(Deserialize)]
struct Message {
    role: String,
    content: Option<Content>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

/// What a request asks for, ready to submit.
pub struct Plan {
    /// One engine request per prompt and choice, in choice-index order.
    pub requests: Vec<Request>,
    pub stream: bool,
    pub include_usage: bool,
    pub logprobs: bool,
    /// Choices per prompt (`n`).
    pub n_per_prompt: usize,
    /// Completions with `echo`: the prompt text, to put before each choice's text.
    pub echo: Option<Vec<String>>,
}

/// Parses a JSON body; a syntax or type error is a 400 that quotes serde's description.
pub fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))
}

impl CompletionBody {
    pub fn plan(self, cfg: &ServerConfig, tok: &Tokenizer) -> Result<Plan, ApiError> {
        let prompts: Vec<Vec<u32>> = match self.prompt {
            Prompt::Text(t) => vec![encode(tok, &t, "prompt")?],
            Prompt::Texts(ts) => ts.iter().map(|t| encode(tok, t, "prompt")).collect::<Result<_, _>>()?,
            Prompt::Tokens(ids) => vec![token_ids(&ids, tok.vocab_size())?],
            Prompt::TokenLists(lists) => lists.iter().map(|l| token_ids(l, tok.vocab_size())).collect::<Result<_, _>>()?,
        };
        if prompts.is_empty() {
            return Err(ApiError::bad_param("prompt", "prompt is an empty list"));
        }
        let top = match self.logprobs {
            None => None,
            Some(n) => Some(range("logprobs", n, 0, 20)? as usize),
        };
        let echo = self.echo.then(|| prompts.iter().map(|p| tok.decode_lossy(p).unwrap_or_default()).collect());
        let mut plan = self.common.plan(cfg, prompts, 16, vec![0], vec![], top)?;
        plan.echo = echo;
        Ok(plan)
    }
}

impl ChatBody {
    pub fn plan(self, cfg: &ServerConfig, tok: &Tokenizer) -> Result<Plan, ApiError> {
        let turns = self
            .messages
            .into_iter()
            .enumerate()
            .map(|(i, m)| Ok(ChatTurn { role: m.role, text: content_text(m.content, i)? }))
            .collect::<Result<Vec<_>, ApiError>>()?;
        let prompt = encode(tok, &format_chat(&turns)?, "messages")?;
        let top = match (self.logprobs, self.top_logprobs) {
            (false, None) => None,
            (false, Some(_)) => return Err(ApiError::bad_param("top_logprobs", "top_logprobs needs logprobs: true")),
            (true, n) => Some(range("top_logprobs", n.unwrap_or(0), 0, 20)? as usize),
        };
        // The chat format ends a turn with "\n\n" (spec §6.5).
        self.common.plan(cfg, vec![prompt], cfg.default_max_tokens, vec![0], vec!["\n\n".into()], top)
    }
}

impl Common {
    fn plan(
        self,
        cfg: &ServerConfig,
        prompts: Vec<Vec<u32>>,
        default_max_tokens: usize,
        stop_tokens: Vec<u32>,
        mut stop_strings: Vec<String>,
        logprobs: Option<usize>,
    ) -> Result<Plan, ApiError> {
        let max_tokens = match (self.max_completion_tokens, self.max_tokens) {
            (Some(n), _) => range("max_completion_tokens", n, 1, cfg.max_tokens_limit as i64)? as usize,
            (None, Some(n)) => range("max_tokens", n, 1, cfg.max_tokens_limit as i64)? as usize,
            (None, None) => default_max_tokens.min(cfg.max_tokens_limit),
        };
        let n = range("n", self.n.unwrap_or(1), 1, cfg.max_n as i64)? as usize;
        let temperature = self.temperature.unwrap_or(1.0);
        if !(0.0..=2.0).contains(&temperature) {
            return Err(ApiError::bad_param("temperature", format!("temperature is {temperature}, expected 0 to 2")));
        }
        let top_p = self.top_p.unwrap_or(1.0);
        if !(top_p > 0.0 && top_p <= 1.0) {
            return Err(ApiError::bad_param("top_p", format!("top_p is {top_p}, expected 0 < top_p <= 1")));
        }
        let min_p = self.min_p.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&min_p) {
            return Err(ApiError::bad_param("min_p", format!("min_p is {min_p}, expected 0 to 1")));
        }
        let top_k = range("top_k", self.top_k.unwrap_or(0), 0, i64::from(u32::MAX))? as usize;
        let penalty = |name: &str, v: Option<f64>| {
            let v = v.unwrap_or(0.0);
            if (-2.0..=2.0).contains(&v) {
                Ok(v as f32)
            } else {
                Err(ApiError::bad_param(name, format!("{name} is {v}, expected -2 to 2")))
            }
        };
        let presence_penalty = penalty("presence_penalty", self.presence_penalty)?;
        let frequency_penalty = penalty("frequency_penalty", self.frequency_penalty)?;
        let user_stops = match self.stop {
            None => vec![],
            Some(Stop::One(s)) => vec![s],
            Some(Stop::Many(v)) => v,
        };
        if user_stops.len() > 4 {
            return Err(ApiError::bad_param("stop", format!("stop has {} strings, at most 4 are allowed", user_stops.len())));
        }
        if user_stops.iter().any(String::is_empty) {
            return Err(ApiError::bad_param("stop", "stop strings must not be empty"));
        }
        stop_strings.extend(user_stops);
        for p in &prompts {
            if p.is_empty() {
                return Err(ApiError::bad_param("prompt", "the prompt is empty"));
            }
            if p.len() > cfg.max_prompt_tokens {
                return Err(ApiError::bad_param(
                    "prompt",
                    format!("the prompt has {} tokens, the limit is {}", p.len(), cfg.max_prompt_tokens),
                ));
            }
        }
        let base_seed = self.seed.map(|s| s as u64).unwrap_or_else(random_seed);
        let mut requests = Vec::with_capacity(prompts.len() * n);
        for prompt in prompts {
            for choice in 0..n {
                requests.push(Request {
                    prompt: prompt.clone(),
                    sampler: SamplerConfig {
                        temperature: temperature as f32,
                        top_k,
                        top_p: top_p as f32,
                        min_p: min_p as f32,
                        presence_penalty,
                        frequency_penalty,
                        penalty_decay: 1.0,
                        seed: base_seed.wrapping_add(choice as u64),
                    },
                    max_tokens,
                    stop_tokens: stop_tokens.clone(),
                    stop_strings: stop_strings.clone(),
                    logprobs,
                    use_cache: true,
                });
            }
        }
        Ok(Plan {
            requests,
            stream: self.stream,
            include_usage: self.stream_options.is_some_and(|o| o.include_usage),
            logprobs: logprobs.is_some(),
            n_per_prompt: n,
            echo: None,
        })
    }
}

fn range(name: &str, v: i64, lo: i64, hi: i64) -> Result<i64, ApiError> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(ApiError::bad_param(name, format!("{name} is {v}, expected {lo} to {hi}")))
    }
}

fn encode(tok: &Tokenizer, text: &str, param: &str) -> Result<Vec<u32>, ApiError> {
    if text.is_empty() {
        return Err(ApiError::bad_param(param, format!("{param} is empty")));
    }
    tok.encode(text).map_err(|e| ApiError::bad_param(param, format!("{param} cannot be tokenized: {e}")))
}

fn token_ids(ids: &[i64], n_vocab: usize) -> Result<Vec<u32>, ApiError> {
    ids.iter()
        .map(|&t| {
            u32::try_from(t).ok().filter(|&t| (t as usize) < n_vocab).ok_or_else(|| {
                ApiError::bad_param("prompt", format!("token id {t} is out of range (vocabulary has {n_vocab} tokens)"))
            })
        })
        .collect()
}

fn content_text(content: Option<Content>, i: usize) -> Result<String, ApiError> {
    match content {
        None => Ok(String::new()),
        Some(Content::Text(t)) => Ok(t),
        Some(Content::Parts(parts)) => parts
            .into_iter()
            .map(|p| match (p.kind.as_str(), p.text) {
                ("text", Some(t)) => Ok(t),
                (kind, _) => Err(ApiError::bad_param(
                    &format!("messages[{i}].content"),
                    format!("messages[{i}].content has a '{kind}' part; only text parts are supported"),
                )),
            })
            .collect(),
    }
}

/// A seed for requests that give none: different per request, printed nowhere (clients that want
/// reproducible output pass `seed`).
fn random_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mut x = nanos ^ COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    // SplitMix64 finaliser, so consecutive requests get unrelated seeds.
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
