//! wkv6: the WKV recurrence of RWKV-6 and RWKV-5 (spec §5.1), sequentially over the T rows.
//! Per token t and head h (N = head_size), with `S[i][j]` (i = key, j = value) at
//! `state[h·N·N + i·N + j]`:
//!   `y[j] = Σ_i r[i]·(u[i]·k[i]·v[j] + S[i][j])`;  `S[i][j] ← S[i][j]·w[i] + k[i]·v[j]`.
//! r, k, v, y: `[T, C]`; decay: `[T, C]` per token, or `[C]` for every token (`per_token = false`);
//! u: `[C]`; state: `[H, N·N]`. f32 throughout, like the references (state kept in f32).

pub struct Wkv6Inputs<'a> {
    pub r: &'a [f32],
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub decay: &'a [f32],
    pub per_token: bool,
    pub u: &'a [f32],
}

pub fn wkv6(inp: &Wkv6Inputs, state: &mut [f32], y: &mut [f32], head_size: usize) {
    let c = inp.u.len();
    let n = head_size;
    for t in 0..inp.r.len() / c {
        let row = t * c;
        let w = if inp.per_token { &inp.decay[row..row + c] } else { &inp.decay[..c] };
        for h in 0..c / n {
            let s = &mut state[h * n * n..(h + 1) * n * n];
            let yh = &mut y[row + h * n..row + (h + 1) * n];
            yh.fill(0.0);
            for i in 0..n {
                let ch = h * n + i;
                let (ri, ki, ui, wi) = (inp.r[row + ch], inp.k[row + ch], inp.u[ch], w[ch]);
                for j in 0..n {
                    let kv = ki * inp.v[row + h * n + j];
                    let sij = &mut s[i * n + j];
                    yh[j] += ri * (ui * kv + *sij);
                    *sij = *sij * wi + kv;
                }
            }
        }
    }
}
