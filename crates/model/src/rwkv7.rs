//! RWKV-7 ("x070", Goose): its tensors, hyper-parameters and one layer as steps over [`Ops`]
//! (spec §3.3, §4.3). The scaffolding around layers (embedding, head, state, chunking) is shared.

use gguf::GgufFile;

use crate::hparams::tensor_dim;
use crate::load::Loader;
use crate::names::{blk, rwkv7 as t};
use crate::state::{Shift, StepState};
use crate::{Hparams, LoraKind, ModelError, Ops};

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

/// The LoRA ranks, from tensor shapes.
pub(crate) fn read_hparams(file: &GgufFile, hp: &mut Hparams) -> Result<(), ModelError> {
    // Layer 0's v1 is a dummy copy of a1, so the value rank comes from layer 1 when there is one.
    let value_layer = if hp.n_layer > 1 { 1 } else { 0 };
    hp.decay_lora_rank = tensor_dim(file, &blk(0, t::W1), 1)?;
    hp.iclr_lora_rank = tensor_dim(file, &blk(0, t::A1), 1)?;
    hp.value_lora_rank = tensor_dim(file, &blk(value_layer, t::V1), 1)?;
    hp.gate_lora_rank = tensor_dim(file, &blk(0, t::G1), 1)?;
    Ok(())
}

/// Loads layer `l` (every tensor spec §3.3 lists), checking shapes and types.
pub(crate) fn load_layer<O: Ops>(ld: &mut Loader<O>, hp: &Hparams, l: usize) -> Result<Rwkv7Layer<O::Weight>, ModelError> {
    let (c, f) = (hp.n_embd, hp.n_ffn);
    let n = |s: &str| blk(l, s);
    let (ln1_w, ln1_b) = ld.norm(&n(t::ATTN_NORM), c)?;
    let (ln2_w, ln2_b) = ld.norm(&n(t::ATTN_NORM_2), c)?;
    let value_mix = if l == 0 {
        None
    } else {
        Some((
            ld.vector(&n(t::V0), c)?,
            ld.matrix(&n(t::V1), hp.value_lora_rank, c)?,
            ld.matrix(&n(t::V2), c, hp.value_lora_rank)?,
        ))
    };
    let (ln_x_w, ln_x_b) = ld.norm(&n(t::LN_X), c)?;
    Ok(Rwkv7Layer {
        ln1_w,
        ln1_b,
        ln2_w,
        ln2_b,
        lerp: ld.vectors(&n(t::LERP_FUSED), &[c as u64, 1, 1, 6], 6, c)?,
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
        ln_x_w,
        ln_x_b,
        ffn_lerp_k: ld.vector(&n(t::FFN_LERP_K), c)?,
        ffn_key: ld.matrix(&n(t::FFN_KEY), f, c)?,
        ffn_value: ld.matrix(&n(t::FFN_VALUE), c, f)?,
    })
}

/// RWKV-7's activation buffers for steps of a fixed number of rows.
pub(crate) struct Rwkv7Scratch<A> {
    /// Token-shifted mixes r, w, k, v, a, g.
    mixes: [A; 6],
    r: A,
    decay: A,
    k: A,
    v: A,
    /// Layer 0's values, mixed into later layers' (value residual).
    v_first: A,
    a: A,
    mix: A,
    g: A,
    y: A,
    mid: Vec<A>,
    ffn_in: A,
    ffn_hidden: A,
}

impl<A> Rwkv7Scratch<A> {
    pub fn new<O: Ops<Act = A>>(ops: &mut O, hp: &Hparams, rows: usize) -> Result<Self, ModelError> {
        let c = hp.n_embd;
        let mut act = |cols: usize| ops.alloc(rows, cols);
        Ok(Rwkv7Scratch {
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

/// Layer `l` on the residual stream `x` (`[T, C]`); `xn` is `[T, C]` scratch.
#[allow(clippy::too_many_arguments)]
pub(crate) fn layer<O: Ops>(
    ops: &mut O,
    hp: &Hparams,
    l: usize,
    lw: &Rwkv7Layer<O::Weight>,
    st: &mut StepState<'_, O::Act>,
    s: &mut Rwkv7Scratch<O::Act>,
    x: &mut O::Act,
    xn: &mut O::Act,
) {
    let eps = hp.layer_norm_eps;
    // Time mix.
    ops.layer_norm(x, &lw.ln1_w, &lw.ln1_b, eps, xn);
    {
        let [xr, xw, xk, xv, xa, xg] = &mut s.mixes;
        st.token_shift_lerp(ops, Shift::Att, xn, &lw.lerp, &mut [xr, xw, xk, xv, xa, xg]);
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
    st.wkv7(ops, &s.r, &s.decay, &mut s.k, &s.v, &s.a, &lw.k_k, &lw.k_a, &mut s.y);
    ops.wkv7_output(&mut s.y, &s.r, &s.k, &s.v, &s.g, &lw.r_k, &lw.ln_x_w, &lw.ln_x_b, hp.head_size, hp.group_norm_eps);
    ops.matmul(&lw.output, &s.y, xn);
    ops.add(x, xn);

    // Channel mix.
    ops.layer_norm(x, &lw.ln2_w, &lw.ln2_b, eps, xn);
    st.token_shift_lerp(ops, Shift::Ffn, xn, &lw.ffn_lerp_k, &mut [&mut s.ffn_in]);
    ops.matmul(&lw.ffn_key, &s.ffn_in, &mut s.ffn_hidden);
    ops.relu_square(&mut s.ffn_hidden);
    ops.matmul(&lw.ffn_value, &s.ffn_hidden, xn);
    ops.add(x, xn);
}
