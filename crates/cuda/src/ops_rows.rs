//! Batched decode on the GPU (`Ops::token_shift_lerp_rows`, `Ops::wkv7_rows`, and `wkv7` itself,
//! which both share): row b of a step is the one token of sequence b, whose state lives in its own
//! buffers. The kernels find each row's state through a table of device addresses, uploaded once per
//! distinct set of sequences, so a batch that keeps its sequences replays one CUDA graph step
//! after step.

use std::collections::HashMap;

use cudarc::driver::{CudaSlice, DevicePtr};

use crate::backend::{CudaBackend, WkvJob};
use crate::buffers::{CudaAct, CudaWeight};
use crate::ops::warp_round;
use crate::recorder::Arg;
use crate::CudaError;

/// Address tables kept at once; past this the cache starts over (graphs hold addresses, not
/// tables: a table freed and re-made at another address simply gives another graph key).
const MAX_ROW_TABLES: usize = 4096;

/// Device copies of per-row state address tables, by content.
#[derive(Default)]
pub(crate) struct RowTables {
    tables: HashMap<Vec<u64>, (CudaSlice<u64>, u64)>,
}

/// Where a wkv7 launch finds its state: one sequence's buffer, or a table with one per row.
pub(crate) enum WkvState {
    Sequence(u64),
    Rows { table: u64, rows: usize },
}

impl CudaBackend {
    /// The device address of a table holding `ptrs`, uploaded on first use.
    fn row_table(&mut self, ptrs: &[u64]) -> Result<u64, CudaError> {
        if let Some((_, ptr)) = self.row_tables.tables.get(ptrs) {
            return Ok(*ptr);
        }
        if self.row_tables.tables.len() >= MAX_ROW_TABLES {
            self.row_tables.tables.clear();
        }
        let buf = self.stream.clone_htod(ptrs).map_err(|e| CudaError::driver("state address table upload", e))?;
        let ptr = buf.device_ptr(&self.stream).0;
        self.row_tables.tables.insert(ptrs.to_vec(), (buf, ptr));
        Ok(ptr)
    }

    pub(crate) fn token_shift_lerp_rows_impl(&mut self, x: &CudaAct, shifts: &mut [&mut CudaAct], mu: &CudaWeight, outs: &mut [&mut CudaAct]) {
        self.flush_pending();
        let (t, c) = (x.rows, x.cols);
        let ok = outs.len() <= 6
            && shifts.len() == t
            && mu.rows >= outs.len()
            && mu.cols == c
            && shifts.iter().all(|s| s.len() == c)
            && outs.iter().all(|o| o.rows == t && o.cols == c);
        if !self.check(ok, || format!("token_shift_lerp_rows of [{t}, {c}] with {} states into {} outputs", shifts.len(), outs.len())) {
            return;
        }
        let ptrs: Vec<u64> = shifts.iter().map(|s| s.ptr).collect();
        let table = match self.row_table(&ptrs) {
            Ok(p) => p,
            Err(e) => return self.note(Err(e)),
        };
        let mut args = vec![Arg::Ptr(x.ptr), Arg::Ptr(table), Arg::Ptr(mu.ptr)];
        args.extend((0..6).map(|i| Arg::Ptr(outs.get(i).map_or(0, |o| o.ptr))));
        args.extend([Arg::I32(outs.len() as i32), Arg::I32(t as i32), Arg::I32(c as i32)]);
        self.launch("token_shift_lerp_rows", (c.div_ceil(256) as u32, t as u32, 1), 256, 0, args);
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn wkv7_rows_impl(
        &mut self,
        r: &CudaAct,
        decay: &CudaAct,
        k: &mut CudaAct,
        v: &CudaAct,
        a: &CudaAct,
        k_k: &CudaWeight,
        k_a: &CudaWeight,
        states: &mut [&mut CudaAct],
        y: &mut CudaAct,
    ) {
        let same = states.windows(2).all(|w| w[0].rows == w[1].rows && w[0].cols == w[1].cols);
        let Some(first) = states.first() else { return };
        let (h, cols) = (first.rows, first.cols);
        if !self.check(same && states.len() == k.rows, || format!("wkv7_rows over {} rows with {} states of differing shapes", k.rows, states.len())) {
            return;
        }
        let ptrs: Vec<u64> = states.iter().map(|s| s.ptr).collect();
        let table = match self.row_table(&ptrs) {
            Ok(p) => p,
            Err(e) => return self.note(Err(e)),
        };
        self.wkv7_launch(r, decay, k, v, a, k_k, k_a, h, cols, WkvState::Rows { table, rows: ptrs.len() }, y);
    }

    /// wkv7 over one sequence's rows in order, or (batched decode) one row per sequence.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn wkv7_launch(
        &mut self,
        r: &CudaAct,
        decay: &CudaAct,
        k: &mut CudaAct,
        v: &CudaAct,
        a: &CudaAct,
        k_k: &CudaWeight,
        k_a: &CudaWeight,
        heads: usize,
        state_cols: usize,
        state: WkvState,
        y: &mut CudaAct,
    ) {
        self.flush_pending();
        let n = (state_cols as f64).sqrt().round() as usize;
        let (t, c, h) = (k.rows, k.cols, heads);
        let shared = (n * (n + 1) + 5 * n + 32) * 4;
        let shapes = n * n == state_cols
            && h * n == c
            && [r, decay, v, a, &*y].iter().all(|b| b.rows == t && b.cols == c)
            && k_k.cols == c
            && k_a.cols == c;
        // One sequence: T = t tokens in order. Batched: T = 1 per block, blocks (head, row).
        let (state_ptr, rows_table, grid_rows, kernel_t) = match state {
            WkvState::Sequence(p) => (p, 0, 1, t),
            WkvState::Rows { table, rows } => (0, table, rows, 1),
        };
        // Both kernels take the same arguments; the generic one also takes the head size.
        let mut args = vec![
            Arg::Ptr(r.ptr),
            Arg::Ptr(decay.ptr),
            Arg::Ptr(k.ptr),
            Arg::Ptr(v.ptr),
            Arg::Ptr(a.ptr),
            Arg::Ptr(k_k.ptr),
            Arg::Ptr(k_a.ptr),
            Arg::Ptr(state_ptr),
            Arg::Ptr(y.ptr),
            Arg::I32(kernel_t as i32),
            Arg::I32(c as i32),
        ];
        if let WkvState::Sequence(p) = state {
            if shapes && n == 64 && self.tuning.fast_wkv && self.wkv7_split(r, decay, k, v, a, k_k, k_a, h, p, y) {
                return;
            }
        }
        if shapes && n == 64 && self.tuning.fast_wkv {
            // Held back (flush_pending launches it unfused) in case the output stage follows.
            self.pending_wkv = Some(WkvJob {
                args,
                heads: h,
                rows: grid_rows,
                rows_table,
                y: y.ptr,
                r: r.ptr,
                k: k.ptr,
                v: v.ptr,
            });
            if !self.tuning.fuse {
                self.flush_pending();
            }
            return;
        }
        let ok = shapes && n <= 1024 && shared <= self.shared_limit;
        if !self.check(ok, || format!("wkv7 over [{t}, {c}] with state [{h}, {state_cols}] ({shared} bytes of shared memory)")) {
            return;
        }
        args.extend([Arg::I32(n as i32), Arg::Ptr(rows_table)]);
        self.launch("wkv7", (h as u32, grid_rows as u32, 1), warp_round(n), shared as u32, args);
    }
}
