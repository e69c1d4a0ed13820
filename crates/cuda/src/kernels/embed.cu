// embed: out[t] = decode(table[tokens[t]]), table [V, C] in its stored GGUF type (blocks.cuh),
// tokens [T] u32 on the device (ids checked by the caller), out [T, C] f32.
//
// Thread mapping: grid (ceil(units per row / 128), T), 128 threads; each thread decodes one unit of
// its token's row and writes its GROUPS × GLEN values. Precision: exact decode to f32.

template <class F>
__device__ void embed_body(const u8* table, u64 row_bytes, const u32* tokens, float* out, int C) {
    const int t = blockIdx.y;
    const int g = blockIdx.x * blockDim.x + threadIdx.x;
    const int units = (C / F::BLOCK_ELEMS) * F::UNITS;
    if (g >= units) return;
    const int b = g / F::UNITS, u = g - b * F::UNITS;
    const u8* row = table + (u64)tokens[t] * row_bytes;
    float v[F::GROUPS * F::GLEN];
    F::decode(row + (u64)b * F::BLOCK_BYTES, u, v);
    float* o = out + (u64)t * C + b * F::BLOCK_ELEMS + F::base(u);
#pragma unroll
    for (int gi = 0; gi < F::GROUPS; ++gi) {
#pragma unroll
        for (int j = 0; j < F::GLEN; ++j) o[gi * F::GSTRIDE + j] = v[gi * F::GLEN + j];
    }
}

#define EMBED_KERNEL(NAME, F)                                                                               \
    extern "C" __global__ void embed_##NAME(const u8* table, u64 row_bytes, const u32* tokens, float* out,  \
                                            int C) {                                                         \
        pdl_entry();                                                                                         \
        embed_body<F>(table, row_bytes, tokens, out, C);                                                    \
    }

FORMAT_SET(EMBED_KERNEL)
