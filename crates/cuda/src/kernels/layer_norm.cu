// layer_norm: per row of x [T, C]: out = (x − mean) / sqrt(var + eps) · w + b, population variance;
// w, b are [C].
//
// Thread mapping: one 256-thread block per row (grid T); threads stride over the C columns.
// Precision: mean and variance accumulated in f64 (as the CPU reference), two passes over the row.

extern "C" __global__ void __launch_bounds__(256)
    layer_norm(const float* x, const float* w, const float* b, float eps, float* out, int C) {
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
// Thread mapping: one block of 1024 threads; thread t holds columns t + 1024·e (e < 8, so C ≤ 8192)
// in registers, and every global load is issued before the first reduction, so the kernel costs
// about one memory latency plus two block reductions (a loop over C with a dependent load per
// iteration costs one latency per iteration).
#define LNL_E 8
extern "C" __global__ void __launch_bounds__(1024)
    layer_norm_lerp(const float* x, const float* w, const float* b, float eps, float* out, int C, float* shift,
                    const float* mu, float* o0, float* o1, float* o2, float* o3, float* o4, float* o5, int n_out) {
    __shared__ double red[32];
    float* outs[6] = {o0, o1, o2, o3, o4, o5};
    float xv[LNL_E], wv[LNL_E], bv[LNL_E], pv[LNL_E];
    double s = 0.0;
#pragma unroll
    for (int e = 0; e < LNL_E; ++e) {
        const int i = threadIdx.x + 1024 * e;
        const bool in = i < C;
        xv[e] = in ? x[i] : 0.0f;
        wv[e] = in ? w[i] : 0.0f;
        bv[e] = in ? b[i] : 0.0f;
        pv[e] = in && n_out > 0 ? shift[i] : 0.0f;
    }
#pragma unroll
    for (int e = 0; e < LNL_E; ++e) s += (double)xv[e];
    const double mean = block_sum_d(s, red) / (double)C;
    double q = 0.0;
#pragma unroll
    for (int e = 0; e < LNL_E; ++e) {
        const double d = threadIdx.x + 1024 * e < C ? (double)xv[e] - mean : 0.0;
        q += d * d;
    }
    const double var = block_sum_d(q, red) / (double)C;
    const double inv_std = 1.0 / sqrt(var + (double)eps);
#pragma unroll
    for (int e = 0; e < LNL_E; ++e) {
        const int i = threadIdx.x + 1024 * e;
        if (i < C) {
            const float xn = (float)(((double)xv[e] - mean) * inv_std) * wv[e] + bv[e];
            out[i] = xn;
#pragma unroll
            for (int k = 0; k < 6; ++k) {
                if (k < n_out) outs[k][i] = xn + (pv[e] - xn) * mu[k * C + i];
            }
            if (n_out > 0) shift[i] = xn;
        }
    }
}
