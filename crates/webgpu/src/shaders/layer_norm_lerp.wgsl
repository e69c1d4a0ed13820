// layer_norm_lerp: layer_norm followed by token_shift_lerp for a one-token step (decode), in one
// dispatch: xn = (x − mean) / sqrt(var + eps) · w + b is stored in out, then for every column j
//   outs[i][j] = xn[j] + (shift[j] − xn[j]) · mu[i][j]   (i < n_out ≤ 6), and shift[j] = xn[j].
// The backend records it when a token_shift_lerp of one row directly follows the layer_norm that
// produced its input. x, out: [1, C]; shift: [1, C]; mu: [n_out, C].
// Thread mapping: one workgroup of 256 threads per 256 columns (grid-strided past the grid): every
// workgroup computes the row's mean and variance itself (the row is small and L2-resident), then
// each thread handles its columns, so the thread that reads shift[j] also writes it. One workgroup
// for the whole row took 47 us on the H200 for C = 2560 and 6 outputs (60 serial columns a thread). Precision: as layer_norm (two-pass f32) and token_shift_lerp.

struct Params {
    cols: u32,
    n_out: u32,
    eps: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> nw: array<f32>;
@group(0) @binding(3) var<storage, read> nb: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> shift: array<f32>;
@group(0) @binding(6) var<storage, read> mu: array<f32>;
@group(0) @binding(7) var<storage, read_write> out0: array<f32>;
@group(0) @binding(8) var<storage, read_write> out1: array<f32>;
@group(0) @binding(9) var<storage, read_write> out2: array<f32>;
@group(0) @binding(10) var<storage, read_write> out3: array<f32>;
@group(0) @binding(11) var<storage, read_write> out4: array<f32>;
@group(0) @binding(12) var<storage, read_write> out5: array<f32>;

const WG: u32 = 256u;
// workgroup_sum: shaders/workgroup_sum.wgsl.

fn store(i: u32, idx: u32, v: f32) {
    switch i {
        case 0u: { out0[idx] = v; }
        case 1u: { out1[idx] = v; }
        case 2u: { out2[idx] = v; }
        case 3u: { out3[idx] = v; }
        case 4u: { out4[idx] = v; }
        default: { out5[idx] = v; }
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    var s = 0.0;
    for (var i = lid; i < p.cols; i += WG) {
        s += x[i];
    }
    let mean = workgroup_sum(s, lid) / f32(p.cols);
    var s2 = 0.0;
    for (var i = lid; i < p.cols; i += WG) {
        let d = x[i] - mean;
        s2 += d * d;
    }
    let inv_std = inverseSqrt(workgroup_sum(s2, lid) / f32(p.cols) + p.eps);
    for (var j = wid.x * WG + lid; j < p.cols; j += WG * nwg.x) {
        let v = (x[j] - mean) * inv_std * nw[j] + nb[j];
        out[j] = v;
        let d = shift[j] - v;
        for (var i = 0u; i < p.n_out; i++) {
            store(i, j, v + d * mu[i * p.cols + j]);
        }
        shift[j] = v;
    }
}
