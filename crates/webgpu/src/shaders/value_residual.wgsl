// value_residual: v += (v_first − v) · mix, element-wise over n values. One thread per element
// (index gid.x + gid.y · stride). Exact (same operation order as the scalar reference).

struct Params {
    n: u32,
    stride: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> v: array<f32>;
@group(0) @binding(2) var<storage, read> v_first: array<f32>;
@group(0) @binding(3) var<storage, read> mix_v: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * p.stride;
    if (i < p.n) {
        let cur = v[i];
        v[i] = cur + (v_first[i] - cur) * mix_v[i];
    }
}
