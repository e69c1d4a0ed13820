// matvec items for F32 rows (K a multiple of 4): item i = elements 4i .. 4i + 3, one vec4 load.
// ---- per job ----
fn accumulate$J(acc: ptr<function, array<f32, NR>>, base: ptr<function, array<u32, NR>>, it: u32) {
    let xv = x$J[it];
    for (var r = 0u; r < NR; r++) {
        (*acc)[r] += dot(bitcast<vec4<f32>>(w$J[(*base)[r] + it]), xv);
    }
}
