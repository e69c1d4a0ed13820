//! Batched decode: one step that feeds the next token of several sequences at once. Row `t` of the
//! step is sequence `t`'s token; every weight matrix is read once per step instead of once per
//! sequence, which is what makes serving many clients cheap. Backends opt in through
//! [`Ops::batched_decode`]; the other backends and RWKV-4/5/6 step the sequences one by one.

use std::collections::HashSet;

use crate::forward::{self, StepSeqs};
use crate::runner::{host_argmax, LogitsMode};
use crate::state::SeqState;
use crate::{Architecture, ModelError, Ops, Runner, StateId};

/// What a batched step returns: logits per row, or (greedy) the argmax per row.
pub(crate) enum Decoded {
    Logits(Vec<Vec<f32>>),
    Ids(Vec<u32>),
}

impl<O: Ops> Runner<O> {
    /// Feeds `tokens[i]` to sequence `ids[i]`; with `argmax` returns ids, else logits.
    pub(crate) fn decode_rows(&mut self, ids: &[StateId], tokens: &[u32], argmax: bool) -> Result<Decoded, ModelError> {
        self.check_batch(ids, tokens)?;
        let batched = ids.len() > 1 && self.ops().batched_decode() && self.info_arch() == Architecture::Rwkv7;
        if !batched {
            return self.decode_one_by_one(ids, tokens, argmax);
        }
        let mut seqs: Vec<SeqState<O::Act>> = Vec::with_capacity(ids.len());
        for id in ids {
            // Present: check_batch looked every id up.
            seqs.push(self.take_state(*id)?);
        }
        let result = self.run_rows(&mut seqs, tokens, argmax);
        for (id, state) in ids.iter().zip(seqs) {
            self.put_state(*id, state);
        }
        result
    }

    fn check_batch(&self, ids: &[StateId], tokens: &[u32]) -> Result<(), ModelError> {
        if ids.len() != tokens.len() {
            return Err(ModelError::BatchShape { ids: ids.len(), tokens: tokens.len() });
        }
        if ids.is_empty() {
            return Err(ModelError::EmptyInput);
        }
        let n_vocab = self.info_vocab();
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(ModelError::TokenOutOfRange { token: bad, n_vocab });
        }
        let mut seen = HashSet::with_capacity(ids.len());
        for id in ids {
            if !seen.insert(id.0) {
                return Err(ModelError::DuplicateState(id.0));
            }
            if !self.has_state(*id) {
                return Err(ModelError::UnknownState(id.0));
            }
        }
        Ok(())
    }

    fn decode_one_by_one(&mut self, ids: &[StateId], tokens: &[u32], argmax: bool) -> Result<Decoded, ModelError> {
        let mut rows = Vec::with_capacity(ids.len());
        let mut best = Vec::with_capacity(ids.len());
        for (&id, &t) in ids.iter().zip(tokens) {
            let (mut logits, on_device) = self.forward_chunks(id, &[t], LogitsMode::Last, argmax)?;
            let row = logits.pop().unwrap_or_default();
            if argmax {
                best.push(on_device.unwrap_or_else(|| host_argmax(&row)));
            } else {
                rows.push(row);
            }
        }
        Ok(if argmax { Decoded::Ids(best) } else { Decoded::Logits(rows) })
    }

    fn run_rows(&mut self, seqs: &mut [SeqState<O::Act>], tokens: &[u32], argmax: bool) -> Result<Decoded, ModelError> {
        let n = tokens.len();
        let mut s = self.take_scratch(n)?;
        let mut h = match self.take_head(n) {
            Ok(h) => h,
            Err(e) => {
                self.put_scratch(s);
                return Err(e);
            }
        };
        let result = (|| {
            let (ops, hp, w) = self.parts();
            ops.begin_batch_step()?;
            forward::step(ops, hp, w, StepSeqs::PerRow(seqs), &mut s, tokens);
            forward::head(ops, hp, w, &s, 0, &mut h);
            ops.end_step()?;
            if argmax {
                if let Some(ids) = ops.argmax(&h.logits) {
                    return Ok(Decoded::Ids(ids?));
                }
            }
            let flat = ops.read(&h.logits)?;
            let rows: Vec<Vec<f32>> = flat.chunks_exact(hp.n_vocab).map(<[f32]>::to_vec).collect();
            Ok(if argmax { Decoded::Ids(rows.iter().map(|r| host_argmax(r)).collect()) } else { Decoded::Logits(rows) })
        })();
        self.put_scratch(s);
        self.put_head(h);
        result
    }
}
