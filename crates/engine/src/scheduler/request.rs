//! What a client submits to the engine and what it gets back.

use tokio::sync::mpsc::UnboundedReceiver;

use crate::SamplerConfig;

/// One generation: a prompt (token ids), how to sample, and when to stop.
#[derive(Clone, Debug)]
pub struct Request {
    pub prompt: Vec<u32>,
    pub sampler: SamplerConfig,
    /// Tokens to generate at most (0 is allowed: only the prompt is processed, e.g. to warm the cache).
    pub max_tokens: usize,
    /// Stop when one of these is sampled; it is counted but its text is not emitted.
    pub stop_tokens: Vec<u32>,
    /// Stop when the generated text contains one of these; the text from the stop string on is dropped.
    pub stop_strings: Vec<String>,
    /// `Some(n)`: report each token's log-probability and the `n` most likely alternatives.
    pub logprobs: Option<usize>,
    /// Look the prompt up in the prefix-state cache and keep checkpoints of it there.
    pub use_cache: bool,
}

impl Request {
    /// A greedy request that stops only at `max_tokens`.
    pub fn new(prompt: Vec<u32>, max_tokens: usize) -> Request {
        Request {
            prompt,
            sampler: SamplerConfig::default(),
            max_tokens,
            stop_tokens: Vec::new(),
            stop_strings: Vec::new(),
            logprobs: None,
            use_cache: true,
        }
    }
}

/// Why a generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// `max_tokens` reached.
    Length,
    /// A stop token was sampled.
    StopToken,
    /// The text reached a stop string.
    StopString,
}

impl Finish {
    /// OpenAI's `finish_reason`.
    pub fn as_openai(self) -> &'static str {
        match self {
            Finish::Length => "length",
            Finish::StopToken | Finish::StopString => "stop",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: usize,
    /// Tokens sampled, including a final stop token.
    pub completion_tokens: usize,
    /// Prompt tokens restored from the prefix-state cache instead of computed.
    pub cached_tokens: usize,
}

/// A sampled token's log-probability under the model (log-softmax of the raw logits) and the most
/// likely alternatives, most likely first.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenLogprob {
    pub logprob: f32,
    pub top: Vec<(u32, f32)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TokenEvent {
    pub token: u32,
    /// Text that became final with this token (may be empty, or include text held back earlier).
    pub text: String,
    pub logprob: Option<TokenLogprob>,
}

/// Events of one request, in order: any number of `Token`, then exactly one `Done` or `Failed`.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Token(TokenEvent),
    /// `text` is the rest of the output not yet sent with a token.
    Done { finish: Finish, usage: Usage, text: String },
    Failed(String),
}

/// A whole generation, collected from the events.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub tokens: Vec<u32>,
    pub text: String,
    pub logprobs: Vec<TokenLogprob>,
    pub finish: Finish,
    pub usage: Usage,
}

/// The receiving end of a submitted request. Dropping it cancels the request and frees its slot.
pub struct RequestHandle {
    pub id: u64,
    pub(crate) events: UnboundedReceiver<Event>,
}

impl RequestHandle {
    /// The next event; `None` after the last one.
    pub async fn next(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// The next event if one is ready; `Err` tells whether none is ready yet or none will come.
    pub fn try_next(&mut self) -> Result<Event, tokio::sync::mpsc::error::TryRecvError> {
        self.events.try_recv()
    }

    /// The next event, blocking the thread (not for use inside an async runtime).
    pub fn blocking_next(&mut self) -> Option<Event> {
        self.events.blocking_recv()
    }

    /// Waits for the whole generation (blocking the thread).
    pub fn wait(mut self) -> Result<Completion, String> {
        let mut c = Collector::default();
        loop {
            if let Some(done) = c.absorb(self.blocking_next()) {
                return done;
            }
        }
    }

    /// Waits for the whole generation (async).
    pub async fn collect(mut self) -> Result<Completion, String> {
        let mut c = Collector::default();
        loop {
            if let Some(done) = c.absorb(self.next().await) {
                return done;
            }
        }
    }
}

#[derive(Default)]
struct Collector {
    tokens: Vec<u32>,
    text: String,
    logprobs: Vec<TokenLogprob>,
}

impl Collector {
    /// Adds one event; `Some` once the generation is over.
    fn absorb(&mut self, event: Option<Event>) -> Option<Result<Completion, String>> {
        match event {
            Some(Event::Token(t)) => {
                self.tokens.push(t.token);
                self.text.push_str(&t.text);
                self.logprobs.extend(t.logprob);
                None
            }
            Some(Event::Done { finish, usage, text }) => {
                self.text.push_str(&text);
                let (tokens, text, logprobs) =
                    (std::mem::take(&mut self.tokens), std::mem::take(&mut self.text), std::mem::take(&mut self.logprobs));
                Some(Ok(Completion { tokens, text, logprobs, finish, usage }))
            }
            Some(Event::Failed(e)) => Some(Err(e)),
            None => Some(Err("the engine stopped before the request finished".into())),
        }
    }
}
