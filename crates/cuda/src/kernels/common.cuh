// common.cuh: prepended to every kernel source. Fixed-width names, f16/bf16 decoding without
// cuda_fp16.h (NVRTC then needs no include paths), and block reductions.
//
// Reductions assume blockDim.x is a multiple of 32 (launchers round up; idle threads pass 0).

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

__device__ __forceinline__ float f16_to_f32(u16 h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

// bf16 is the upper half of an f32's bit pattern.
__device__ __forceinline__ float bf16_to_f32(u16 h) { return __uint_as_float(((u32)h) << 16); }

__device__ __forceinline__ u16 ld_u16(const u8* p) { return *(const u16*)p; }
// A u32 at an address that is only 2-byte aligned.
__device__ __forceinline__ u32 ld_u32_a2(const u8* p) { return (u32)ld_u16(p) | ((u32)ld_u16(p + 2) << 16); }
__device__ __forceinline__ u32 ld_u32(const u8* p) { return *(const u32*)p; }

__device__ __forceinline__ float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}

__device__ __forceinline__ double warp_sum_d(double x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}

// Sum over the whole block, returned to every thread. `red` is shared scratch of blockDim.x / 32 values.
__device__ float block_sum(float x, float* red) {
    x = warp_sum(x);
    __syncthreads();  // earlier readers of `red` are done
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = x;
    __syncthreads();
    float s = 0.0f;
    for (int w = 0; w < (int)(blockDim.x >> 5); ++w) s += red[w];
    return s;
}

__device__ double block_sum_d(double x, double* red) {
    x = warp_sum_d(x);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = x;
    __syncthreads();
    double s = 0.0;
    for (int w = 0; w < (int)(blockDim.x >> 5); ++w) s += red[w];
    return s;
}

// Programmatic dependent launch (sm_90+; recorder.rs launches kernels with it there). A kernel so
// launched may start while the kernel before it in the stream is still running, so every kernel
// calls `pdl_entry` before it touches memory that an earlier kernel writes: `griddepcontrol.wait`
// returns once the earlier kernel has finished and its writes are visible. The kernel then lets
// the next one launch at once (`launch_dependents`), so that its blocks are already resident when
// this one ends. Both are no-ops when the kernel was launched without the attribute, and on older
// architectures. Off by default (`AVIARY_CUDA_TUNING=pdl=1`): measured neutral (PERF.md).
__device__ __forceinline__ void pdl_entry() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
