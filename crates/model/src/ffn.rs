//! The receptance-gated channel mix of RWKV-4, 5 and 6 (spec §5.2):
//! `x += σ(R·xr) ⊙ (V·relu(K·xk)²)` with `xk`, `xr` token-shift lerps of `LN2(x)`.

use crate::load::Loader;
use crate::names::{blk, rwkv5, rwkv6};
use crate::state::LayerState;
use crate::{Hparams, ModelError, Ops};

/// How a file stores the two channel-mix lerp vectors.
pub(crate) enum FfnLerp {
    /// RWKV-6: `channel_mix_lerp_k`, `channel_mix_lerp_r`, already in the `x + (prev − x)·μ` form.
    Rwkv6,
    /// RWKV-5/4 (aviary layout): `channel_mix_lerp_fused [C,1,1,2]` (k, r) in BlinkDL's
    /// `x·μ + prev·(1−μ)` form, converted at load (`μ' = 1 − μ`).
    Blink,
}

pub struct GatedFfn<W> {
    pub ln2_w: W,
    pub ln2_b: W,
    /// `[2, C]`: k, r in the `x + (prev − x)·μ` form `token_shift_lerp` takes.
    pub lerp: W,
    pub key: W,
    pub receptance: W,
    pub value: W,
}

impl<W> GatedFfn<W> {
    pub(crate) fn load<O: Ops<Weight = W>>(ld: &mut Loader<O>, hp: &Hparams, l: usize, form: FfnLerp) -> Result<Self, ModelError> {
        let (c, f) = (hp.n_embd, hp.n_ffn);
        let n = |s: &str| blk(l, s);
        let (ln2_w, ln2_b) = ld.norm(&n(rwkv6::ATTN_NORM_2), c)?;
        let lerp = match form {
            FfnLerp::Rwkv6 => {
                let mut data = ld.read_f32(&n(rwkv6::FFN_LERP_K), &[c as u64])?;
                data.extend(ld.read_f32(&n(rwkv6::FFN_LERP_R), &[c as u64])?);
                data
            }
            FfnLerp::Blink => {
                let mu = ld.read_f32(&n(rwkv5::FFN_LERP_FUSED), &[c as u64, 1, 1, 2])?;
                mu.iter().map(|m| 1.0 - m).collect()
            }
        };
        Ok(GatedFfn {
            ln2_w,
            ln2_b,
            lerp: ld.ops.upload_vectors(2, c, lerp)?,
            key: ld.matrix(&n(rwkv6::FFN_KEY), f, c)?,
            receptance: ld.matrix(&n(rwkv6::FFN_RECEPTANCE), c, c)?,
            value: ld.matrix(&n(rwkv6::FFN_VALUE), c, f)?,
        })
    }
}

pub(crate) struct GatedFfnScratch<A> {
    xk: A,
    xr: A,
    hidden: A,
    gate: A,
}

impl<A> GatedFfnScratch<A> {
    pub fn new<O: Ops<Act = A>>(ops: &mut O, hp: &Hparams, rows: usize) -> Result<Self, ModelError> {
        let c = hp.n_embd;
        Ok(GatedFfnScratch { xk: ops.alloc(rows, c)?, xr: ops.alloc(rows, c)?, hidden: ops.alloc(rows, hp.n_ffn)?, gate: ops.alloc(rows, c)? })
    }
}

/// The channel mix on the residual stream `x`; `xn` is `[T, C]` scratch.
pub(crate) fn channel_mix<O: Ops>(
    ops: &mut O,
    hp: &Hparams,
    w: &GatedFfn<O::Weight>,
    ls: &mut LayerState<O::Act>,
    s: &mut GatedFfnScratch<O::Act>,
    x: &mut O::Act,
    xn: &mut O::Act,
) {
    ops.layer_norm(x, &w.ln2_w, &w.ln2_b, hp.layer_norm_eps, xn);
    ops.token_shift_lerp(xn, &mut ls.ffn_shift, &w.lerp, &mut [&mut s.xk, &mut s.xr]);
    ops.matmul(&w.key, &s.xk, &mut s.hidden);
    ops.relu_square(&mut s.hidden);
    ops.matmul(&w.value, &s.hidden, xn);
    ops.matmul(&w.receptance, &s.xr, &mut s.gate);
    ops.sigmoid_mul(xn, &s.gate);
    ops.add(x, xn);
}
