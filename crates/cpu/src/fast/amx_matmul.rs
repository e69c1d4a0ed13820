//! Prefill matmul on AMX BF16 tiles (`quant::fast::amx`), for chunks of at least
//! [`MIN_TOKENS`] tokens: the activation rows are split into bf16 pairs and packed once per call
//! (tiles of 16 tokens, in parallel), then each task dequantizes one block of 32 weight rows into
//! its own thread's buffer and multiplies it with every activation tile, so each weight is decoded
//! once per chunk however many tokens the chunk has.
//!
//! F32 weights keep the f32 kernels unless the caller allows tiles (the split keeps ~16 bits and
//! F32 files are held to 1e-4; the backend allows it only in models with non-F32 matrices, where
//! the F32 ones are small LoRAs), and everything does when AMX is not usable (no AMX-BF16, the OS refused the tile state,
//! `AVIARY_AMX=0`, or `AVIARY_SIMD` below avx512).

use std::cell::RefCell;

use quant::fast::amx::{AmxMatmul, BLOCK_ROWS, TOKEN_TILE};
use quant::GgmlType;

use super::Disjoint;
use crate::pool::Pool;

/// Fewest tokens worth a tile pass: below one tile most of each tile multiplies zeros, and the
/// integer kernels reading the weights in place are faster.
pub const MIN_TOKENS: usize = 16;

/// Per-thread scratch of the weight side: the packed block and a dequantized row.
#[derive(Default)]
struct BlockScratch {
    block: Vec<u16>,
    row: Vec<f32>,
}

thread_local! {
    static BLOCK: RefCell<BlockScratch> = RefCell::new(BlockScratch::default());
    /// The packed activation tiles of the call in progress (owned by the calling thread).
    static ACTS: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// The AMX kernel for a weight of `ty` with rows of `k`, when the path applies to `t` tokens (F32
/// weights only with `f32_tiles`).
pub fn plan(ty: GgmlType, k: usize, t: usize, f32_tiles: bool) -> Option<AmxMatmul> {
    if t < MIN_TOKENS || (ty == GgmlType::F32 && !f32_tiles) {
        return None;
    }
    AmxMatmul::new(ty, k).ok()
}

/// `out[t][m] = W[m] · x[t]` on the tiles: W `[M, K]` stored rows (`w`), x `[T, K]`, out `[T, M]`.
pub fn matmul(pool: &Pool, mm: &AmxMatmul, w: &[u8], x: &[f32], k: usize, out: &mut [f32]) {
    let t = x.len() / k;
    let rb = mm.row_bytes();
    let m = w.len() / rb;
    assert_eq!(out.len(), t * m, "matmul output of {t} tokens × {m} rows");
    let mut acts = ACTS.with(|a| std::mem::take(&mut *a.borrow_mut()));
    let tw = mm.act_tile_words();
    let tiles = t.div_ceil(TOKEN_TILE);
    acts.resize(tiles * tw, 0);
    {
        let shared = Disjoint::new(&mut acts);
        pool.run(tiles, &|i| {
            let rows = &x[i * TOKEN_TILE * k..((i + 1) * TOKEN_TILE).min(t) * k];
            // SAFETY: task i owns tile i.
            let tile = unsafe { shared.range(i * tw, tw) };
            mm.pack_act_tile(rows, tile).expect("tile geometry from the same kernel");
        });
    }
    let acts_ref = &acts[..];
    let shared = Disjoint::new(out);
    pool.run(m.div_ceil(BLOCK_ROWS), &|b| {
        let lo = b * BLOCK_ROWS;
        let rows = (m - lo).min(BLOCK_ROWS);
        BLOCK.with(|s| {
            let s = &mut *s.borrow_mut();
            s.block.resize(mm.weight_block_len(), 0);
            mm.pack_weight_block(&w[lo * rb..(lo + rows) * rb], &mut s.block, &mut s.row).expect("block geometry from the same kernel");
            // SAFETY: this task alone writes output columns lo..lo + rows of every token row, and
            // those lie inside `out` ([t, m], checked above).
            unsafe {
                let (base, len) = shared.as_mut_ptr();
                debug_assert!((t - 1) * m + lo + rows <= len);
                mm.multiply_strided(&s.block, acts_ref, t, rows, base.add(lo), m).expect("tile geometry from the same kernel");
            }
        });
    });
    ACTS.with(|a| *a.borrow_mut() = acts);
}
