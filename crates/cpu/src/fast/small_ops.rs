//! The row-wise ops (layer norm, token-shift lerp, the WKV output stage, element-wise ops, the LoRA
//! activations) split over token rows on the pool for prefill. Each row is computed by the
//! reference kernel's own code (or the same formula), so results equal the references exactly;
//! a single token runs on the calling thread (no hand-off for a few microseconds of work).

use model::LoraKind;
use quant::fast::RowKernel;

use super::{matmul, Disjoint};
use super::activations::{self, Activation};
use crate::kernels::wkv7_output::Wkv7OutputInputs;
use crate::kernels::{elementwise, layer_norm, wkv7_output};
use crate::pool::Pool;

/// Below this many values, an op runs on the calling thread.
const PARALLEL_MIN: usize = 16 * 1024;

/// Calls `f(lo, hi)` on ranges covering `0..rows`, in parallel when `rows × cols` is large.
fn par_rows(pool: &Pool, rows: usize, cols: usize, f: &(dyn Fn(usize, usize) + Sync)) {
    if rows * cols < PARALLEL_MIN || rows < 2 {
        f(0, rows);
        return;
    }
    let per = rows.div_ceil(pool.threads() * 4).max(1);
    pool.run(rows.div_ceil(per), &|i| f(i * per, ((i + 1) * per).min(rows)));
}

pub fn layer_norm(pool: &Pool, x: &[f32], w: &[f32], b: &[f32], eps: f32, out: &mut [f32]) {
    let c = w.len();
    let o = Disjoint::new(out);
    par_rows(pool, x.len() / c, c, &|lo, hi| {
        // SAFETY: each range of rows is written by one task.
        let dst = unsafe { o.range(lo * c, (hi - lo) * c) };
        layer_norm::layer_norm(&x[lo * c..hi * c], w, b, eps, dst);
    });
}

pub fn token_shift_lerp(pool: &Pool, x: &[f32], shift: &mut [f32], mu: &[f32], outs: &mut [&mut [f32]]) {
    let c = shift.len();
    let rows = x.len() / c;
    let outs: Vec<Disjoint<f32>> = outs.iter_mut().map(|o| Disjoint::new(o)).collect();
    let prev_row: &[f32] = shift;
    par_rows(pool, rows, c * outs.len(), &|lo, hi| {
        for t in lo..hi {
            let cur = &x[t * c..(t + 1) * c];
            let prev = if t == 0 { prev_row } else { &x[(t - 1) * c..t * c] };
            for (i, out) in outs.iter().enumerate() {
                let m = &mu[i * c..(i + 1) * c];
                // SAFETY: row t of every output belongs to this task.
                let o = unsafe { out.range(t * c, c) };
                for j in 0..c {
                    o[j] = cur[j] + (prev[j] - cur[j]) * m[j];
                }
            }
        }
    });
    if rows > 0 {
        shift.copy_from_slice(&x[(rows - 1) * c..]);
    }
}

pub fn wkv7_output(pool: &Pool, inp: &Wkv7OutputInputs, y: &mut [f32], head_size: usize, eps: f32) {
    let c = inp.r_k.len();
    let yd = Disjoint::new(y);
    par_rows(pool, inp.r.len() / c, c, &|lo, hi| {
        let (a, b) = (lo * c, hi * c);
        let part = Wkv7OutputInputs { r: &inp.r[a..b], k: &inp.k[a..b], v: &inp.v[a..b], g: &inp.g[a..b], ..*inp };
        // SAFETY: rows lo..hi of y belong to this task.
        wkv7_output::wkv7_output(&part, unsafe { yd.range(a, b - a) }, head_size, eps);
    });
}

/// Element-wise `f` over `x` in parallel chunks.
fn par_map(pool: &Pool, x: &mut [f32], f: &(dyn Fn(&mut [f32], usize) + Sync)) {
    const CHUNK: usize = 4096;
    let n = x.len();
    let xd = Disjoint::new(x);
    par_rows(pool, n.div_ceil(CHUNK), CHUNK, &|lo, hi| {
        let (a, b) = (lo * CHUNK, (hi * CHUNK).min(n));
        // SAFETY: chunks lo..hi belong to this task.
        f(unsafe { xd.range(a, b - a) }, a);
    });
}

pub fn add(pool: &Pool, x: &mut [f32], y: &[f32]) {
    par_map(pool, x, &|part, at| elementwise::add(part, &y[at..at + part.len()]));
}

pub fn relu_square(pool: &Pool, x: &mut [f32]) {
    par_map(pool, x, &|part, _| elementwise::relu_square(part));
}

pub fn value_residual(pool: &Pool, v: &mut [f32], v_first: &[f32], mix: &[f32]) {
    par_map(pool, v, &|part, at| {
        let n = part.len();
        elementwise::value_residual(part, &v_first[at..at + n], &mix[at..at + n])
    });
}

/// A LoRA: the two matmuls on the fast kernels, activations as `kernels::lora`.
#[allow(clippy::too_many_arguments)]
pub fn lora(
    pool: &Pool,
    kind: LoraKind,
    x: &[f32],
    (ka, wa, ca): (&RowKernel, &[u8], usize),
    (kb, wb, cb): (&RowKernel, &[u8], usize),
    bias: Option<&[f32]>,
    mid: &mut [f32],
    out: &mut [f32],
    acts: &mut Vec<u8>,
    planes: usize,
    f32_tiles: bool,
) {
    matmul::matmul(pool, ka, wa, x, ca, mid, acts, planes, f32_tiles);
    match kind {
        LoraKind::Decay => par_map(pool, mid, &|p, at| activations::apply(Activation::Tanh, p, None, at)),
        LoraKind::Gate => par_map(pool, mid, &|p, at| activations::apply(Activation::Sigmoid, p, None, at)),
        LoraKind::SigmoidOut => {}
    }
    matmul::matmul(pool, kb, wb, mid, cb, out, acts, planes, f32_tiles);
    let c = out.len() / (x.len() / ca).max(1);
    let bias = bias.map(|b| &b[..c]);
    let act = match kind {
        LoraKind::Decay => Activation::Decay,
        LoraKind::SigmoidOut => Activation::Sigmoid,
        LoraKind::Gate => Activation::Identity,
    };
    if act != Activation::Identity || bias.is_some() {
        par_map(pool, out, &|p, at| activations::apply(act, p, bias, at));
    }
}
