// matvec items for F16 rows (K a multiple of 8): item i = elements 8i .. 8i + 7, one vec4<u32> load
// unpacked with unpack2x16float (faster than vec4<f16> loads on the H200, see gpu.md).
// ---- per job ----
fn accumulate$J(acc: ptr<function, array<f32, NR>>, base: ptr<function, array<u32, NR>>, it: u32) {
    let x0 = x$J[2u * it];
    let x1 = x$J[2u * it + 1u];
    for (var r = 0u; r < NR; r++) {
        let q = w$J[(*base)[r] + it];
        let lo = vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y));
        let hi = vec4<f32>(unpack2x16float(q.z), unpack2x16float(q.w));
        (*acc)[r] += dot(lo, x0) + dot(hi, x1);
    }
}
