// group_norm: in place on y [T, C], per token and head h (N = head_size values):
//   y_h = (y_h − mean) / sqrt(var + eps) · ln_w + ln_b   (RWKV-5/6's ln_x; population variance).
// Thread mapping: one workgroup of 64 threads per (head, token): x = head, y = token; threads stride
// over the head's values. Precision: f32, two passes (mean, then Σ (y − mean)²), tree sums in
// workgroup memory.

struct Params {
    cols: u32,
    head_size: u32,
    eps: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> ln_w: array<f32>;
@group(0) @binding(3) var<storage, read> ln_b: array<f32>;

const WG: u32 = 64u;
// workgroup_sum: shaders/workgroup_sum.wgsl.

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let n = p.head_size;
    let lo = wid.x * n;
    let base = wid.y * p.cols + lo;
    var s = 0.0;
    for (var j = lid; j < n; j += WG) {
        s += y[base + j];
    }
    let mean = workgroup_sum(s, lid) / f32(n);
    var s2 = 0.0;
    for (var j = lid; j < n; j += WG) {
        let d = y[base + j] - mean;
        s2 += d * d;
    }
    let inv_std = inverseSqrt(workgroup_sum(s2, lid) / f32(n) + p.eps);
    for (var j = lid; j < n; j += WG) {
        y[base + j] = (y[base + j] - mean) * inv_std * ln_w[lo + j] + ln_b[lo + j];
    }
}
