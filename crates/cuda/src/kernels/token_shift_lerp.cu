// token_shift_lerp: with prev[0] = shift and prev[t] = x[t−1]:
//   outs[i][t] = x[t] + (prev[t] − x[t]) · mu[i]   for i < n_out (up to 6), then shift = x[T−1].
// x [T, C]; shift [C]; mu [n_out, C]; each out [T, C].
//
// Thread mapping: one thread per column j (grid ceil(C / 256)), looping over the tokens in order, so
// the thread that reads shift[j] for t = 0 is the one that overwrites it afterwards (no race).
// Precision: f32, the same expression as the CPU reference.

extern "C" __global__ void __launch_bounds__(256)
    token_shift_lerp(const float* x, float* shift, const float* mu, float* o0, float* o1, float* o2, float* o3,
                     float* o4, float* o5, int n_out, int T, int C) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= C) return;
    float* outs[6] = {o0, o1, o2, o3, o4, o5};
    float prev = shift[j];
    for (int t = 0; t < T; ++t) {
        const float cur = x[(u64)t * C + j];
#pragma unroll
        for (int i = 0; i < 6; ++i) {
            if (i < n_out) outs[i][(u64)t * C + j] = cur + (prev - cur) * mu[i * C + j];
        }
        prev = cur;
    }
    shift[j] = prev;
}
