// elementwise: the small ops over n f32 values (one thread per element, grid-stride):
//   add            x += y
//   relu_square    x = max(x, 0)²
//   value_residual v += (v_first − v) · mix
//   copy_rows      dst[i] = src[i] (the caller offsets src to the first row)
// Precision: f32, the same expressions as the CPU reference.

extern "C" __global__ void add(float* x, const float* y, u64 n) {
    pdl_entry();
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) x[i] += y[i];
}

extern "C" __global__ void relu_square(float* x, u64 n) {
    pdl_entry();
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        float r = fmaxf(x[i], 0.0f);
        x[i] = r * r;
    }
}

extern "C" __global__ void value_residual(float* v, const float* v_first, const float* mix, u64 n) {
    pdl_entry();
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        v[i] += (v_first[i] - v[i]) * mix[i];
    }
}

extern "C" __global__ void copy_rows(const float* src, float* dst, u64 n) {
    pdl_entry();
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) dst[i] = src[i];
}

// argmax_rows: ids[r] = the first index of the largest non-NaN value of row r of x [R, N] (0 when the
// row has none), as the runner's host argmax. One block of 1024 threads per row; each thread scans
// a strided slice, then (value, index) pairs are reduced: larger value wins, ties go to the lower
// index. A NaN is never taken; "none yet" is (−inf, INT_MAX), so a row of −inf gives index 0.
__device__ __forceinline__ void argmax_pick(float& bv, int& bi, float v, int i) {
    if (v > bv || (v == bv && i < bi)) {
        bv = v;
        bi = i;
    }
}

extern "C" __global__ void __launch_bounds__(1024) argmax_rows(const float* x, u32* ids, int N) {
    pdl_entry();
    __shared__ float sv[32];
    __shared__ int si[32];
    const float* row = x + (u64)blockIdx.x * N;
    float bv = -__int_as_float(0x7f800000);
    int bi = 0x7fffffff;
    for (int i = threadIdx.x; i < N; i += blockDim.x) {
        const float v = row[i];
        if (!isnan(v)) argmax_pick(bv, bi, v, i);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) argmax_pick(bv, bi, __shfl_xor_sync(0xffffffffu, bv, o), __shfl_xor_sync(0xffffffffu, bi, o));
    if ((threadIdx.x & 31) == 0) {
        sv[threadIdx.x >> 5] = bv;
        si[threadIdx.x >> 5] = bi;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < (int)(blockDim.x >> 5); ++w) argmax_pick(bv, bi, sv[w], si[w]);
        ids[blockIdx.x] = bi == 0x7fffffff ? 0u : (u32)bi;
    }
}
