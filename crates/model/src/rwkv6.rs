//! RWKV-6 ("x060", Finch): llama.cpp's `rwkv6` tensors (spec §3.6) and one layer as steps over
//! [`Ops`] (spec §5.1, §5.2).

use gguf::GgufFile;

use crate::ffn::{self, FfnLerp, GatedFfn, GatedFfnScratch};
use crate::hparams::tensor_dim;
use crate::load::Loader;
use crate::names::{blk, rwkv6 as t};
use crate::ops::Wkv6Decay;
use crate::state::LayerState;
use crate::{Hparams, ModelError, Ops};

/// The number of token-shift LoRAs (w, k, v, r, g).
const N_MIX: usize = 5;

pub struct Rwkv6Layer<W> {
    pub ln1_w: W,
    pub ln1_b: W,
    /// `μ_x`, `[1, C]`.
    pub lerp_x: W,
    /// `[5, C]` in the order w, k, v, r, g.
    pub lerp: W,
    /// Token-shift LoRA down `[5·D, C]` and up `[5·C, D]`.
    pub w1: W,
    pub w2: W,
    /// Raw `time_decay` (the decay LoRA's bias).
    pub decay: W,
    pub decay_w1: W,
    pub decay_w2: W,
    /// The bonus `u` (`time_faaaa`), `[C]` head-major.
    pub first: W,
    pub receptance: W,
    pub key: W,
    pub value: W,
    pub gate: W,
    pub output: W,
    pub ln_x_w: W,
    pub ln_x_b: W,
    pub ffn: GatedFfn<W>,
}

/// LoRA ranks from tensor shapes, rescaling from metadata.
pub(crate) fn read_hparams(file: &GgufFile, hp: &mut Hparams) -> Result<(), ModelError> {
    let src = file.source_name().to_string();
    let w1_rows = tensor_dim(file, &blk(0, t::W1), 1)?;
    if w1_rows % N_MIX != 0 || w1_rows == 0 {
        return Err(ModelError::BadKey {
            file: src,
            key: format!("shape of {}", blk(0, t::W1)),
            value: format!("{w1_rows} rows"),
            expected: "a positive multiple of 5 (one LoRA per w, k, v, r, g)".into(),
        });
    }
    hp.token_shift_lora_rank = w1_rows / N_MIX;
    hp.decay_lora_rank = tensor_dim(file, &blk(0, t::DECAY_W1), 1)?;
    for (key, found) in [("time_mix_extra_dim", hp.token_shift_lora_rank), ("time_decay_extra_dim", hp.decay_lora_rank)] {
        let key = hp.arch.key(key);
        if let Some(declared) = file.get_u64(&key)? {
            if declared as usize != found {
                return Err(ModelError::BadKey { file: src, key, value: declared.to_string(), expected: format!("{found} (from the tensor shapes)") });
            }
        }
    }
    hp.rescale_every_n_layers = file.get_u64(&hp.arch.key("rescale_every_n_layers"))?.unwrap_or(0) as usize;
    Ok(())
}

pub(crate) fn load_layer<O: Ops>(ld: &mut Loader<O>, hp: &Hparams, l: usize) -> Result<Rwkv6Layer<O::Weight>, ModelError> {
    let (c, n_head, head_size) = (hp.n_embd, hp.n_head, hp.head_size);
    let (dm, dd) = (hp.token_shift_lora_rank, hp.decay_lora_rank);
    let n = |s: &str| blk(l, s);
    let (ln1_w, ln1_b) = ld.norm(&n(t::ATTN_NORM), c)?;
    let lerp = if ld.has(&n(t::LERP_FUSED)) {
        ld.read_f32(&n(t::LERP_FUSED), &[c as u64, 1, 1, N_MIX as u64])?
    } else {
        let mut all = Vec::with_capacity(N_MIX * c);
        for name in t::LERP_SEPARATE {
            all.extend(ld.read_f32(&n(name), &[c as u64])?);
        }
        all
    };
    let (ln_x_w, ln_x_b) = ld.norm(&n(t::LN_X), c)?;
    Ok(Rwkv6Layer {
        ln1_w,
        ln1_b,
        lerp_x: ld.vector(&n(t::LERP_X), c)?,
        lerp: ld.ops.upload_vectors(N_MIX, c, lerp)?,
        w1: ld.matrix(&n(t::W1), N_MIX * dm, c)?,
        w2: ld.matrix_dims(&n(t::W2), &[dm as u64, c as u64, N_MIX as u64])?,
        decay: ld.vector(&n(t::DECAY), c)?,
        decay_w1: ld.matrix(&n(t::DECAY_W1), dd, c)?,
        decay_w2: ld.matrix(&n(t::DECAY_W2), c, dd)?,
        first: ld.vectors(&n(t::FIRST), &[head_size as u64, n_head as u64], 1, c)?,
        receptance: ld.matrix(&n(t::RECEPTANCE), c, c)?,
        key: ld.matrix(&n(t::KEY), c, c)?,
        value: ld.matrix(&n(t::VALUE), c, c)?,
        gate: ld.matrix(&n(t::GATE), c, c)?,
        output: ld.matrix(&n(t::OUTPUT), c, c)?,
        ln_x_w,
        ln_x_b,
        ffn: GatedFfn::load(ld, hp, l, FfnLerp::Rwkv6)?,
    })
}

pub(crate) struct Rwkv6Scratch<A> {
    /// Token-shifted mixes w, k, v, r, g.
    mixes: [A; N_MIX],
    lora_mid: A,
    decay_mid: A,
    r: A,
    k: A,
    v: A,
    g: A,
    decay: A,
    y: A,
    ffn: GatedFfnScratch<A>,
}

impl<A> Rwkv6Scratch<A> {
    pub fn new<O: Ops<Act = A>>(ops: &mut O, hp: &Hparams, rows: usize) -> Result<Self, ModelError> {
        let c = hp.n_embd;
        let mut act = |cols: usize| ops.alloc(rows, cols);
        Ok(Rwkv6Scratch {
            mixes: [act(c)?, act(c)?, act(c)?, act(c)?, act(c)?],
            lora_mid: act(N_MIX * hp.token_shift_lora_rank)?,
            decay_mid: act(hp.decay_lora_rank)?,
            r: act(c)?,
            k: act(c)?,
            v: act(c)?,
            g: act(c)?,
            decay: act(c)?,
            y: act(c)?,
            ffn: GatedFfnScratch::new(ops, hp, rows)?,
        })
    }
}

/// Layer `l` on the residual stream `x` (`[T, C]`); `xn` is `[T, C]` scratch.
#[allow(clippy::too_many_arguments)]
pub(crate) fn layer<O: Ops>(
    ops: &mut O,
    hp: &Hparams,
    l: usize,
    lw: &Rwkv6Layer<O::Weight>,
    ls: &mut LayerState<O::Act>,
    s: &mut Rwkv6Scratch<O::Act>,
    x: &mut O::Act,
    xn: &mut O::Act,
) {
    ops.layer_norm(x, &lw.ln1_w, &lw.ln1_b, hp.layer_norm_eps, xn);
    {
        let [xw, xk, xv, xr, xg] = &mut s.mixes;
        ops.token_shift_lora6(xn, &mut ls.att_shift, &lw.lerp_x, &lw.lerp, &lw.w1, &lw.w2, &mut s.lora_mid, &mut [xw, xk, xv, xr, xg]);
    }
    let [xw, xk, xv, xr, xg] = &s.mixes;
    ops.matmul(&lw.receptance, xr, &mut s.r);
    ops.matmul(&lw.key, xk, &mut s.k);
    ops.matmul(&lw.value, xv, &mut s.v);
    ops.matmul(&lw.gate, xg, &mut s.g);
    ops.decay6(xw, &lw.decay_w1, &lw.decay_w2, &lw.decay, &mut s.decay_mid, &mut s.decay);
    ops.wkv6(&s.r, &s.k, &s.v, Wkv6Decay::PerToken(&s.decay), &lw.first, &mut ls.wkv, &mut s.y);
    ops.group_norm(&mut s.y, &lw.ln_x_w, &lw.ln_x_b, hp.head_size, hp.group_norm_eps);
    ops.silu_mul(&mut s.y, &s.g);
    ops.matmul(&lw.output, &s.y, xn);
    ops.add(x, xn);

    ffn::channel_mix(ops, hp, &lw.ffn, ls, &mut s.ffn, x, xn);
    let r = hp.rescale_every_n_layers;
    if r > 0 && (l + 1) % r == 0 {
        ops.scale(x, 0.5);
    }
}
