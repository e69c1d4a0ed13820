//! wkv4: RWKV-4's WKV in its overflow-free form (as rwkv.cpp and ChatRWKV compute it), sequentially
//! over the T rows, independently per channel c. State rows (`[3, C]`): `aa`, `bb` (numerator and
//! denominator, scaled by `e^(−pp)`) and `pp` (the running exponent). With `w = −exp(time_decay)`,
//! `u = time_first`:
//!   `q = max(pp, u+k)`; `y = (e^(pp−q)·aa + e^(u+k−q)·v) / (e^(pp−q)·bb + e^(u+k−q))`;
//!   `q' = max(pp+w, k)`; `aa ← e^(pp+w−q')·aa + e^(k−q')·v`; `bb ← e^(pp+w−q')·bb + e^(k−q')`; `pp ← q'`.
//! k, v, y: `[T, C]`; w, u: `[C]`. A zero state is a valid start (aa = bb = 0 whatever pp is).

pub fn wkv4(k: &[f32], v: &[f32], w: &[f32], u: &[f32], state: &mut [f32], y: &mut [f32]) {
    let c = w.len();
    let (aa, rest) = state.split_at_mut(c);
    let (bb, pp) = rest.split_at_mut(c);
    for t in 0..k.len() / c {
        for ch in 0..c {
            let (kt, vt) = (k[t * c + ch], v[t * c + ch]);
            let ww = u[ch] + kt;
            let q = pp[ch].max(ww);
            let (e1, e2) = ((pp[ch] - q).exp(), (ww - q).exp());
            y[t * c + ch] = (e1 * aa[ch] + e2 * vt) / (e1 * bb[ch] + e2);
            let ww = pp[ch] + w[ch];
            let q = ww.max(kt);
            let (e1, e2) = ((ww - q).exp(), (kt - q).exp());
            aa[ch] = e1 * aa[ch] + e2 * vt;
            bb[ch] = e1 * bb[ch] + e2;
            pp[ch] = q;
        }
    }
}
