//! A model whose sequences start from a given state instead of zeros: how a state-tuning file
//! ([`crate::pth::StateTuning`]) is applied. It wraps any [`Model`], so every backend and every user
//! of the trait (the CLI, the engine's scheduler) gets it without knowing about it.

use crate::{HostState, LogitsMode, Model, ModelError, ModelInfo, StateId};

/// `inner`, with [`Model::new_state`] and [`Model::reset_state`] starting from `initial`.
pub struct WithInitialState {
    inner: Box<dyn Model>,
    initial: HostState,
}

impl WithInitialState {
    /// Fails with [`ModelError::StateMismatch`] when `initial` does not fit the model.
    pub fn new(inner: Box<dyn Model>, initial: HostState) -> Result<Self, ModelError> {
        initial.check_fits(&inner.info().hparams)?;
        Ok(WithInitialState { inner, initial })
    }

    pub fn initial(&self) -> &HostState {
        &self.initial
    }

    pub fn into_inner(self) -> Box<dyn Model> {
        self.inner
    }
}

impl Model for WithInitialState {
    fn info(&self) -> &ModelInfo {
        self.inner.info()
    }

    fn new_state(&mut self) -> Result<StateId, ModelError> {
        let id = self.inner.new_state()?;
        if let Err(e) = self.inner.load_state(id, &self.initial) {
            self.inner.drop_state(id);
            return Err(e);
        }
        Ok(id)
    }

    fn drop_state(&mut self, id: StateId) {
        self.inner.drop_state(id)
    }

    fn reset_state(&mut self, id: StateId) -> Result<(), ModelError> {
        self.inner.load_state(id, &self.initial)
    }

    fn save_state(&mut self, id: StateId) -> Result<HostState, ModelError> {
        self.inner.save_state(id)
    }

    fn load_state(&mut self, id: StateId, state: &HostState) -> Result<(), ModelError> {
        self.inner.load_state(id, state)
    }

    fn forward(&mut self, id: StateId, tokens: &[u32], mode: LogitsMode) -> Result<Vec<Vec<f32>>, ModelError> {
        self.inner.forward(id, tokens, mode)
    }

    fn forward_argmax(&mut self, id: StateId, tokens: &[u32]) -> Result<u32, ModelError> {
        self.inner.forward_argmax(id, tokens)
    }

    // Every provided method is passed on too, so a backend's batched or on-device versions stay in use.
    fn decode_batch(&mut self, ids: &[StateId], tokens: &[u32]) -> Result<Vec<Vec<f32>>, ModelError> {
        self.inner.decode_batch(ids, tokens)
    }

    fn decode_batch_argmax(&mut self, ids: &[StateId], tokens: &[u32]) -> Result<Vec<u32>, ModelError> {
        self.inner.decode_batch_argmax(ids, tokens)
    }
}
