// elementwise: the small ops over n f32 values (one thread per element, grid-stride):
//   add            x += y
//   relu_square    x = max(x, 0)²
//   value_residual v += (v_first − v) · mix
//   copy_rows      dst[i] = src[i] (the caller offsets src to the first row)
// Precision: f32, the same expressions as the CPU reference.

extern "C" __global__ void add(float* x, const float* y, u64 n) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) x[i] += y[i];
}

extern "C" __global__ void relu_square(float* x, u64 n) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        float r = fmaxf(x[i], 0.0f);
        x[i] = r * r;
    }
}

extern "C" __global__ void value_residual(float* v, const float* v_first, const float* mix, u64 n) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        v[i] += (v_first[i] - v[i]) * mix[i];
    }
}

extern "C" __global__ void copy_rows(const float* src, float* dst, u64 n) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) dst[i] = src[i];
}
