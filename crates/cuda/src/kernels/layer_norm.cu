// layer_norm: per row of x [T, C]: out = (x − mean) / sqrt(var + eps) · w + b, population variance;
// w, b are [C].
//
// Thread mapping: one 256-thread block per row (grid T); threads stride over the C columns.
// Precision: mean and variance accumulated in f64 (as the CPU reference), two passes over the row.

extern "C" __global__ void __launch_bounds__(256)
    layer_norm(const float* x, const float* w, const float* b, float eps, float* out, int C) {
    pdl_entry();
    __shared__ double red[32];
    const float* xr = x + (u64)blockIdx.x * C;
    float* orow = out + (u64)blockIdx.x * C;
    double s = 0.0;
    for (int i = threadIdx.x; i < C; i += blockDim.x) s += (double)xr[i];
    const double mean = block_sum_d(s, red) / (double)C;
    double q = 0.0;
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        double d = (double)xr[i] - mean;
        q += d * d;
    }
    const double var = block_sum_d(q, red) / (double)C;
    const double inv_std = 1.0 / sqrt(var + (double)eps);
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        orow[i] = (float)(((double)xr[i] - mean) * inv_std) * w[i] + b[i];
    }
}

// layer_norm_lerp: one token (T = 1) of layer_norm followed by token_shift_lerp on its output, in
// one launch: xn = layer_norm(x) (written to `out`, as layer_norm does), then for i < n_out
// outs[i] = xn + (shift − xn) · mu[i] and shift = xn (n_out = 0: the layer_norm alone; `shift` and
// `mu` unused). The same expressions as the two kernels it replaces; sums in another order.
//
// Thread mapping: grid ceil(C / 256) blocks of 256 threads (LNL_THREADS); block b writes columns
// 256b .. 256b + 255, one per thread, and computes the row's mean and variance itself (x is
// 10 KB at C = 2560, so the redundant reads come from L2). Thread t reads columns t + 256·e of x
// (e < LNL_E, so C ≤ 8192). Every global load, its own column's w, b, shift and mu too, is issued
// before the first reduction, so the kernel costs about one memory latency and two reductions over
// 8 warps. (One 1024-thread block took 7.4 µs: its loads of mu waited for the reductions, and each
// reduction ended in a 32-step serial sum.)
#define LNL_E 32
#define LNL_THREADS 256
extern "C" __global__ void __launch_bounds__(LNL_THREADS)
    layer_norm_lerp(const float* x, const float* w, const float* b, float eps, float* out, int C, float* shift,
                    const float* mu, float* o0, float* o1, float* o2, float* o3, float* o4, float* o5, int n_out) {
    pdl_entry();
    __shared__ double red[LNL_THREADS / 32];
    float* outs[6] = {o0, o1, o2, o3, o4, o5};
    const int col = blockIdx.x * LNL_THREADS + threadIdx.x;
    const bool mine = col < C;
    float xv[LNL_E];
#pragma unroll
    for (int e = 0; e < LNL_E; ++e) {
        const int i = threadIdx.x + LNL_THREADS * e;
        xv[e] = i < C ? x[i] : 0.0f;
    }
    const float xc = mine ? x[col] : 0.0f, wc = mine ? w[col] : 0.0f, bc = mine ? b[col] : 0.0f;
    const float pc = mine && n_out > 0 ? shift[col] : 0.0f;
    float mv[6];
#pragma unroll
    for (int k = 0; k < 6; ++k) mv[k] = mine && k < n_out ? mu[k * C + col] : 0.0f;
    double s = 0.0;
#pragma unroll
    for (int e = 0; e < LNL_E; ++e) s += (double)xv[e];
    const double mean = block_sum_d(s, red) / (double)C;
    double q = 0.0;
#pragma unroll
    for (int e = 0; e < LNL_E; ++e) {
        const double d = threadIdx.x + LNL_THREADS * e < C ? (double)xv[e] - mean : 0.0;
        q += d * d;
    }
    const double var = block_sum_d(q, red) / (double)C;
    const double inv_std = 1.0 / sqrt(var + (double)eps);
    if (mine) {
        const float xn = (float)(((double)xc - mean) * inv_std) * wc + bc;
        out[col] = xn;
#pragma unroll
        for (int k = 0; k < 6; ++k) {
            if (k < n_out) outs[k][col] = xn + (pc - xn) * mv[k];
        }
        if (n_out > 0) shift[col] = xn;
    }
}
