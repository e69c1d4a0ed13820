// sigmoid_mul: x ⊙= σ(g), element-wise over n values (receptance gating of RWKV-4/5/6). One thread
// per element (index gid.x + gid.y · stride). σ(g) = 1 / (1 + e^(−g)) as in the scalar reference.

struct Params {
    n: u32,
    stride: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * p.stride;
    if (i < p.n) {
        x[i] *= 1.0 / (1.0 + exp(-g[i]));
    }
}
