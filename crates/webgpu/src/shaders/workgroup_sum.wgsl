// workgroup_sum2 / workgroup_sum: the sum of one value (a vec2, or an f32) per thread over the
// workgroup, returned to every thread (a tree in workgroup memory). Prepended by kernels.rs to the
// kernels that use it; the kernel defines WG (a power of two, its workgroup size). Call from uniform
// control flow.

var<workgroup> sums: array<vec2<f32>, WG>;

fn workgroup_sum2(v: vec2<f32>, lid: u32) -> vec2<f32> {
    sums[lid] = v;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            sums[lid] += sums[lid + stride];
        }
        workgroupBarrier();
    }
    let total = sums[0];
    workgroupBarrier();
    return total;
}

fn workgroup_sum(v: f32, lid: u32) -> f32 {
    return workgroup_sum2(vec2<f32>(v, 0.0), lid).x;
}
