//! RWKV-7 ("x070", Goose), written once as a list of steps over [`Ops`] (spec §4.3).

use std::sync::Arc;

use gguf::GgufFile;

use crate::hparams::Rwkv7Hparams;
use crate::load::Loader;
use crate::names::{self, blk, rwkv7 as t};
use crate::state::SeqState;
use crate::{LoraKind, ModelError, Ops};

/// One layer's weights, named as in spec §4.1.
pub struct Rwkv7Layer<W> {
    pub ln1_w: W,
    pub ln1_b: W,
    pub ln2_w: W,
    pub ln2_b: W,
    /// Six lerp vectors in the order r, w, k, v, a, g.
    pub lerp: W,
    pub w0: W,
    pub w1: W,
    pub w2: W,
    pub a0: W,
    pub a1: W,
    pub a2: W,
    /// Value-residual LoRA; `None` on layer 0, whose copies in the file are dummies.
    pub value_mix: Option<(W, W, W)>,
    pub g1: W,
    pub g2: W,
    pub k_k: W,
    pub k_a: W,
    pub r_k: W,
    pub receptance: W,
    pub key: W,
    pub value: W,
    pub output: W,
    pub ln_x_w: W,
    pub ln_x_b: W,
    pub ffn_lerp_k: W,
    pub ffn_key: W,
    pub ffn_value: W,
}

/// All weights of an RWKV-7 model, resident on a backend.
pub struct Rwkv7Weights<W> {
    pub token_embd: W,
    pub ln0_w: W,
    pub ln0_b: W,
    pub layers: Vec<Rwkv7Layer<W>>,
    pub ln_out_w: W,
    pub ln_out_b: W,
    pub head: W,
}

impl<W> Rwkv7Weights<W> {
    /// Loads every tensor spec §3.3 lists, checking shapes and types, into backend `ops`.
    pub fn load<O: Ops<Weight = W>>(file: &Arc<GgufFile>, hp: &Rwkv7Hparams, ops: &mut O) -> Result<Self, ModelError> {
        let (c, v, f) = (hp.n_embd, hp.n_vocab, hp.n_ffn);
        let c64 = c as u64;
        let mut ld = Loader { file, ops };
        let norm = |ld: &mut Loader<O>, base: &str| -> Result<(W, W), ModelError> {
            Ok((ld.vector(&format!("{base}.weight"), c)?, ld.vector(&format!("{base}.bias"), c)?))
        };
        let token_embd = ld.matrix(names::TOKEN_EMBD, v, c)?;
        let (ln0_w, ln0_b) = norm(&mut ld, names::TOKEN_EMBD_NORM)?;
        let mut layers = Vec::with_capacity(hp.n_layer);
        for l in 0..hp.n_layer {
            let n = |s: &str| blk(l, s);
            let (ln1_w, ln1_b) = norm(&mut ld, &n(t::ATTN_NORM))?;
            let (ln2_w, ln2_b) = norm(&mut ld, &n(t::ATTN_NORM_2))?;
            let value_mix = if l == 0 {
                None
            } else {
                Some((
                    ld.vector(&n(t::V0), c)?,
                    ld.matrix(&n(t::V1), hp.value_lora_rank, c)?,
                    ld.matrix(&n(t::V2), c, hp.value_lora_rank)?,
                ))
            };
            layers.push(Rwkv7Layer {
                ln1_w,
                ln1_b,
                ln2_w,
                ln2_b,
                lerp: ld.vectors(&n(t::LERP_FUSED), &[c64, 1, 1, 6], 6, c)?,
                w0: ld.vector(&n(t::W0), c)?,
                w1: ld.matrix(&n(t::W1), hp.decay_lora_rank, c)?,
                w2: ld.matrix(&n(t::W2), c, hp.decay_lora_rank)?,
                a0: ld.vector(&n(t::A0), c)?,
                a1: ld.matrix(&n(t::A1), hp.iclr_lora_rank, c)?,
                a2: ld.matrix(&n(t::A2), c, hp.iclr_lora_rank)?,
                value_mix,
                g1: ld.matrix(&n(t::G1), hp.gate_lora_rank, c)?,
                g2: ld.matrix(&n(t::G2), c, hp.gate_lora_rank)?,
                k_k: ld.vector(&n(t::K_K), c)?,
                k_a: ld.vector(&n(t::K_A), c)?,
                r_k: ld.vector(&n(t::R_K), c)?,
                receptance: ld.matrix(&n(t::RECEPTANCE), c, c)?,
                key: ld.matrix(&n(t::KEY), c, c)?,
                value: ld.matrix(&n(t::VALUE), c, c)?,
                output: ld.matrix(&n(t::OUTPUT), c, c)?,
                ln_x_w: ld.vector(&n(&format!("{}.weight", t::LN_X)), c)?,
                ln_x_b: ld.vector(&n(&format!("{}.bias", t::LN_X)), c)?,
                ffn_lerp_k: ld.vector(&n(t::FFN_LERP_K), c)?,
                ffn_key: ld.matrix(&n(t::FFN_KEY), f, c)?,
                ffn_value: ld.matrix(&n(t::FFN_VALUE), c, f)?,
            });
        }
        let (ln_out_w, ln_out_b) = norm(&mut ld, names::OUTPUT_NORM)?;
        let head = ld.matrix(names::OUTPUT, v, c)?;
        Ok(Rwkv7Weights { token_embd, ln0_w, ln0_b, layers, ln_out_w, ln_out_b, head })
    }
}

/// Activation buffers for steps of exactly `rows` tokens, allocated once and reused.
pub(crate) struct Scratch<A> {
    pub rows: usize,
    x: A,
    xn: A,
    /// Token-shifted mixes r, w, k, v, a, g.
    mixes: [A; 6],
    r: A,
    decay: A,
    k: A,
    v: A,
    v_first: A,
    a: A,
    mix: A,
    g: A,
    y: A,
    mid: Vec<A>,
    ffn_in: A,
    ffn_hidden: A,
}

impl<A> Scratch<A> {
    pub fn new<O: Ops<Act = A>>(ops: &mut O, hp: &Rwkv7Hparams, rows: usize) -> Result<Self, ModelError> {
        let c = hp.n_embd;
        let mut act = |cols: usize| ops.alloc(rows, cols);
        Ok(Scratch {
            rows,
            x: act(c)?,
            xn: act(c)?,
            mixes: [act(c)?, act(c)?, act(c)?, act(c)?, act(c)?, act(c)?],
            r: act(c)?,
            decay: act(c)?,
            k: act(c)?,
            v: act(c)?,
            v_first: act(c)?,
            a: act(c)?,
            mix: act(c)?,
            g: act(c)?,
            y: act(c)?,
            mid: vec![
                act(hp.decay_lora_rank)?,
                act(hp.iclr_lora_rank)?,
                act(hp.value_lora_rank)?,
                act(hp.gate_lora_rank)?,
            ],
            ffn_in: act(c)?,
            ffn_hidden: act(hp.n_ffn)?,
        })
    }
}

/// Runs `tokens` (exactly `scratch.rows` of them) through every layer, updating `state`, and leaves
/// the final hidden rows (before `ln_out`) in the scratch.
pub(crate) fn step<O: Ops>(
    ops: &mut O,
    hp: &Rwkv7Hparams,
    w: &Rwkv7Weights<O::Weight>,
    state: &mut SeqState<O::Act>,
    s: &mut Scratch<O::Act>,
    tokens: &[u32],
) {
    let eps = hp.layer_norm_eps;
    ops.embed(&w.token_embd, tokens, &mut s.xn);
    ops.layer_norm(&s.xn, &w.ln0_w, &w.ln0_b, eps, &mut s.x);
    for (l, (lw, ls)) in w.layers.iter().zip(state.layers.iter_mut()).enumerate() {
        // Time mix.
        ops.layer_norm(&s.x, &lw.ln1_w, &lw.ln1_b, eps, &mut s.xn);
        {
            let [xr, xw, xk, xv, xa, xg] = &mut s.mixes;
            ops.token_shift_lerp(&s.xn, &mut ls.att_shift, &lw.lerp, &mut [xr, xw, xk, xv, xa, xg]);
        }
        let [xr, xw, xk, xv, xa, xg] = &s.mixes;
        ops.matmul(&lw.receptance, xr, &mut s.r);
        ops.matmul(&lw.key, xk, &mut s.k);
        ops.matmul(&lw.value, xv, &mut s.v);
        ops.lora(LoraKind::Decay, xw, &lw.w1, &lw.w2, Some(&lw.w0), &mut s.mid[0], &mut s.decay);
        ops.lora(LoraKind::SigmoidOut, xa, &lw.a1, &lw.a2, Some(&lw.a0), &mut s.mid[1], &mut s.a);
        match &lw.value_mix {
            None if l == 0 => ops.copy_rows(&s.v, 0, &mut s.v_first),
            None => {}
            Some((v0, v1, v2)) => {
                ops.lora(LoraKind::SigmoidOut, xv, v1, v2, Some(v0), &mut s.mid[2], &mut s.mix);
                ops.value_residual(&mut s.v, &s.v_first, &s.mix);
            }
        }
        ops.lora(LoraKind::Gate, xg, &lw.g1, &lw.g2, None, &mut s.mid[3], &mut s.g);
        ops.wkv7(&s.r, &s.decay, &mut s.k, &s.v, &s.a, &lw.k_k, &lw.k_a, &mut ls.wkv, &mut s.y);
        ops.wkv7_output(
            &mut s.y,
            &s.r,
            &s.k,
            &s.v,
            &s.g,
            &lw.r_k,
            &lw.ln_x_w,
            &lw.ln_x_b,
            hp.head_size,
            hp.group_norm_eps,
        );
        ops.matmul(&lw.output, &s.y, &mut s.xn);
        ops.add(&mut s.x, &s.xn);

        // Channel mix.
        ops.layer_norm(&s.x, &lw.ln2_w, &lw.ln2_b, eps, &mut s.xn);
        ops.token_shift_lerp(&s.xn, &mut ls.ffn_shift, &lw.ffn_lerp_k, &mut [&mut s.ffn_in]);
        ops.matmul(&lw.ffn_key, &s.ffn_in, &mut s.ffn_hidden);
        ops.relu_square(&mut s.ffn_hidden);
        ops.matmul(&lw.ffn_value, &s.ffn_hidden, &mut s.xn);
        ops.add(&mut s.x, &s.xn);
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
    pub fn new<O: Ops<Act = A>>(ops: &mut O, hp: &Rwkv7Hparams, rows: usize) -> Result<Self, ModelError> {
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
    hp: &Rwkv7Hparams,
    w: &Rwkv7Weights<O::Weight>,
    s: &Scratch<O::Act>,
    first: usize,
    h: &mut HeadScratch<O::Act>,
) {
    ops.copy_rows(&s.x, first, &mut h.x);
    ops.layer_norm(&h.x, &w.ln_out_w, &w.ln_out_b, hp.layer_norm_eps, &mut h.xn);
    ops.matmul(&w.head, &h.xn, &mut h.logits);
}
