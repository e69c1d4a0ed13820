// add: x += y, element-wise over n values. One thread per element; the element index is
// gid.x + gid.y · stride (a 2-D grid when n exceeds one grid dimension). Exact.

struct Params {
    n: u32,
    stride: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * p.stride;
    if (i < p.n) {
        x[i] += y[i];
    }
}
