// token_shift_lerp_rows: token_shift_lerp for a batched decode step, where row b of x is the one
// token of sequence b and that sequence's previous token is its own shift buffer, shifts[b]:
//   outs[i][b] = x[b] + (shifts[b] − x[b]) · mu[i]   for i < n_out (up to 6), then shifts[b] = x[b].
// x [B, C]; shifts: B device addresses of [C] buffers; mu [n_out, C]; each out [B, C].
//
// Thread mapping: grid (ceil(C / 256), B), one thread per (row, column); rows touch disjoint
// buffers, so there is nothing to order. Precision: f32, the same expression as the CPU reference.

extern "C" __global__ void __launch_bounds__(256)
    token_shift_lerp_rows(const float* x, const u64* shifts, const float* mu, float* o0, float* o1, float* o2,
                          float* o3, float* o4, float* o5, int n_out, int B, int C) {
    pdl_entry();
    const int j = blockIdx.x * 256 + threadIdx.x, b = blockIdx.y;
    if (j >= C || b >= B) return;
    float* shift = (float*)shifts[b];
    float* outs[6] = {o0, o1, o2, o3, o4, o5};
    const u64 o = (u64)b * C + j;
    const float cur = x[o], prev = shift[j];
#pragma unroll
    for (int i = 0; i < 6; ++i) {
        if (i < n_out) outs[i][o] = cur + (prev - cur) * mu[i * C + j];
    }
    shift[j] = cur;
}
