// relu_square: x = max(x, 0)², element-wise over n values. One thread per element (index
// gid.x + gid.y · stride). Exact.

struct Params {
    n: u32,
    stride: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * p.stride;
    if (i < p.n) {
        let r = max(x[i], 0.0);
        x[i] = r * r;
    }
}
