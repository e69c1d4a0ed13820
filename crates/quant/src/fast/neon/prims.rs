//! Building blocks the NEON kernels share: scalar field reads, the int8 dot step (plain NEON or
//! `sdot`), nibble and bit unpacking, prefetch.
//!
//! Everything here is `#[inline(always)]` so it is compiled into the calling kernel with that
//! kernel's target features (NEON is baseline on aarch64, so these also inline anywhere).

use core::arch::aarch64::*;

/// The f16 at `p`, widened to f32 by bit manipulation (exact for every value, including
/// subnormals, infinities and NaNs): stable Rust has no `f16` type and no fp16 intrinsics, and
/// `half`'s conversion checks CPU features at run time on each call.
#[inline(always)]
pub(crate) unsafe fn h16(p: *const u8) -> f32 {
    f16_bits_to_f32((p as *const u16).read_unaligned())
}

#[inline(always)]
pub(crate) fn f16_bits_to_f32(h: u16) -> f32 {
    let h = h as u32;
    let em = h & 0x7FFF;
    // Exponent and mantissa moved to f32's positions read as 2^-112 times the value (subnormal f16s
    // become f32 subnormals, also exact); scaling by 2^112 rebiases the exponent.
    let mut bits = (f32::from_bits(em << 13) * f32::from_bits(0x7780_0000)).to_bits();
    if em >= 0x7C00 {
        // Infinity or NaN: the rebiased exponent is finite, force it to all ones (payload kept).
        bits |= 0x7F80_0000;
    }
    f32::from_bits(bits | (h & 0x8000) << 16)
}

/// Four f16 (as u16 lanes, widened to u32) to f32, the vector form of [`f16_bits_to_f32`].
#[inline(always)]
pub(crate) unsafe fn f16x4_to_f32(x: uint32x4_t) -> float32x4_t {
    let em = vandq_u32(x, vdupq_n_u32(0x7FFF));
    let sign = vshlq_n_u32::<16>(vandq_u32(x, vdupq_n_u32(0x8000)));
    let scaled = vmulq_f32(vreinterpretq_f32_u32(vshlq_n_u32::<13>(em)), vdupq_n_f32(f32::from_bits(0x7780_0000)));
    let inf_nan = vandq_u32(vcgeq_u32(em, vdupq_n_u32(0x7C00)), vdupq_n_u32(0x7F80_0000));
    vreinterpretq_f32_u32(vorrq_u32(vorrq_u32(vreinterpretq_u32_f32(scaled), inf_nan), sign))
}

#[inline(always)]
pub(crate) unsafe fn f32_at(p: *const u8) -> f32 {
    (p as *const f32).read_unaligned()
}

#[inline(always)]
pub(crate) unsafe fn ld_s8(p: *const u8) -> int8x16_t {
    vld1q_s8(p as *const i8)
}

#[inline(always)]
pub(crate) unsafe fn ld_u8(p: *const u8) -> uint8x16_t {
    vld1q_u8(p)
}

#[inline(always)]
pub(crate) unsafe fn s8(v: uint8x16_t) -> int8x16_t {
    vreinterpretq_s8_u8(v)
}

/// `acc + ` the 16 products `w·a`, summed in groups into the four i32 lanes (which lane holds which
/// products differs between the two paths; callers only ever use all four lanes together).
///
/// `DOT`: one `sdot` (ARMv8.2 dot-product extension, emitted by `asm!` because its intrinsic is not
/// stable; only called when `is_aarch64_feature_detected!("dotprod")` said yes). Otherwise widening
/// multiplies: each i16 lane sums two products, which cannot overflow because activations are
/// quantized to |a| ≤ 127 (so |w·a| ≤ 128·127 and two of them stay below 2^15), then pairs of i16
/// lanes are added into the i32 lanes.
#[inline(always)]
pub(crate) unsafe fn dot16<const DOT: bool>(acc: int32x4_t, w: int8x16_t, a: int8x16_t) -> int32x4_t {
    if DOT {
        let mut r = acc;
        core::arch::asm!(
            ".arch_extension dotprod",
            "sdot {r:v}.4s, {w:v}.16b, {a:v}.16b",
            r = inout(vreg) r,
            w = in(vreg) w,
            a = in(vreg) a,
            options(pure, nomem, nostack, preserves_flags)
        );
        r
    } else {
        let p = vmull_s8(vget_low_s8(w), vget_low_s8(a));
        vpadalq_s16(acc, vmlal_high_s8(p, w, a))
    }
}

/// The dot of 16 bytes from a fresh zero: one sub-block's integer sum.
#[inline(always)]
pub(crate) unsafe fn dot16z<const DOT: bool>(w: int8x16_t, a: int8x16_t) -> int32x4_t {
    dot16::<DOT>(vdupq_n_s32(0), w, a)
}

/// The dot of 32 bytes (two vectors) from zero.
#[inline(always)]
pub(crate) unsafe fn dot32z<const DOT: bool>(w0: int8x16_t, w1: int8x16_t, a: *const u8) -> int32x4_t {
    dot16::<DOT>(dot16::<DOT>(vdupq_n_s32(0), w0, ld_s8(a)), w1, ld_s8(a.add(16)))
}

/// 16 packed nibbles → (low nibbles, high nibbles), 16 bytes each.
#[inline(always)]
pub(crate) unsafe fn nibbles(p: *const u8) -> (uint8x16_t, uint8x16_t) {
    let x = ld_u8(p);
    (vandq_u8(x, vdupq_n_u8(0x0F)), vshrq_n_u8::<4>(x))
}

/// 0xFF in byte i of the pair (bits 0–15, bits 16–31) where bit i of `bits` is set.
#[inline(always)]
pub(crate) unsafe fn bytes_from_bits(bits: u32) -> (uint8x16_t, uint8x16_t) {
    let b = bits.to_le_bytes();
    // Byte j of each half tests bit j mod 8 of the broadcast source byte.
    let select = vreinterpretq_u8_u64(vdupq_n_u64(0x8040_2010_0804_0201));
    let lo = vcombine_u8(vdup_n_u8(b[0]), vdup_n_u8(b[1]));
    let hi = vcombine_u8(vdup_n_u8(b[2]), vdup_n_u8(b[3]));
    (vtstq_u8(lo, select), vtstq_u8(hi, select))
}

/// Hints the weight bytes `PREFETCH_AHEAD` past a block of `bytes` at `p` into L1 (decode only: a
/// token step streams each weight once, and hardware prefetchers stop at page ends). `prfm` never
/// faults, so addresses past the buffer are harmless; the intrinsic is unstable, hence `asm!`.
#[inline(always)]
pub(crate) unsafe fn prefetch_ahead(p: *const u8, bytes: usize) {
    let mut off = 0;
    while off < bytes {
        let q = p.wrapping_add(crate::fast::PREFETCH_AHEAD + off);
        core::arch::asm!("prfm pldl1keep, [{q}]", q = in(reg) q, options(nostack, readonly, preserves_flags));
        off += 64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_bits_convert_exactly() {
        for h in 0..=u16::MAX {
            let want = half::f16::from_bits(h).to_f32();
            let got = f16_bits_to_f32(h);
            assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()), "{h:#06x}: {got} vs {want}");
            let v = unsafe { vgetq_lane_f32::<0>(f16x4_to_f32(vdupq_n_u32(h as u32))) };
            assert!(v.to_bits() == want.to_bits() || (v.is_nan() && want.is_nan()), "vector {h:#06x}: {v} vs {want}");
        }
    }

    #[test]
    fn bytes_from_bits_marks_each_set_bit() {
        let bits = 0xA5C3_0F81u32;
        let (lo, hi) = unsafe { bytes_from_bits(bits) };
        let mut got = [0u8; 32];
        unsafe {
            vst1q_u8(got.as_mut_ptr(), lo);
            vst1q_u8(got.as_mut_ptr().add(16), hi);
        }
        for (i, g) in got.iter().enumerate() {
            assert_eq!(*g, if bits >> i & 1 == 1 { 0xFF } else { 0 }, "bit {i}");
        }
    }
}
