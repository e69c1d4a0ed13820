//! Multi-token WKV-7 for head size 64 with each head's state rows split over several blocks
//! (kernels/wkv7_split.cu): wkv7_h64.cu runs one block per head, which on a 2.9B model (40 heads)
//! leaves most of an H200's 132 SMs idle through a prefill. A preparation kernel first derives the
//! per-token key vectors (and replaces k by the new k in place, as every WKV-7 kernel does), so that
//! the recurrence blocks of one head only read shared inputs. The output stage then runs as
//! wkv7_output.cu (it cannot fold into a recurrence that sees only part of a head's rows).
//! Decode steps (one token, or one per sequence) keep wkv7_h64.cu.

use crate::backend::CudaBackend;
use crate::buffers::{CudaAct, CudaWeight};
use crate::recorder::Arg;

/// Fewest tokens for the split kernels: a single token has nothing to overlap, and decode steps
/// are captured as graphs around wkv7_h64.
const MIN_TOKENS: usize = 2;

impl CudaBackend {
    /// Runs the recurrence over one sequence's `k.rows` tokens with the split kernels when the
    /// tuning allows and the buffers suit them; returns false (having done nothing) otherwise.
    /// Shapes are checked by the caller (head size 64, every input [T, C], the state [H, 4096]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn wkv7_split(
        &mut self,
        r: &CudaAct,
        decay: &CudaAct,
        k: &mut CudaAct,
        v: &CudaAct,
        a: &CudaAct,
        k_k: &CudaWeight,
        k_a: &CudaWeight,
        heads: usize,
        state: u64,
        y: &mut CudaAct,
    ) -> bool {
        let rows = self.tuning.wkv_split_rows;
        let (t, c) = (k.rows, k.cols);
        // cp.async copies 16-byte pieces: every per-token buffer must start 16-byte aligned.
        let aligned = [r.ptr, decay.ptr, k.ptr, v.ptr, y.ptr, state].iter().all(|p| p % 16 == 0);
        if !matches!(rows, 8 | 16 | 32) || t < MIN_TOKENS || !aligned || t > i32::MAX as usize || c > i32::MAX as usize {
            return false;
        }
        let n = t * c;
        let scratch = match self.gemm.wkv_scratch(&self.stream, 2 * n) {
            Ok(p) => p,
            Err(e) => {
                // The step fails with the error; the recurrence counts as handled.
                self.note(Err(e));
                return true;
            }
        };
        let (kk, b) = (scratch, scratch + 4 * n as u64);
        let prep = vec![
            Arg::Ptr(k.ptr),
            Arg::Ptr(a.ptr),
            Arg::Ptr(k_k.ptr),
            Arg::Ptr(k_a.ptr),
            Arg::Ptr(kk),
            Arg::Ptr(b),
            Arg::I32(t as i32),
            Arg::I32(c as i32),
        ];
        self.launch("wkv7_split_prep", (heads as u32, t.div_ceil(8) as u32, 1), 256, 0, prep);
        let args = vec![
            Arg::Ptr(r.ptr),
            Arg::Ptr(decay.ptr),
            Arg::Ptr(k.ptr),
            Arg::Ptr(v.ptr),
            Arg::Ptr(kk),
            Arg::Ptr(b),
            Arg::Ptr(state),
            Arg::Ptr(y.ptr),
            Arg::I32(t as i32),
            Arg::I32(c as i32),
        ];
        self.launch(&format!("wkv7_split_r{rows}"), (heads as u32, (64 / rows) as u32, 1), 4 * rows as u32, 0, args);
        true
    }
}
