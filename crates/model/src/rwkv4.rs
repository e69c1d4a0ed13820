//! RWKV-4 in aviary's `rwkv4` layout (`names`), one layer as steps over [`Ops`]: static token-shift
//! lerps, the per-channel WKV-4 recurrence gated by `σ(r)`, no heads and no GroupNorm.

use crate::ffn::{self, FfnLerp, GatedFfn, GatedFfnScratch};
use crate::load::Loader;
use crate::names::{blk, rwkv5 as t};
use crate::rwkv5::blink_lerp;
use crate::state::LayerState;
use crate::{Hparams, ModelError, Ops};

pub struct Rwkv4Layer<W> {
    pub ln1_w: W,
    pub ln1_b: W,
    /// `[3, C]` (k, v, r), converted to the `x + (prev − x)·μ` form.
    pub lerp: W,
    /// `w = −exp(time_decay)`, computed at load.
    pub decay: W,
    /// `u = time_first` (raw).
    pub first: W,
    pub receptance: W,
    pub key: W,
    pub value: W,
    pub output: W,
    pub ffn: GatedFfn<W>,
}

pub(crate) fn load_layer<O: Ops>(ld: &mut Loader<O>, hp: &Hparams, l: usize) -> Result<Rwkv4Layer<O::Weight>, ModelError> {
    let c = hp.n_embd;
    let c64 = c as u64;
    let n = |s: &str| blk(l, s);
    let (ln1_w, ln1_b) = ld.norm(&n(t::ATTN_NORM), c)?;
    let lerp = blink_lerp(ld.read_f32(&n(t::LERP_FUSED), &[c64, 1, 1, 3])?);
    let decay: Vec<f32> = ld.read_f32(&n(t::DECAY), &[c64])?.iter().map(|&d| -(d as f64).exp() as f32).collect();
    Ok(Rwkv4Layer {
        ln1_w,
        ln1_b,
        lerp: ld.ops.upload_vectors(3, c, lerp)?,
        decay: ld.ops.upload_vectors(1, c, decay)?,
        first: ld.vector(&n(t::FIRST), c)?,
        receptance: ld.matrix(&n(t::RECEPTANCE), c, c)?,
        key: ld.matrix(&n(t::KEY), c, c)?,
        value: ld.matrix(&n(t::VALUE), c, c)?,
        output: ld.matrix(&n(t::OUTPUT), c, c)?,
        ffn: GatedFfn::load(ld, hp, l, FfnLerp::Blink)?,
    })
}

pub(crate) struct Rwkv4Scratch<A> {
    /// Token-shifted mixes k, v, r.
    mixes: [A; 3],
    r: A,
    k: A,
    v: A,
    y: A,
    ffn: GatedFfnScratch<A>,
}

impl<A> Rwkv4Scratch<A> {
    pub fn new<O: Ops<Act = A>>(ops: &mut O, hp: &Hparams, rows: usize) -> Result<Self, ModelError> {
        let c = hp.n_embd;
        let mut act = || ops.alloc(rows, c);
        Ok(Rwkv4Scratch {
            mixes: [act()?, act()?, act()?],
            r: act()?,
            k: act()?,
            v: act()?,
            y: act()?,
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
    lw: &Rwkv4Layer<O::Weight>,
    ls: &mut LayerState<O::Act>,
    s: &mut Rwkv4Scratch<O::Act>,
    x: &mut O::Act,
    xn: &mut O::Act,
) {
    ops.layer_norm(x, &lw.ln1_w, &lw.ln1_b, hp.layer_norm_eps, xn);
    {
        let [xk, xv, xr] = &mut s.mixes;
        ops.token_shift_lerp(xn, &mut ls.att_shift, &lw.lerp, &mut [xk, xv, xr]);
    }
    let [xk, xv, xr] = &s.mixes;
    ops.matmul(&lw.key, xk, &mut s.k);
    ops.matmul(&lw.value, xv, &mut s.v);
    ops.matmul(&lw.receptance, xr, &mut s.r);
    ops.wkv4(&s.k, &s.v, &lw.decay, &lw.first, &mut ls.wkv, &mut s.y);
    ops.sigmoid_mul(&mut s.y, &s.r);
    ops.matmul(&lw.output, &s.y, xn);
    ops.add(x, xn);

    ffn::channel_mix(ops, hp, &lw.ffn, ls, &mut s.ffn, x, xn);
}
