// wkv7_output: in place on y [T, C], per token and head h (N = head_size values):
//   y_h = ((y_h − mean) / sqrt(var + eps) · ln_w + ln_b + (Σ_j r_j·k_j·r_k_j) · v_h) ⊙ g_h
// (GroupNorm per head, its affine, the RWKV-7 bonus, and the gate; spec §4.3.)
// Thread mapping: one workgroup of 64 threads per (head, token): x = head, y = token; threads stride
// over the head's values. Precision: f32, two-pass variance, tree sums in workgroup memory.

struct Params {
    cols: u32,
    head_size: u32,
    eps: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> r: array<f32>;
@group(0) @binding(3) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read> g: array<f32>;
@group(0) @binding(6) var<storage, read> r_k: array<f32>;
@group(0) @binding(7) var<storage, read> ln_w: array<f32>;
@group(0) @binding(8) var<storage, read> ln_b: array<f32>;

const WG: u32 = 64u;
// workgroup_sum2: shaders/workgroup_sum.wgsl.

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let n = p.head_size;
    let lo = wid.x * n;
    let base = wid.y * p.cols + lo;
    var s = vec2<f32>(0.0);
    for (var j = lid; j < n; j += WG) {
        s += vec2<f32>(y[base + j], r[base + j] * k[base + j] * r_k[lo + j]);
    }
    let s1 = workgroup_sum2(s, lid);
    let mean = s1.x / f32(n);
    let bonus = s1.y;
    var s2 = 0.0;
    for (var j = lid; j < n; j += WG) {
        let d = y[base + j] - mean;
        s2 += d * d;
    }
    let inv_std = inverseSqrt(workgroup_sum2(vec2<f32>(s2, 0.0), lid).x / f32(n) + p.eps);
    for (var j = lid; j < n; j += WG) {
        let normed = (y[base + j] - mean) * inv_std;
        y[base + j] = (normed * ln_w[lo + j] + ln_b[lo + j] + bonus * v[base + j]) * g[base + j];
    }
}
