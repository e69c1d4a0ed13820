// wkv7_output: in place on y [T, C], per token t and head h (N values, columns h·N + j):
//   y_h = ((y_h − mean) / sqrt(var + eps) · ln_w + ln_b + (Σ_j r_j·k_j·r_k_j) · v_h) ⊙ g_h
// (per-head GroupNorm with its affine, RWKV-7's bonus term, the output gate; spec §4.3).
//
// Thread mapping: one block per (head, token) (grid (H, T)), ceil(N / 32)·32 threads, thread j owns
// column j. Precision: mean and variance in f64 (as the CPU reference), the bonus sum in f32.

extern "C" __global__ void wkv7_output(float* y, const float* r, const float* k, const float* v, const float* g,
                                       const float* r_k, const float* ln_w, const float* ln_b, float eps, int C,
                                       int N) {
    pdl_entry();
    __shared__ double red_d[32];
    __shared__ float red_f[32];
    const int h = blockIdx.x, t = blockIdx.y, j = threadIdx.x;
    const bool active = j < N;
    const int c = h * N + j;
    const u64 o = (u64)t * C + c;
    const float yv = active ? y[o] : 0.0f;
    const double mean = block_sum_d((double)yv, red_d) / (double)N;
    const double d = active ? (double)yv - mean : 0.0;
    const double var = block_sum_d(d * d, red_d) / (double)N;
    const double inv_std = 1.0 / sqrt(var + (double)eps);
    const float bonus = block_sum(active ? r[o] * k[o] * r_k[c] : 0.0f, red_f);
    if (active) {
        const float normed = (float)(((double)yv - mean) * inv_std);
        y[o] = (normed * ln_w[c] + ln_b[c] + bonus * v[o]) * g[o];
    }
}
