// Row reduction of matvec through workgroup memory (a tree of TPR/2, TPR/4, ... adds inside each
// group of TPR lanes): the fallback for adapters without SUBGROUP.

struct Ids {
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
}

var<workgroup> partial: array<f32, WG * NR>;
var<workgroup> red: array<f32, ROWS_PER_WG>;

// Leaves the row sums in red[g · NR + r]. Call from uniform control flow.
fn reduce_rows(acc: ptr<function, array<f32, NR>>, ids: Ids) {
    for (var r = 0u; r < NR; r++) {
        partial[r * WG + ids.lid] = (*acc)[r];
    }
    workgroupBarrier();
    for (var stride = TPR / 2u; stride > 0u; stride >>= 1u) {
        if (ids.lid % TPR < stride) {
            for (var r = 0u; r < NR; r++) {
                partial[r * WG + ids.lid] += partial[r * WG + ids.lid + stride];
            }
        }
        workgroupBarrier();
    }
    if (ids.lid < ROWS_PER_WG) {
        red[ids.lid] = partial[(ids.lid % NR) * WG + (ids.lid / NR) * TPR];
    }
    workgroupBarrier();
}
