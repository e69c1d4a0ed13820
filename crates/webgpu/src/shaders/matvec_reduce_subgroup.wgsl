// Row reduction of matvec with subgroupAdd (adapters with SUBGROUP). Each group of tpr lanes holds
// NR partial sums per lane. When subgroups are no wider than a group (32 on NVIDIA, 8 on lavapipe,
// 32 on Apple), each subgroup adds its lanes and the tpr / size subgroup totals of a group are added
// from workgroup memory; wider subgroups (64 on some AMD parts) would mix groups, so they take the
// workgroup-memory tree instead.

struct Ids {
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_invocation_id) sg_lid: u32,
    @builtin(subgroup_size) sg_size: u32,
}

var<workgroup> partial: array<f32, WG * NR>;
var<workgroup> red: array<f32, MAX_ROWS_PER_WG>;

// Leaves the row sums in red[g · NR + r] for groups of `tpr` lanes. Call from uniform control flow.
fn reduce_rows(acc: ptr<function, array<f32, NR>>, ids: Ids, tpr: u32) {
    let rows_per_wg = WG / tpr * NR;
    if (ids.sg_size <= tpr) {
        let per_group = tpr / ids.sg_size;
        let sg = ids.lid / ids.sg_size;
        for (var r = 0u; r < NR; r++) {
            let s = subgroupAdd((*acc)[r]);
            if (ids.sg_lid == 0u) {
                partial[sg * NR + r] = s;
            }
        }
        workgroupBarrier();
        if (ids.lid < rows_per_wg) {
            let g = ids.lid / NR;
            let r = ids.lid % NR;
            var s = 0.0;
            for (var i = 0u; i < per_group; i++) {
                s += partial[(g * per_group + i) * NR + r];
            }
            red[ids.lid] = s;
        }
        workgroupBarrier();
    } else {
        for (var r = 0u; r < NR; r++) {
            partial[r * WG + ids.lid] = (*acc)[r];
        }
        workgroupBarrier();
        for (var stride = tpr / 2u; stride > 0u; stride >>= 1u) {
            if (ids.lid % tpr < stride) {
                for (var r = 0u; r < NR; r++) {
                    partial[r * WG + ids.lid] += partial[r * WG + ids.lid + stride];
                }
            }
            workgroupBarrier();
        }
        if (ids.lid < rows_per_wg) {
            red[ids.lid] = partial[(ids.lid % NR) * WG + (ids.lid / NR) * tpr];
        }
        workgroupBarrier();
    }
}
