// Workgroup reduction of TT partial sums per thread with subgroupAdd: one add per subgroup, then the
// subgroup totals through workgroup memory. Used when the adapter has SUBGROUP.
// The including kernel defines WG (threads per workgroup) and TT (sums per thread).

struct Ids {
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_invocation_id) sg_lid: u32,
    @builtin(subgroup_id) sg_id: u32,
    @builtin(num_subgroups) n_sg: u32,
}

var<workgroup> partial: array<f32, WG * TT>;
var<workgroup> reduced: array<f32, TT>;

// Leaves Σ over the workgroup of acc[tt] in reduced[tt]. Call from uniform control flow.
fn reduce_tile(acc: ptr<function, array<f32, TT>>, ids: Ids) {
    for (var tt = 0u; tt < TT; tt++) {
        let s = subgroupAdd((*acc)[tt]);
        if (ids.sg_lid == 0u) {
            partial[tt * WG + ids.sg_id] = s;
        }
    }
    workgroupBarrier();
    if (ids.lid < TT) {
        var s = 0.0;
        for (var i = 0u; i < ids.n_sg; i++) {
            s += partial[ids.lid * WG + i];
        }
        reduced[ids.lid] = s;
    }
    workgroupBarrier();
}
