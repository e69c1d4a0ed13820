// scale: x ·= factor, element-wise over n values (RWKV-6's residual rescaling every few layers). One
// thread per element (index gid.x + gid.y · stride). Exact.

struct Params {
    n: u32,
    stride: u32,
    factor: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * p.stride;
    if (i < p.n) {
        x[i] *= p.factor;
    }
}
