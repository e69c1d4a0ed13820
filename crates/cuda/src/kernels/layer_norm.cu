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
// outs[i] = xn + (shift − xn) · mu[i] and shift = xn. The same expressions and block size as the two
// kernels it replaces, so the results are the same bits. One block of 256 threads.
extern "C" __global__ void __launch_bounds__(256)
    layer_norm_lerp(const float* x, const float* w, const float* b, float eps, float* out, int C, float* shift,
                    const float* mu, float* o0, float* o1, float* o2, float* o3, float* o4, float* o5, int n_out) {
    __shared__ double red[32];
    float* outs[6] = {o0, o1, o2, o3, o4, o5};
    double s = 0.0;
    for (int i = threadIdx.x; i < C; i += blockDim.x) s += (double)x[i];
    const double mean = block_sum_d(s, red) / (double)C;
    double q = 0.0;
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        double d = (double)x[i] - mean;
        q += d * d;
    }
    const double var = block_sum_d(q, red) / (double)C;
    const double inv_std = 1.0 / sqrt(var + (double)eps);
    for (int i = threadIdx.x; i < C; i += blockDim.x) {
        const float xn = (float)(((double)x[i] - mean) * inv_std) * w[i] + b[i];
        out[i] = xn;
        const float prev = shift[i];
#pragma unroll
        for (int k = 0; k < 6; ++k) {
            if (k < n_out) outs[k][i] = xn + (prev - xn) * mu[k * C + i];
        }
        shift[i] = xn;
    }
}
