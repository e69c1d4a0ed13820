//! RWKV-5 ("x052" Eagle, and the older 5.1 without a gate) in aviary's `rwkv5` layout (`names`), one
//! layer as steps over [`Ops`] (spec §5.3): static token-shift lerps, static per-channel decay, the
//! WKV of RWKV-6, per-head GroupNorm, an optional SiLU gate.

use gguf::GgufFile;

use crate::ffn::{self, FfnLerp, GatedFfn, GatedFfnScratch};
use crate::load::Loader;
use crate::names::{blk, rwkv5 as t};
use crate::ops::Wkv6Decay;
use crate::state::LayerState;
use crate::{Hparams, ModelError, Ops};

pub struct Rwkv5Layer<W> {
    pub ln1_w: W,
    pub ln1_b: W,
    /// `[K, C]` (k, v, r and, with a gate, g), converted to the `x + (prev − x)·μ` form.
    pub lerp: W,
    /// `w = exp(−exp(time_decay))`, computed at load.
    pub decay: W,
    /// The bonus `u`.
    pub first: W,
    pub receptance: W,
    pub key: W,
    pub value: W,
    pub gate: Option<W>,
    pub output: W,
    pub ln_x_w: W,
    pub ln_x_b: W,
    pub ffn: GatedFfn<W>,
}

/// Nothing beyond the shared keys; the GroupNorm epsilon default is RWKV-5's own (hparams).
pub(crate) fn read_hparams(_file: &GgufFile, _hp: &mut Hparams) -> Result<(), ModelError> {
    Ok(())
}

/// `x·μ + prev·(1−μ)` as `x + (prev − x)·μ'`: `μ' = 1 − μ` (RWKV-4 and 5 store BlinkDL's μ).
pub(crate) fn blink_lerp(mu: Vec<f32>) -> Vec<f32> {
    mu.into_iter().map(|m| 1.0 - m).collect()
}

pub(crate) fn load_layer<O: Ops>(ld: &mut Loader<O>, hp: &Hparams, l: usize) -> Result<Rwkv5Layer<O::Weight>, ModelError> {
    let c = hp.n_embd;
    let c64 = c as u64;
    let n = |s: &str| blk(l, s);
    let (ln1_w, ln1_b) = ld.norm(&n(t::ATTN_NORM), c)?;
    let has_gate = ld.has(&n(t::GATE));
    let k = if has_gate { 4 } else { 3 };
    let lerp = blink_lerp(ld.read_f32(&n(t::LERP_FUSED), &[c64, 1, 1, k as u64])?);
    // f64 so that decays near 1 (time_decay ≪ 0) keep every bit f32 can hold.
    let decay: Vec<f32> =
        ld.read_f32(&n(t::DECAY), &[c64])?.iter().map(|&d| (-(d as f64).exp()).exp() as f32).collect();
    let (ln_x_w, ln_x_b) = ld.norm(&n(t::LN_X), c)?;
    Ok(Rwkv5Layer {
        ln1_w,
        ln1_b,
        lerp: ld.ops.upload_vectors(k, c, lerp)?,
        decay: ld.ops.upload_vectors(1, c, decay)?,
        first: ld.vector(&n(t::FIRST), c)?,
        receptance: ld.matrix(&n(t::RECEPTANCE), c, c)?,
        key: ld.matrix(&n(t::KEY), c, c)?,
        value: ld.matrix(&n(t::VALUE), c, c)?,
        gate: if has_gate { Some(ld.matrix(&n(t::GATE), c, c)?) } else { None },
        output: ld.matrix(&n(t::OUTPUT), c, c)?,
        ln_x_w,
        ln_x_b,
        ffn: GatedFfn::load(ld, hp, l, FfnLerp::Blink)?,
    })
}

pub(crate) struct Rwkv5Scratch<A> {
    /// Token-shifted mixes k, v, r (, g).
    mixes: Vec<A>,
    r: A,
    k: A,
    v: A,
    g: A,
    y: A,
    ffn: GatedFfnScratch<A>,
}

impl<A> Rwkv5Scratch<A> {
    pub fn new<O: Ops<Act = A>, W>(ops: &mut O, hp: &Hparams, layers: &[Rwkv5Layer<W>], rows: usize) -> Result<Self, ModelError> {
        let c = hp.n_embd;
        let n_mix = if layers.iter().any(|l| l.gate.is_some()) { 4 } else { 3 };
        Ok(Rwkv5Scratch {
            mixes: (0..n_mix).map(|_| ops.alloc(rows, c)).collect::<Result<_, _>>()?,
            r: ops.alloc(rows, c)?,
            k: ops.alloc(rows, c)?,
            v: ops.alloc(rows, c)?,
            g: ops.alloc(rows, c)?,
            y: ops.alloc(rows, c)?,
            ffn: GatedFfnScratch::new(ops, hp, rows)?,
        })
    }
}

/// Layer `l` on the residual stream `x` (`[T, C]`); `xn` is `[T, C]` scratch.
#[allow(clippy::too_many_arguments)]
pub(crate) fn layer<O: Ops>(
    ops: &mut O,
    hp: &Hparams,
    _l: usize,
    lw: &Rwkv5Layer<O::Weight>,
    ls: &mut LayerState<O::Act>,
    s: &mut Rwkv5Scratch<O::Act>,
    x: &mut O::Act,
    xn: &mut O::Act,
) {
    ops.layer_norm(x, &lw.ln1_w, &lw.ln1_b, hp.layer_norm_eps, xn);
    let n_mix = if lw.gate.is_some() { 4 } else { 3 };
    {
        let mut outs: Vec<&mut O::Act> = s.mixes.iter_mut().take(n_mix).collect();
        ops.token_shift_lerp(xn, &mut ls.att_shift, &lw.lerp, &mut outs);
    }
    ops.matmul(&lw.key, &s.mixes[0], &mut s.k);
    ops.matmul(&lw.value, &s.mixes[1], &mut s.v);
    ops.matmul(&lw.receptance, &s.mixes[2], &mut s.r);
    ops.wkv6(&s.r, &s.k, &s.v, Wkv6Decay::Static(&lw.decay), &lw.first, &mut ls.wkv, &mut s.y);
    ops.group_norm(&mut s.y, &lw.ln_x_w, &lw.ln_x_b, hp.head_size, hp.group_norm_eps);
    if let Some(gate) = &lw.gate {
        ops.matmul(gate, &s.mixes[3], &mut s.g);
        ops.silu_mul(&mut s.y, &s.g);
    }
    ops.matmul(&lw.output, &s.y, xn);
    ops.add(x, xn);

    ffn::channel_mix(ops, hp, &lw.ffn, ls, &mut s.ffn, x, xn);
}
