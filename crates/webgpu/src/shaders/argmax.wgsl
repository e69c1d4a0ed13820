// argmax: ids[t] = the index of the largest value of row t of x [T, n] (the first one on ties, so
// the result equals a sequential scan). NaN never wins.
// Thread mapping: one workgroup of 256 threads per row; each thread scans a strided slice keeping
// (value, index), then a tree in workgroup memory keeps the larger value, the smaller index on ties.

struct Params {
    n: u32,
    rows: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;

const WG: u32 = 256u;
var<workgroup> best_v: array<f32, WG>;
var<workgroup> best_i: array<u32, WG>;

// Whether (v, i) beats (bv, bi).
fn better(v: f32, i: u32, bv: f32, bi: u32) -> bool {
    return v > bv || (v == bv && i < bi);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let base = wid.x * p.n;
    var bv = -3.4028235e38;
    var bi = 0xFFFFFFFFu;
    for (var i = lid; i < p.n; i += WG) {
        let v = x[base + i];
        if (better(v, i, bv, bi)) {
            bv = v;
            bi = i;
        }
    }
    best_v[lid] = bv;
    best_i[lid] = bi;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride && better(best_v[lid + stride], best_i[lid + stride], best_v[lid], best_i[lid])) {
            best_v[lid] = best_v[lid + stride];
            best_i[lid] = best_i[lid + stride];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        ids[wid.x] = select(best_i[0], 0u, best_i[0] == 0xFFFFFFFFu);
    }
}
