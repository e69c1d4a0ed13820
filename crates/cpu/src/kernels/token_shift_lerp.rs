//! token_shift_lerp: with `prev[0] = shift`, `prev[t] = x[t−1]`:
//! `outs[i][t] = x[t] + (prev[t] − x[t]) · mu[i]`; then `shift = x[T−1]`.
//! x: `[T, C]`; shift: `[C]`; mu: `[K, C]`; outs: K buffers of `[T, C]`.

pub fn token_shift_lerp(x: &[f32], shift: &mut [f32], mu: &[f32], outs: &mut [&mut [f32]]) {
    let c = shift.len();
    let rows = x.len() / c;
    for t in 0..rows {
        let cur = &x[t * c..(t + 1) * c];
        let prev = if t == 0 { &shift[..] } else { &x[(t - 1) * c..t * c] };
        for (i, out) in outs.iter_mut().enumerate() {
            let m = &mu[i * c..(i + 1) * c];
            let o = &mut out[t * c..(t + 1) * c];
            for j in 0..c {
                o[j] = cur[j] + (prev[j] - cur[j]) * m[j];
            }
        }
    }
    if rows > 0 {
        shift.copy_from_slice(&x[(rows - 1) * c..]);
    }
}
