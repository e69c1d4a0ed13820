// copy_rows: out[i] = x[first · cols + i] for the n values of out (rows first .. first + out.rows of
// x). One thread per element (index gid.x + gid.y · stride). Exact.

struct Params {
    n: u32,
    stride: u32,
    src_offset: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * p.stride;
    if (i < p.n) {
        out[i] = x[p.src_offset + i];
    }
}
