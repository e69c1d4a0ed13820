//! Per-sequence recurrent state: resident on the backend while a sequence runs, copied to the host
//! to save or restore it.

use crate::{Hparams, ModelError, Ops};

/// One layer's recurrent state on a backend.
pub(crate) struct LayerState<A> {
    /// LN1 output of the previous token, `[1, C]`.
    pub att_shift: A,
    /// LN2 output of the previous token, `[1, C]`.
    pub ffn_shift: A,
    /// WKV state ([`Hparams::wkv_state_shape`]): `[n_head, N·N]` matrices, value-major within a
    /// head for RWKV-7 and key-major for RWKV-5/6; `[3, C]` (aa, bb, pp) for RWKV-4.
    pub wkv: A,
}

pub(crate) struct SeqState<A> {
    pub layers: Vec<LayerState<A>>,
}

impl<A> SeqState<A> {
    /// A zero state (the start of every sequence). For RWKV-4 too: with `aa = bb = 0` the value
    /// of `pp` does not matter (rwkv.cpp starts it at −1e30; the results are the same).
    pub fn zeros<O: Ops<Act = A>>(ops: &mut O, hp: &Hparams) -> Result<Self, ModelError> {
        let (rows, cols) = hp.wkv_state_shape();
        let layers = (0..hp.n_layer)
            .map(|_| {
                Ok(LayerState {
                    att_shift: ops.alloc(1, hp.n_embd)?,
                    ffn_shift: ops.alloc(1, hp.n_embd)?,
                    wkv: ops.alloc(rows, cols)?,
                })
            })
            .collect::<Result<_, ModelError>>()?;
        Ok(SeqState { layers })
    }

    pub fn to_host<O: Ops<Act = A>>(&self, ops: &mut O, hp: &Hparams) -> Result<HostState, ModelError> {
        let mut data = Vec::with_capacity(hp.n_layer * hp.state_len_per_layer());
        for l in &self.layers {
            data.extend(ops.read(&l.att_shift)?);
            data.extend(ops.read(&l.ffn_shift)?);
            data.extend(ops.read(&l.wkv)?);
        }
        Ok(HostState { n_layer: hp.n_layer, n_embd: hp.n_embd, head_size: hp.wkv_values_per_channel(), data })
    }

    pub fn from_host<O: Ops<Act = A>>(&mut self, ops: &mut O, hp: &Hparams, s: &HostState) -> Result<(), ModelError> {
        s.check_fits(hp)?;
        let c = hp.n_embd;
        for (l, chunk) in self.layers.iter_mut().zip(s.data.chunks_exact(hp.state_len_per_layer())) {
            ops.write(&mut l.att_shift, &chunk[..c])?;
            ops.write(&mut l.ffn_shift, &chunk[c..2 * c])?;
            ops.write(&mut l.wkv, &chunk[2 * c..])?;
        }
        Ok(())
    }
}

/// A sequence's state on the host: per layer `[att_shift (C), ffn_shift (C), wkv (C·head_size)]` in
/// f32 (the layout of [`LayerState`]).
#[derive(Clone, Debug, PartialEq)]
pub struct HostState {
    pub n_layer: usize,
    pub n_embd: usize,
    /// WKV values per channel ([`Hparams::wkv_values_per_channel`]): the head size, or 3 for RWKV-4.
    pub head_size: usize,
    pub data: Vec<f32>,
}

impl HostState {
    /// Fails with [`ModelError::StateMismatch`] unless this state has the dimensions of `hp`'s model.
    pub fn check_fits(&self, hp: &Hparams) -> Result<(), ModelError> {
        let checks = [
            ("n_layer", hp.n_layer, self.n_layer),
            ("n_embd", hp.n_embd, self.n_embd),
            ("head_size", hp.wkv_values_per_channel(), self.head_size),
            ("length", hp.n_layer * hp.state_len_per_layer(), self.data.len()),
        ];
        for (what, expected, found) in checks {
            if expected != found {
                return Err(ModelError::StateMismatch { what, expected, found });
            }
        }
        Ok(())
    }
}

/// The recurrent state a step's rows read and update: one sequence whose consecutive tokens are the
/// rows (prefill and single decode), or one sequence per row (a batched decode step).
pub(crate) enum StepState<'a, A> {
    Sequence(&'a mut LayerState<A>),
    PerRow(Vec<&'a mut LayerState<A>>),
}

/// Which token-shift state an op reads.
#[derive(Clone, Copy)]
pub(crate) enum Shift {
    Att,
    Ffn,
}

impl Shift {
    fn of<A>(self, ls: &mut LayerState<A>) -> &mut A {
        match self {
            Shift::Att => &mut ls.att_shift,
            Shift::Ffn => &mut ls.ffn_shift,
        }
    }
}

impl<'a, A> StepState<'a, A> {
    /// [`Ops::token_shift_lerp`] on this step's state.
    pub fn token_shift_lerp<O: Ops<Act = A>>(&mut self, ops: &mut O, shift: Shift, x: &A, mu: &O::Weight, outs: &mut [&mut A]) {
        match self {
            StepState::Sequence(ls) => ops.token_shift_lerp(x, shift.of(ls), mu, outs),
            StepState::PerRow(rows) => {
                let mut shifts: Vec<&mut A> = rows.iter_mut().map(|ls| shift.of(ls)).collect();
                ops.token_shift_lerp_rows(x, &mut shifts, mu, outs)
            }
        }
    }

    /// [`Ops::wkv7`] on this step's state.
    #[allow(clippy::too_many_arguments)]
    pub fn wkv7<O: Ops<Act = A>>(
        &mut self,
        ops: &mut O,
        r: &A,
        decay: &A,
        k: &mut A,
        v: &A,
        a: &A,
        k_k: &O::Weight,
        k_a: &O::Weight,
        y: &mut A,
    ) {
        match self {
            StepState::Sequence(ls) => ops.wkv7(r, decay, k, v, a, k_k, k_a, &mut ls.wkv, y),
            StepState::PerRow(rows) => {
                let mut states: Vec<&mut A> = rows.iter_mut().map(|ls| &mut ls.wkv).collect();
                ops.wkv7_rows(r, decay, k, v, a, k_k, k_a, &mut states, y)
            }
        }
    }
}
