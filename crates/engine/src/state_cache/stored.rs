//! A cached state in memory, as f32 (exact) or f16 (half the bytes).

use model::HostState;

use crate::state_file::StateDtype;

pub(crate) struct StoredState {
    n_layer: usize,
    n_embd: usize,
    head_size: usize,
    values: Values,
}

enum Values {
    F32(Vec<f32>),
    F16(Vec<half::f16>),
}

impl StoredState {
    pub fn store(state: &HostState, dtype: StateDtype) -> StoredState {
        let values = match dtype {
            StateDtype::F32 => Values::F32(state.data.clone()),
            StateDtype::F16 => Values::F16(state.data.iter().map(|&v| half::f16::from_f32(v)).collect()),
        };
        StoredState { n_layer: state.n_layer, n_embd: state.n_embd, head_size: state.head_size, values }
    }

    pub fn to_host(&self) -> HostState {
        let data = match &self.values {
            Values::F32(v) => v.clone(),
            Values::F16(v) => v.iter().map(|x| x.to_f32()).collect(),
        };
        HostState { n_layer: self.n_layer, n_embd: self.n_embd, head_size: self.head_size, data }
    }

    pub fn bytes(&self) -> usize {
        match &self.values {
            Values::F32(v) => 4 * v.len(),
            Values::F16(v) => 2 * v.len(),
        }
    }

    pub fn dtype(&self) -> StateDtype {
        match self.values {
            Values::F32(_) => StateDtype::F32,
            Values::F16(_) => StateDtype::F16,
        }
    }
}
