// argmax: ids[t] = the index of the largest value of row t of x [T, n] (the first one on ties, so
// the result equals a sequential scan). NaN never wins.
// Thread mapping: one workgroup of WG threads per row (WG set by the host: up to 1024, the more the
// better for a 65,536-wide vocabulary row); each thread scans a strided slice four elements at a
// time with four independent (value, index) pairs (their loads are in flight together), merges
// them, then a tree in workgroup memory keeps the larger value, the smaller index on ties.

struct Params {
    n: u32,
    rows: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;

var<workgroup> best_v: array<f32, WG>;
var<workgroup> best_i: array<u32, WG>;

// Whether (v, i) beats (bv, bi).
fn better(v: f32, i: u32, bv: f32, bi: u32) -> bool {
    return v > bv || (v == bv && i < bi);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let base = wid.x * p.n;
    var bv = array<f32, 4>(-3.4028235e38, -3.4028235e38, -3.4028235e38, -3.4028235e38);
    var bi = array<u32, 4>(0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu);
    var i = lid;
    for (; i + 3u * WG < p.n; i += 4u * WG) {
        let v = array<f32, 4>(x[base + i], x[base + i + WG], x[base + i + 2u * WG], x[base + i + 3u * WG]);
        for (var j = 0u; j < 4u; j++) {
            if (better(v[j], i + j * WG, bv[j], bi[j])) {
                bv[j] = v[j];
                bi[j] = i + j * WG;
            }
        }
    }
    for (; i < p.n; i += WG) {
        let v = x[base + i];
        if (better(v, i, bv[0], bi[0])) {
            bv[0] = v;
            bi[0] = i;
        }
    }
    for (var j = 1u; j < 4u; j++) {
        if (better(bv[j], bi[j], bv[0], bi[0])) {
            bv[0] = bv[j];
            bi[0] = bi[j];
        }
    }
    best_v[lid] = bv[0];
    best_i[lid] = bi[0];
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
