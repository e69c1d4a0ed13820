//! The tile kernel: one packed block of 32 weight rows times every activation tile, in `asm!`
//! (Rust's AMX intrinsics are unstable; the assembler knows the instructions).
//!
//! Tile registers: tmm0–3 accumulate the 2×2 product tiles `C[row tile][token tile]`
//! (tmm0 = rows 0–15 × tokens 0–15, tmm1 = rows 0–15 × tokens 16–31, tmm2 = rows 16–31 × tokens
//! 0–15, tmm3 = rows 16–31 × tokens 16–31); tmm4/5 hold weight tiles, tmm6/7 activation tiles.
//! Each step of 32 K-elements issues the split terms as passes over the four accumulators, so
//! consecutive `tdpbf16ps` never wait on each other's result. Every tile the kernel loads is 1 KiB
//! of consecutive bytes (see the layouts in `mod.rs`), read in the order it is stored.

use core::arch::asm;

use super::{Terms, BLOCK_ROWS, TOKEN_TILE};

/// `ldtilecfg`'s 64-byte operand: palette 1, tiles 0–7 of 16 rows × 64 bytes.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

impl TileConfig {
    fn full() -> TileConfig {
        let mut c = [0u8; 64];
        c[0] = 1;
        for t in 0..8 {
            c[16 + 2 * t] = 64; // bytes per row (u16 little-endian; high byte stays 0)
            c[48 + t] = 16; // rows
        }
        TileConfig(c)
    }
}

const PREFETCH: bool = true;

#[repr(C, align(64))]
struct Products([[f32; 256]; 4]);

/// A zero activation step (hi and lo), standing in for the second token tile of an odd count.
#[repr(C, align(64))]
struct ZeroStep([u32; 512]);
static ZERO_STEP: ZeroStep = ZeroStep([0; 512]);

/// hi(w)·hi(x) for one K step: `w` = the step's four weight tiles (hi rows 0–15, hi rows 16–31,
/// lo rows 0–15, lo rows 16–31), `b0`/`b1` = the step's two activation tiles (hi, then lo).
#[inline(always)]
unsafe fn step_one_term(w: *const u8, b0: *const u8, b1: *const u8) {
    asm!(
        "tileloadd tmm6, [{b0} + {s}*1]",
        "tileloadd tmm7, [{b1} + {s}*1]",
        "tileloadd tmm4, [{w} + {s}*1]",
        "tileloadd tmm5, [{w} + {s}*1 + 1024]",
        "tdpbf16ps tmm0, tmm4, tmm6",
        "tdpbf16ps tmm1, tmm4, tmm7",
        "tdpbf16ps tmm2, tmm5, tmm6",
        "tdpbf16ps tmm3, tmm5, tmm7",
        b0 = in(reg) b0, b1 = in(reg) b1, w = in(reg) w, s = in(reg) 64usize,
        options(nostack, readonly, preserves_flags),
    );
}

/// hi(w)·hi(x) + hi(w)·lo(x).
#[inline(always)]
unsafe fn step_two_terms(w: *const u8, b0: *const u8, b1: *const u8) {
    asm!(
        "tileloadd tmm6, [{b0} + {s}*1]",
        "tileloadd tmm7, [{b1} + {s}*1]",
        "tileloadd tmm4, [{w} + {s}*1]",
        "tileloadd tmm5, [{w} + {s}*1 + 1024]",
        "tdpbf16ps tmm0, tmm4, tmm6",
        "tdpbf16ps tmm1, tmm4, tmm7",
        "tdpbf16ps tmm2, tmm5, tmm6",
        "tdpbf16ps tmm3, tmm5, tmm7",
        "tileloadd tmm6, [{b0} + {s}*1 + 1024]",
        "tileloadd tmm7, [{b1} + {s}*1 + 1024]",
        "tdpbf16ps tmm0, tmm4, tmm6",
        "tdpbf16ps tmm1, tmm4, tmm7",
        "tdpbf16ps tmm2, tmm5, tmm6",
        "tdpbf16ps tmm3, tmm5, tmm7",
        b0 = in(reg) b0, b1 = in(reg) b1, w = in(reg) w, s = in(reg) 64usize,
        options(nostack, readonly, preserves_flags),
    );
}

/// hi(w)·hi(x) + hi(w)·lo(x) + lo(w)·hi(x).
#[inline(always)]
unsafe fn step_three_terms(w: *const u8, b0: *const u8, b1: *const u8) {
    asm!(
        "tileloadd tmm6, [{b0} + {s}*1]",
        "tileloadd tmm7, [{b1} + {s}*1]",
        "tileloadd tmm4, [{w} + {s}*1]",
        "tileloadd tmm5, [{w} + {s}*1 + 1024]",
        "tdpbf16ps tmm0, tmm4, tmm6",
        "tdpbf16ps tmm1, tmm4, tmm7",
        "tdpbf16ps tmm2, tmm5, tmm6",
        "tdpbf16ps tmm3, tmm5, tmm7",
        "tileloadd tmm6, [{b0} + {s}*1 + 1024]",
        "tileloadd tmm7, [{b1} + {s}*1 + 1024]",
        "tdpbf16ps tmm0, tmm4, tmm6",
        "tdpbf16ps tmm1, tmm4, tmm7",
        "tdpbf16ps tmm2, tmm5, tmm6",
        "tdpbf16ps tmm3, tmm5, tmm7",
        "tileloadd tmm6, [{b0} + {s}*1]",
        "tileloadd tmm7, [{b1} + {s}*1]",
        "tileloadd tmm4, [{w} + {s}*1 + 2048]",
        "tileloadd tmm5, [{w} + {s}*1 + 3072]",
        "tdpbf16ps tmm0, tmm4, tmm6",
        "tdpbf16ps tmm1, tmm4, tmm7",
        "tdpbf16ps tmm2, tmm5, tmm6",
        "tdpbf16ps tmm3, tmm5, tmm7",
        b0 = in(reg) b0, b1 = in(reg) b1, w = in(reg) w, s = in(reg) 64usize,
        options(nostack, readonly, preserves_flags),
    );
}

/// See [`AmxMatmul::multiply`](super::AmxMatmul::multiply); lengths are checked there.
///
/// # Safety
/// The CPU must support AMX-BF16 and the process must hold the tile-data permission; `block` holds
/// `steps · 4 · 512` values, `acts` `toks.div_ceil(16)` tiles of `steps · 512` words; `out` is
/// writable at `t·stride + r` for `t < toks`, `r < rows ≤ 32`.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn multiply(block: &[u16], steps: usize, terms: Terms, acts: &[u32], toks: usize, rows: usize, out: *mut f32, stride: usize) {
    let cfg = TileConfig::full();
    asm!("ldtilecfg [{}]", in(reg) cfg.0.as_ptr(), options(nostack, readonly, preserves_flags));
    let tile_bytes = steps * 2048;
    let w = block.as_ptr() as *const u8;
    let tiles = toks.div_ceil(TOKEN_TILE);
    let mut c = Products([[0f32; 256]; 4]);
    let mut tp = 0;
    while tp < tiles {
        let two = tp + 1 < tiles;
        let b0 = (acts.as_ptr() as *const u8).add(tp * tile_bytes);
        // An odd last tile pairs with a zero step (read again for every step).
        let (b1, b1_step) = if two { (b0.add(tile_bytes), 2048) } else { (ZERO_STEP.0.as_ptr() as *const u8, 0) };
        asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3", options(nostack, nomem, preserves_flags));
        for s in 0..steps {
            let (ws, x0, x1) = (w.add(s * 4096), b0.add(s * 2048), b1.add(s * b1_step));
            if PREFETCH {
                let ahead = 2;
                for l in (0..2048).step_by(64) {
                    core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(x0.wrapping_add(ahead * 2048 + l) as *const i8);
                    core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(x1.wrapping_add(ahead * b1_step + l) as *const i8);
                }
            }
            match terms {
                Terms::One => step_one_term(ws, x0, x1),
                Terms::Two => step_two_terms(ws, x0, x1),
                Terms::Three => step_three_terms(ws, x0, x1),
            }
        }
        asm!(
            "tilestored [{c0} + {s}*1], tmm0",
            "tilestored [{c1} + {s}*1], tmm1",
            "tilestored [{c2} + {s}*1], tmm2",
            "tilestored [{c3} + {s}*1], tmm3",
            c0 = in(reg) c.0[0].as_mut_ptr(), c1 = in(reg) c.0[1].as_mut_ptr(),
            c2 = in(reg) c.0[2].as_mut_ptr(), c3 = in(reg) c.0[3].as_mut_ptr(), s = in(reg) 64usize,
            options(nostack, preserves_flags),
        );
        // C[row][token] → out[token][row]: tile 0/1 are rows 0–15 of token tile 0/1, 2/3 rows 16–31.
        for half in 0..if two { 2 } else { 1 } {
            let first = (tp + half) * TOKEN_TILE;
            let n = TOKEN_TILE.min(toks - first);
            transpose_out(&c.0[half], &c.0[2 + half], n, rows, out.add(first * stride), stride);
        }
        tp += 2;
    }
    asm!("tilerelease", options(nostack, nomem, preserves_flags));
}

/// Writes token columns 0..n of two product tiles (rows 0–15 and 16–31) as the first `rows` values
/// of n output rows `stride` apart, gathering each column with one strided load per tile.
///
/// # Safety
/// As [`multiply`]'s `out`, for n tokens.
#[target_feature(enable = "avx512f")]
unsafe fn transpose_out(rows_lo: &[f32; 256], rows_hi: &[f32; 256], n: usize, rows: usize, out: *mut f32, stride: usize) {
    use core::arch::x86_64::*;
    debug_assert!(n <= TOKEN_TILE && rows <= BLOCK_ROWS);
    let idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(16));
    let m_lo = ((1u32 << rows.min(16)) - 1) as u16;
    let m_hi = ((1u32 << rows.saturating_sub(16)) - 1) as u16;
    for t in 0..n {
        let a = _mm512_i32gather_ps::<4>(idx, rows_lo.as_ptr().add(t));
        let b = _mm512_i32gather_ps::<4>(idx, rows_hi.as_ptr().add(t));
        let o = out.add(t * stride);
        // Masked stores never touch the elements past `rows` (another task's columns).
        _mm512_mask_storeu_ps(o, m_lo, a);
        _mm512_mask_storeu_ps(o.wrapping_add(16), m_hi, b);
    }
}
