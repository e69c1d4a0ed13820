// wkv4: RWKV-4's WKV in its overflow-free form over the T rows of one sequence, independently per
// channel c. State rows ([3, C]): aa, bb (numerator and denominator scaled by e^(−pp)) and pp (the
// running exponent). With w = −exp(time_decay) (precomputed at load) and u = time_first:
//   q = max(pp, u + k);  y = (e^(pp−q)·aa + e^(u+k−q)·v) / (e^(pp−q)·bb + e^(u+k−q));
//   q' = max(pp + w, k); aa ← e^(pp+w−q')·aa + e^(k−q')·v; bb ← e^(pp+w−q')·bb + e^(k−q'); pp ← q'.
// k, v, y: [T, C]; w, u: [C].
// Thread mapping: one thread per channel, looping over the tokens in order with the state in
// registers. Precision: f32, the same operation order as the scalar reference.

struct Params {
    cols: u32,
    rows: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read> u: array<f32>;
@group(0) @binding(5) var<storage, read_write> state: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= p.cols) {
        return;
    }
    var aa = state[c];
    var bb = state[p.cols + c];
    var pp = state[2u * p.cols + c];
    let wc = w[c];
    let uc = u[c];
    for (var t = 0u; t < p.rows; t++) {
        let idx = t * p.cols + c;
        let kt = k[idx];
        let vt = v[idx];
        let ww = uc + kt;
        let q = max(pp, ww);
        let e1 = exp(pp - q);
        let e2 = exp(ww - q);
        y[idx] = (e1 * aa + e2 * vt) / (e1 * bb + e2);
        let ww2 = pp + wc;
        let q2 = max(ww2, kt);
        let f1 = exp(ww2 - q2);
        let f2 = exp(kt - q2);
        aa = f1 * aa + f2 * vt;
        bb = f1 * bb + f2;
        pp = q2;
    }
    state[c] = aa;
    state[p.cols + c] = bb;
    state[2u * p.cols + c] = pp;
}
