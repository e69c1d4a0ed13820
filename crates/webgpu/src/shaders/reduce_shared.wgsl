// Workgroup reduction of TT partial sums per thread through workgroup memory (a tree of WG/2, WG/4,
// ... adds): the fallback for adapters without SUBGROUP. WG must be a power of two.
// The including kernel defines WG (threads per workgroup) and TT (sums per thread).

struct Ids {
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
}

var<workgroup> partial: array<f32, WG * TT>;
var<workgroup> reduced: array<f32, TT>;

// Leaves Σ over the workgroup of acc[tt] in reduced[tt]. Call from uniform control flow.
fn reduce_tile(acc: ptr<function, array<f32, TT>>, ids: Ids) {
    for (var tt = 0u; tt < TT; tt++) {
        partial[tt * WG + ids.lid] = (*acc)[tt];
    }
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (ids.lid < stride) {
            for (var tt = 0u; tt < TT; tt++) {
                partial[tt * WG + ids.lid] += partial[tt * WG + ids.lid + stride];
            }
        }
        workgroupBarrier();
    }
    if (ids.lid < TT) {
        reduced[ids.lid] = partial[ids.lid * WG];
    }
    workgroupBarrier();
}
