//! What every RWKV version shares: the embedding and its LayerNorm, a stack of layers, the head, and
//! the step that runs a chunk of tokens through them. Versions differ only inside a layer
//! ([`Layers`]: one arm per version's math).

use std::sync::Arc;

use gguf::GgufFile;

use crate::load::Loader;
use crate::rwkv4::{self, Rwkv4Layer, Rwkv4Scratch};
use crate::rwkv5::{self, Rwkv5Layer, Rwkv5Scratch};
use crate::rwkv6::{self, Rwkv6Layer, Rwkv6Scratch};
use crate::rwkv7::{self, Rwkv7Layer, Rwkv7Scratch};
use crate::state::{SeqState, StepState};
use crate::{names, Architecture, Hparams, ModelError, Ops};

/// The layers of a model, per version.
pub enum Layers<W> {
    Rwkv4(Vec<Rwkv4Layer<W>>),
    Rwkv5(Vec<Rwkv5Layer<W>>),
    Rwkv6(Vec<Rwkv6Layer<W>>),
    Rwkv7(Vec<Rwkv7Layer<W>>),
}

/// All weights of a model, resident on a backend.
pub struct Weights<W> {
    pub token_embd: W,
    pub ln0_w: W,
    pub ln0_b: W,
    pub layers: Layers<W>,
    pub ln_out_w: W,
    pub ln_out_b: W,
    pub head: W,
}

/// The historic name of the weights, from when aviary ran RWKV-7 only.
pub type Rwkv7Weights<W> = Weights<W>;

impl<W> Weights<W> {
    /// Loads every tensor of `hp.arch`, checking shapes and types, into backend `ops`.
    pub fn load<O: Ops<Weight = W>>(file: &Arc<GgufFile>, hp: &Hparams, ops: &mut O) -> Result<Self, ModelError> {
        let (c, v) = (hp.n_embd, hp.n_vocab);
        let mut ld = Loader { file, ops };
        let token_embd = ld.matrix(names::TOKEN_EMBD, v, c)?;
        let (ln0_w, ln0_b) = ld.norm(names::TOKEN_EMBD_NORM, c)?;
        fn each<T>(n: usize, mut f: impl FnMut(usize) -> Result<T, ModelError>) -> Result<Vec<T>, ModelError> {
            (0..n).map(&mut f).collect()
        }
        let n = hp.n_layer;
        let layers = match hp.arch {
            Architecture::Rwkv4 => Layers::Rwkv4(each(n, |l| rwkv4::load_layer(&mut ld, hp, l))?),
            Architecture::Rwkv5 => Layers::Rwkv5(each(n, |l| rwkv5::load_layer(&mut ld, hp, l))?),
            Architecture::Rwkv6 => Layers::Rwkv6(each(n, |l| rwkv6::load_layer(&mut ld, hp, l))?),
            Architecture::Rwkv7 => Layers::Rwkv7(each(n, |l| rwkv7::load_layer(&mut ld, hp, l))?),
        };
        let (ln_out_w, ln_out_b) = ld.norm(names::OUTPUT_NORM, c)?;
        let head = ld.matrix(names::OUTPUT, v, c)?;
        Ok(Weights { token_embd, ln0_w, ln0_b, layers, ln_out_w, ln_out_b, head })
    }
}

/// A version's layer scratch, matching its [`Layers`].
pub(crate) enum LayerScratch<A> {
    Rwkv4(Rwkv4Scratch<A>),
    Rwkv5(Rwkv5Scratch<A>),
    Rwkv6(Rwkv6Scratch<A>),
    Rwkv7(Rwkv7Scratch<A>),
}

/// Activation buffers for steps of exactly `rows` tokens, allocated once and reused.
pub(crate) struct Scratch<A> {
    pub rows: usize,
    /// The residual stream.
    x: A,
    xn: A,
    layer: LayerScratch<A>,
}

impl<A> Scratch<A> {
    pub fn new<O: Ops<Act = A>>(ops: &mut O, hp: &Hparams, w: &Weights<O::Weight>, rows: usize) -> Result<Self, ModelError> {
        let layer = match &w.layers {
            Layers::Rwkv4(_) => LayerScratch::Rwkv4(Rwkv4Scratch::new(ops, hp, rows)?),
            Layers::Rwkv5(ls) => LayerScratch::Rwkv5(Rwkv5Scratch::new(ops, hp, ls, rows)?),
            Layers::Rwkv6(_) => LayerScratch::Rwkv6(Rwkv6Scratch::new(ops, hp, rows)?),
            Layers::Rwkv7(_) => LayerScratch::Rwkv7(Rwkv7Scratch::new(ops, hp, rows)?),
        };
        Ok(Scratch { rows, x: ops.alloc(rows, hp.n_embd)?, xn: ops.alloc(rows, hp.n_embd)?, layer })
    }
}

/// Whose state a step updates: one sequence whose tokens are the rows, or one sequence per row (a
/// batched decode step, RWKV-7 only).
pub(crate) enum StepSeqs<'a, A> {
    One(&'a mut SeqState<A>),
    PerRow(&'a mut [SeqState<A>]),
}

impl<A> StepSeqs<'_, A> {
    fn layer(&mut self, l: usize) -> StepState<'_, A> {
        match self {
            StepSeqs::One(s) => StepState::Sequence(&mut s.layers[l]),
            StepSeqs::PerRow(seqs) => StepState::PerRow(seqs.iter_mut().map(|s| &mut s.layers[l]).collect()),
        }
    }

    /// The one sequence of a step of RWKV-4, 5 or 6, whose layers take a single state.
    fn single(&mut self) -> &mut SeqState<A> {
        match self {
            StepSeqs::One(s) => s,
            StepSeqs::PerRow(_) => unreachable!("batched steps run RWKV-7 only (Runner::decode_batch checks)"),
        }
    }
}

/// Runs `tokens` (exactly `s.rows` of them) through every layer, updating the states, and leaves the
/// final hidden rows (before `ln_out`) in the scratch.
pub(crate) fn step<O: Ops>(
    ops: &mut O,
    hp: &Hparams,
    w: &Weights<O::Weight>,
    mut seqs: StepSeqs<'_, O::Act>,
    s: &mut Scratch<O::Act>,
    tokens: &[u32],
) {
    ops.embed(&w.token_embd, tokens, &mut s.xn);
    ops.layer_norm(&s.xn, &w.ln0_w, &w.ln0_b, hp.layer_norm_eps, &mut s.x);
    let (x, xn) = (&mut s.x, &mut s.xn);
    match (&w.layers, &mut s.layer) {
        (Layers::Rwkv4(ls), LayerScratch::Rwkv4(sc)) => {
            for ((l, st), lw) in seqs.single().layers.iter_mut().enumerate().zip(ls) {
                rwkv4::layer(ops, hp, l, lw, st, sc, x, xn);
            }
        }
        (Layers::Rwkv5(ls), LayerScratch::Rwkv5(sc)) => {
            for ((l, st), lw) in seqs.single().layers.iter_mut().enumerate().zip(ls) {
                rwkv5::layer(ops, hp, l, lw, st, sc, x, xn);
            }
        }
        (Layers::Rwkv6(ls), LayerScratch::Rwkv6(sc)) => {
            for ((l, st), lw) in seqs.single().layers.iter_mut().enumerate().zip(ls) {
                rwkv6::layer(ops, hp, l, lw, st, sc, x, xn);
            }
        }
        (Layers::Rwkv7(ls), LayerScratch::Rwkv7(sc)) => {
            for (l, lw) in ls.iter().enumerate() {
                rwkv7::layer(ops, hp, l, lw, &mut seqs.layer(l), sc, x, xn);
            }
        }
        _ => unreachable!("scratch is always built for the weights it runs with (Scratch::new)"),
    }
}

/// Buffers for the head: `rows` hidden rows in, `rows` logit rows out.
pub(crate) struct HeadScratch<A> {
    pub rows: usize,
    x: A,
    xn: A,
    pub logits: A,
}

impl<A> HeadScratch<A> {
    pub fn new<O: Ops<Act = A>>(ops: &mut O, hp: &Hparams, rows: usize) -> Result<Self, ModelError> {
        Ok(HeadScratch {
            rows,
            x: ops.alloc(rows, hp.n_embd)?,
            xn: ops.alloc(rows, hp.n_embd)?,
            logits: ops.alloc(rows, hp.n_vocab)?,
        })
    }
}

/// Logits for the hidden rows `first .. first + head.rows` of the last step.
pub(crate) fn head<O: Ops>(
    ops: &mut O,
    hp: &Hparams,
    w: &Weights<O::Weight>,
    s: &Scratch<O::Act>,
    first: usize,
    h: &mut HeadScratch<O::Act>,
) {
    ops.copy_rows(&s.x, first, &mut h.x);
    ops.layer_norm(&h.x, &w.ln_out_w, &w.ln_out_b, hp.layer_norm_eps, &mut h.xn);
    ops.matmul(&w.head, &h.xn, &mut h.logits);
}
