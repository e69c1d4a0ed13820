//! matmul with quant's fast kernels: the activation rows are quantized once per call (in parallel),
//! then the weight rows are split into tiles across the pool. Decode (one token) streams each
//! weight row once; prefill walks a tile's rows once per group of four activation rows, so the
//! tile (a few KiB) and the activation rows stay in L1 while each weight block is decoded once per
//! group.
//!
//! Each token has `planes` activation rows (see `quant::fast::quantize_acts_planes`): 1 is ggml's
//! 8-bit scheme, 2 adds the quantized residual for ~15-bit activations; the kernel's results for a
//! token's planes are summed.

use quant::fast::RowKernel;

use super::Disjoint;
use crate::pool::Pool;

/// Weight rows per prefill tile.
const TILE_ROWS: usize = 16;
/// Activation rows per prefill task (a multiple of every kernel width and plane count).
const TASK_ROWS: usize = 64;
/// Weight rows per decode step inside a task (bounds the stack buffer).
const DECODE_STEP: usize = 64;
/// Below this many multiply-adds a single-token matmul runs on the calling thread: handing it to
/// the pool costs more than it saves (the LoRAs' small matrices).
const SERIAL_MACS: usize = 40_000;

/// `out[t][m] = W[m] · x[t]`: W `[M, K]` (rows of `kern.row_bytes()`), x `[T, K]`, out `[T, M]`.
/// `acts` is scratch for the quantized activations; `planes` is 1 or 2. Chunks of 16+ tokens run
/// on AMX tiles where usable (`amx_matmul`); F32 weights only with `f32_tiles` (the backend allows
/// it for models whose big matrices are not F32, so F32 files keep f32 arithmetic).
#[allow(clippy::too_many_arguments)]
pub fn matmul(pool: &Pool, kern: &RowKernel, w: &[u8], x: &[f32], k: usize, out: &mut [f32], acts: &mut Vec<u8>, planes: usize, f32_tiles: bool) {
    let t = x.len() / k;
    let m = w.len() / kern.row_bytes();
    assert_eq!(out.len(), t * m, "matmul output of {t} tokens × {m} rows");
    if let Some(mm) = super::amx_matmul::plan(kern.ty(), k, t, f32_tiles) {
        super::amx_matmul::matmul(pool, &mm, w, x, k, out);
        return;
    }
    let p = quant::fast::act_planes(kern.ty(), planes);
    let arb = kern.act_row_bytes();
    acts.resize(t * p * arb, 0);
    quantize(pool, kern, x, k, p, acts);
    let acts = &acts[..];
    let rb = kern.row_bytes();
    let threads = pool.threads();

    if t == 1 {
        // Enough tasks to balance, few enough that each streams a useful run of rows.
        let per = if m * k < SERIAL_MACS { m } else { m.div_ceil(threads * 4).max(8) };
        let shared = Disjoint::new(out);
        pool.run(m.div_ceil(per), &|i| {
            let lo = i * per;
            let hi = (lo + per).min(m);
            // SAFETY: task i owns output rows lo..hi.
            let o = unsafe { shared.range(lo, hi - lo) };
            if p == 1 {
                kern.dot(&w[lo * rb..hi * rb], acts, o).expect("geometry checked by the backend");
                return;
            }
            let mut buf = [0f32; DECODE_STEP * 2];
            for (c, oc) in o.chunks_mut(DECODE_STEP).enumerate() {
                let r0 = lo + c * DECODE_STEP;
                let part = &mut buf[..oc.len() * p];
                kern.dot(&w[r0 * rb..(r0 + oc.len()) * rb], acts, part).expect("geometry checked by the backend");
                for (j, v) in oc.iter_mut().enumerate() {
                    *v = part[j * p..(j + 1) * p].iter().sum();
                }
            }
        });
        return;
    }

    // Prefill: tasks are (weight-row tile) × (run of activation rows), so the last tasks are short.
    let rows_total = t * p;
    // Whole tokens per kernel call (all planes of a token in one call), at most 8 rows.
    let group = ((kern.max_rows() / p).max(1) * p).min(8);
    let tile = if m.div_ceil(TILE_ROWS) >= threads * 2 { TILE_ROWS } else { m.div_ceil(threads * 2).max(1) };
    let row_tiles = m.div_ceil(tile);
    let shared = Disjoint::new(out);
    pool.run(row_tiles * rows_total.div_ceil(TASK_ROWS), &|i| {
        let lo = (i % row_tiles) * tile;
        let hi = (lo + tile).min(m);
        let rows = hi - lo;
        let first = (i / row_tiles) * TASK_ROWS;
        let last = (first + TASK_ROWS).min(rows_total);
        let mut buf = [0f32; TILE_ROWS * 8];
        let mut a0 = first;
        while a0 < last {
            let n = (last - a0).min(group);
            let part = &mut buf[..rows * n];
            kern.dot(&w[lo * rb..hi * rb], &acts[a0 * arb..(a0 + n) * arb], part).expect("geometry checked by the backend");
            for r in 0..rows {
                for j in (0..n).step_by(p) {
                    let v: f32 = part[r * n + j..r * n + j + p].iter().sum();
                    // SAFETY: this task owns output columns lo..hi of its token rows.
                    unsafe { shared.write(((a0 + j) / p) * m + lo + r, v) };
                }
            }
            a0 += n;
        }
    });
}

/// Quantizes the rows of `x` into `acts` (`p` planes each), in parallel for more than a few rows.
fn quantize(pool: &Pool, kern: &RowKernel, x: &[f32], k: usize, p: usize, acts: &mut [u8]) {
    let t = x.len() / k;
    let tb = kern.act_row_bytes() * p;
    let ty = kern.ty();
    if t <= 2 {
        quant::fast::quantize_acts_planes(ty, x, k, p, acts).expect("geometry checked by the backend");
        return;
    }
    let per = t.div_ceil(pool.threads() * 4).max(1);
    let shared = Disjoint::new(acts);
    pool.run(t.div_ceil(per), &|i| {
        let lo = i * per;
        let hi = (lo + per).min(t);
        // SAFETY: task i owns activation rows lo..hi.
        let dst = unsafe { shared.range(lo * tb, (hi - lo) * tb) };
        quant::fast::quantize_acts_planes(ty, &x[lo * k..hi * k], k, p, dst).expect("geometry checked by the backend");
    });
}
