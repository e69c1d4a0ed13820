// Row reduction of matvec through workgroup memory (a tree of tpr/2, tpr/4, ... adds inside each
// group of tpr lanes): the fallback for adapters without SUBGROUP.

struct Ids {
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
}

var<workgroup> partial: array<f32, WG * NR>;
var<workgroup> red: array<f32, MAX_ROWS_PER_WG>;

// Leaves the row sums in red[g · NR + r] for groups of `tpr` lanes. Call from uniform control flow.
fn reduce_rows(acc: ptr<function, array<f32, NR>>, ids: Ids, tpr: u32) {
    let rows_per_wg = WG / tpr * NR;
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
