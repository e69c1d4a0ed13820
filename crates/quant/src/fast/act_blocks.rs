//! Bit-exact, vectorisable copies of the activation quantizers (`q8_0`, `q8_1`, `q8_k`
//! `quantize_block`) that also return the residual `x − dequantize(block)` for a second plane.
//! Written lane-wise so that, compiled behind `#[target_feature]`, the maxima, roundings and sums
//! become vector instructions; every value equals the reference's (max and integer sums are
//! exact, and each element sees the same float operations in the same order).

use half::f16;

/// Largest |x|, in 8 partial maxima (max is exact, so the order does not matter).
#[inline(always)]
fn amax(x: &[f32]) -> f32 {
    let mut m = [0f32; 8];
    for c in x.chunks_exact(8) {
        for l in 0..8 {
            m[l] = m[l].max(c[l].abs());
        }
    }
    m.iter().fold(0f32, |a, &v| a.max(v))
}

/// Q8_0 (`sum = false`, 34 bytes) or Q8_1 (`sum = true`, 36 bytes): d = max|x|/127, q = round(x/d).
#[inline(always)]
pub(crate) fn q8_32(x: &[f32], b: &mut [u8], sum: bool, res: &mut [f32]) {
    let d = amax(x) / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let dh = f16::from_f32(d);
    b[0..2].copy_from_slice(&dh.to_le_bytes());
    let dq = dh.to_f32();
    let qs_at = if sum { 4 } else { 2 };
    let mut q = [0i8; 32];
    for i in 0..32 {
        q[i] = (x[i] * id).round() as i8;
    }
    let mut total = 0i32;
    for i in 0..32 {
        b[qs_at + i] = q[i] as u8;
        total += q[i] as i32;
        res[i] = x[i] - q[i] as f32 * dq;
    }
    if sum {
        b[2..4].copy_from_slice(&f16::from_f32(total as f32 * d).to_le_bytes());
    }
}

/// Q8_K (292 bytes): the signed value of largest magnitude (the first, on ties) maps to −127.
#[inline(always)]
pub(crate) fn q8_256(x: &[f32], b: &mut [u8], res: &mut [f32]) {
    let a = amax(x);
    if a == 0.0 {
        b.fill(0);
        res[..256].copy_from_slice(&x[..256]);
        return;
    }
    let max = x[..256].iter().copied().find(|v| v.abs() == a).unwrap_or(a);
    let iscale = -127.0 / max;
    let d = 1.0 / iscale;
    let mut q = [0i8; 256];
    for i in 0..256 {
        q[i] = ((iscale * x[i]).round_ties_even() as i32).clamp(-128, 127) as i8;
    }
    for i in 0..256 {
        b[4 + i] = q[i] as u8;
        res[i] = x[i] - d * q[i] as f32;
    }
    for g in 0..16 {
        let s: i32 = q[16 * g..16 * g + 16].iter().map(|&v| v as i32).sum();
        b[260 + 2 * g..262 + 2 * g].copy_from_slice(&(s as i16).to_le_bytes());
    }
    b[0..4].copy_from_slice(&d.to_le_bytes());
}

/// Quantizes one row of `x` into `first` (and its residual into `second` when given), block by
/// block, for block formats of `elems` = 32 (Q8_0/Q8_1) or 256 (Q8_K) elements.
#[inline(always)]
pub(crate) fn row(x: &[f32], elems: usize, bytes: usize, sum: bool, first: &mut [u8], mut second: Option<&mut [u8]>) {
    let mut res = [0f32; 256];
    let mut res2 = [0f32; 256];
    for (i, xb) in x.chunks_exact(elems).enumerate() {
        let b1 = &mut first[i * bytes..(i + 1) * bytes];
        if elems == 256 {
            q8_256(xb, b1, &mut res);
        } else {
            q8_32(xb, b1, sum, &mut res);
        }
        if let Some(s) = second.as_deref_mut() {
            let b2 = &mut s[i * bytes..(i + 1) * bytes];
            if elems == 256 {
                q8_256(&res, b2, &mut res2);
            } else {
                q8_32(&res[..32], b2, sum, &mut res2);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn row_avx2(x: &[f32], elems: usize, bytes: usize, sum: bool, first: &mut [u8], second: Option<&mut [u8]>) {
    row(x, elems, bytes, sum, first, second)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
pub(crate) unsafe fn row_avx512(x: &[f32], elems: usize, bytes: usize, sum: bool, first: &mut [u8], second: Option<&mut [u8]>) {
    row(x, elems, bytes, sum, first, second)
}
