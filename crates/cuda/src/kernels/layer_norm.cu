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
