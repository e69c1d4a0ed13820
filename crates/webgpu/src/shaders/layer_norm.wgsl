// layer_norm: per row of x [T, C]: out = (x − mean) / sqrt(var + eps) · w + b (population variance).
// Thread mapping: one workgroup of 256 threads per row; each thread strides over the columns.
// Precision: f32, two passes (mean, then Σ (x − mean)²), so no cancellation; tree sums in workgroup
// memory.

struct Params {
    cols: u32,
    rows: u32,
    eps: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> nw: array<f32>;
@group(0) @binding(3) var<storage, read> nb: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;
// workgroup_sum: shaders/workgroup_sum.wgsl.

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = wid.x;
    let base = row * p.cols;
    var s = 0.0;
    for (var i = lid; i < p.cols; i += WG) {
        s += x[base + i];
    }
    let mean = workgroup_sum(s, lid) / f32(p.cols);
    var s2 = 0.0;
    for (var i = lid; i < p.cols; i += WG) {
        let d = x[base + i] - mean;
        s2 += d * d;
    }
    let inv_std = inverseSqrt(workgroup_sum(s2, lid) / f32(p.cols) + p.eps);
    for (var i = lid; i < p.cols; i += WG) {
        out[base + i] = (x[base + i] - mean) * inv_std * nw[i] + nb[i];
    }
}
