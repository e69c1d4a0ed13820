// token_shift_lerp: with prev[0] = shift and prev[t] = x[t−1]:
//   outs[i][t] = x[t] + (prev[t] − x[t]) · mu[i]   for i < n_out (up to 6), then shift = x[T−1].
// x [T, C]; shift [C]; mu [n_out, C]; each out [T, C].
//
// Thread mapping: a block of 256 threads owns 32 columns (grid ceil(C / 32)); thread (column lane
// c = tid % 32, token lane l = tid / 32) takes tokens l, l + 8, ... of column c, so all tokens run in
// parallel (prev comes from x, which nobody writes). Only token 0 reads shift, and shift is written
// after a barrier by the same block, so the read comes first. Precision: f32, the same expression
// as the CPU reference.

extern "C" __global__ void __launch_bounds__(256)
    token_shift_lerp(const float* x, float* shift, const float* mu, float* o0, float* o1, float* o2, float* o3,
                     float* o4, float* o5, int n_out, int T, int C) {
    pdl_entry();
    const int j = blockIdx.x * 32 + (threadIdx.x & 31), lane_t = threadIdx.x >> 5;
    float* outs[6] = {o0, o1, o2, o3, o4, o5};
    if (j < C) {
        float m[6];
#pragma unroll
        for (int i = 0; i < 6; ++i) m[i] = i < n_out ? mu[i * C + j] : 0.0f;
        for (int t = lane_t; t < T; t += 8) {
            const float cur = x[(u64)t * C + j];
            const float prev = t == 0 ? shift[j] : x[(u64)(t - 1) * C + j];
#pragma unroll
            for (int i = 0; i < 6; ++i) {
                if (i < n_out) outs[i][(u64)t * C + j] = cur + (prev - cur) * m[i];
            }
        }
    }
    __syncthreads();
    if (lane_t == 0 && j < C) shift[j] = x[(u64)(T - 1) * C + j];
}
