// blocks.cuh: GGUF block formats as seen by a GPU thread; prepended to embed.cu and matmul.cu.
//
// Every format is cut into "units": the share of a block one thread decodes at once (8 to 32
// elements, read with the widest loads the format's alignment allows). A unit's values are GROUPS
// runs of GLEN consecutive elements, GSTRIDE apart, the first at element `base(u)` of its block:
//     decode(block, u, v):  v[g * GLEN + j]  is element  base(u) + g * GSTRIDE + j  of the block.
// Layouts and formulas follow crates/quant (spec §2), operation for operation: `__fmul_rn` keeps
// the compiler from fusing `d·q − m` into one FMA, so decoded values equal the CPU reference's bit
// for bit and a matvec over them differs from it only in summation order.
//
// Alignment: a row starts at row * row_bytes; cudaMalloc bases are 256-aligned, so a block is
// aligned to gcd(BLOCK_BYTES, row_bytes). The float "V" formats need K % (16 / sizeof) == 0 (the
// launcher picks the scalar "S" formats otherwise).

// 8 bytes at a 2-byte-aligned address, as two little-endian u32.
__device__ __forceinline__ void ld8_a2(const u8* p, u32* w) {
    w[0] = ld_u32_a2(p);
    w[1] = ld_u32_a2(p + 4);
}

__device__ __forceinline__ u32 byte_of(const u32* w, int i) { return (w[i >> 2] >> (8 * (i & 3))) & 0xFFu; }

struct FmtF32V {
    static constexpr int BLOCK_ELEMS = 4, BLOCK_BYTES = 16, UNITS = 1, GROUPS = 1, GLEN = 4, GSTRIDE = 0;
    __device__ static int base(int) { return 0; }
    __device__ static void decode(const u8* b, int, float* v) {
        float4 f = *(const float4*)b;
        v[0] = f.x; v[1] = f.y; v[2] = f.z; v[3] = f.w;
    }
};

struct FmtF32S {
    static constexpr int BLOCK_ELEMS = 1, BLOCK_BYTES = 4, UNITS = 1, GROUPS = 1, GLEN = 1, GSTRIDE = 0;
    __device__ static int base(int) { return 0; }
    __device__ static void decode(const u8* b, int, float* v) { v[0] = *(const float*)b; }
};

struct FmtF16V {
    static constexpr int BLOCK_ELEMS = 8, BLOCK_BYTES = 16, UNITS = 1, GROUPS = 1, GLEN = 8, GSTRIDE = 0;
    __device__ static int base(int) { return 0; }
    __device__ static void decode(const u8* b, int, float* v) {
        uint4 q = *(const uint4*)b;
        u32 w[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            v[2 * i] = f16_to_f32((u16)(w[i] & 0xFFFFu));
            v[2 * i + 1] = f16_to_f32((u16)(w[i] >> 16));
        }
    }
};

struct FmtF16S {
    static constexpr int BLOCK_ELEMS = 1, BLOCK_BYTES = 2, UNITS = 1, GROUPS = 1, GLEN = 1, GSTRIDE = 0;
    __device__ static int base(int) { return 0; }
    __device__ static void decode(const u8* b, int, float* v) { v[0] = f16_to_f32(ld_u16(b)); }
};

struct FmtBF16V {
    static constexpr int BLOCK_ELEMS = 8, BLOCK_BYTES = 16, UNITS = 1, GROUPS = 1, GLEN = 8, GSTRIDE = 0;
    __device__ static int base(int) { return 0; }
    __device__ static void decode(const u8* b, int, float* v) {
        uint4 q = *(const uint4*)b;
        u32 w[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            v[2 * i] = __uint_as_float(w[i] << 16);
            v[2 * i + 1] = __uint_as_float(w[i] & 0xFFFF0000u);
        }
    }
};

struct FmtBF16S {
    static constexpr int BLOCK_ELEMS = 1, BLOCK_BYTES = 2, UNITS = 1, GROUPS = 1, GLEN = 1, GSTRIDE = 0;
    __device__ static int base(int) { return 0; }
    __device__ static void decode(const u8* b, int, float* v) { v[0] = bf16_to_f32(ld_u16(b)); }
};

// Q8_0: d f16 @0, qs[32] i8 @2; y = q·d. Unit u: elements 8u .. 8u+7.
struct FmtQ8_0 {
    static constexpr int BLOCK_ELEMS = 32, BLOCK_BYTES = 34, UNITS = 4, GROUPS = 1, GLEN = 8, GSTRIDE = 0;
    __device__ static int base(int u) { return 8 * u; }
    __device__ static void decode(const u8* b, int u, float* v) {
        float d = f16_to_f32(ld_u16(b));
        u32 w[2];
        ld8_a2(b + 2 + 8 * u, w);
#pragma unroll
        for (int j = 0; j < 8; ++j) v[j] = (float)(signed char)byte_of(w, j) * d;
    }
};

// Q4_0: d f16 @0, qs[16] @2; y = (q − 8)·d; low nibbles elements 0..15, high 16..31.
// Unit u: qs bytes 4u..4u+3 → elements 4u+j and 16+4u+j.
struct FmtQ4_0 {
    static constexpr int BLOCK_ELEMS = 32, BLOCK_BYTES = 18, UNITS = 4, GROUPS = 2, GLEN = 4, GSTRIDE = 16;
    __device__ static int base(int u) { return 4 * u; }
    __device__ static void decode(const u8* b, int u, float* v) {
        float d = f16_to_f32(ld_u16(b));
        u32 q = ld_u32_a2(b + 2 + 4 * u);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            u32 byte = (q >> (8 * j)) & 0xFFu;
            v[j] = ((int)(byte & 15u) - 8) * d;
            v[4 + j] = ((int)(byte >> 4) - 8) * d;
        }
    }
};

// Q4_1: d f16 @0, m f16 @2, qs[16] @4; y = q·d + m.
struct FmtQ4_1 {
    static constexpr int BLOCK_ELEMS = 32, BLOCK_BYTES = 20, UNITS = 4, GROUPS = 2, GLEN = 4, GSTRIDE = 16;
    __device__ static int base(int u) { return 4 * u; }
    __device__ static void decode(const u8* b, int u, float* v) {
        float d = f16_to_f32(ld_u16(b)), m = f16_to_f32(ld_u16(b + 2));
        u32 q = ld_u32(b + 4 + 4 * u);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            u32 byte = (q >> (8 * j)) & 0xFFu;
            v[j] = __fmul_rn((float)(byte & 15u), d) + m;
            v[4 + j] = __fmul_rn((float)(byte >> 4), d) + m;
        }
    }
};

// Q5_0: d f16 @0, qh u32 @2, qs[16] @6; y = (q − 16)·d; bit 4 of element e is bit e of qh.
struct FmtQ5_0 {
    static constexpr int BLOCK_ELEMS = 32, BLOCK_BYTES = 22, UNITS = 4, GROUPS = 2, GLEN = 4, GSTRIDE = 16;
    __device__ static int base(int u) { return 4 * u; }
    __device__ static void decode(const u8* b, int u, float* v) {
        float d = f16_to_f32(ld_u16(b));
        u32 qh = ld_u32_a2(b + 2);
        u32 q = ld_u32_a2(b + 6 + 4 * u);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            int e = 4 * u + j;
            u32 byte = (q >> (8 * j)) & 0xFFu;
            u32 lo = (byte & 15u) | (((qh >> e) & 1u) << 4);
            u32 hi = (byte >> 4) | (((qh >> (e + 16)) & 1u) << 4);
            v[j] = ((int)lo - 16) * d;
            v[4 + j] = ((int)hi - 16) * d;
        }
    }
};

// Q5_1: d f16 @0, m f16 @2, qh u32 @4, qs[16] @8; y = q·d + m.
struct FmtQ5_1 {
    static constexpr int BLOCK_ELEMS = 32, BLOCK_BYTES = 24, UNITS = 4, GROUPS = 2, GLEN = 4, GSTRIDE = 16;
    __device__ static int base(int u) { return 4 * u; }
    __device__ static void decode(const u8* b, int u, float* v) {
        float d = f16_to_f32(ld_u16(b)), m = f16_to_f32(ld_u16(b + 2));
        u32 qh = ld_u32(b + 4);
        u32 q = ld_u32(b + 8 + 4 * u);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            int e = 4 * u + j;
            u32 byte = (q >> (8 * j)) & 0xFFu;
            u32 lo = (byte & 15u) | (((qh >> e) & 1u) << 4);
            u32 hi = (byte >> 4) | (((qh >> (e + 16)) & 1u) << 4);
            v[j] = __fmul_rn((float)lo, d) + m;
            v[4 + j] = __fmul_rn((float)hi, d) + m;
        }
    }
};

// The 6-bit (scale, min) of sub-block s of Q4_K/Q5_K from the 12 packed bytes.
__device__ __forceinline__ void k4_scale_min(const u8* sc, int s, float* scale, float* min) {
    u32 a, m;
    if (s < 4) {
        a = sc[s] & 63u;
        m = sc[s + 4] & 63u;
    } else {
        a = (sc[s + 4] & 15u) | ((u32)(sc[s - 4] >> 6) << 4);
        m = (sc[s + 4] >> 4) | ((u32)(sc[s] >> 6) << 4);
    }
    *scale = (float)a;
    *min = (float)m;
}

// Q4_K: d @0, dmin @2, scales[12] @4, qs[128] @16; y = d·sc·q − dmin·m. Sub-blocks 2p (low nibbles)
// and 2p+1 (high nibbles) share qs[32p .. 32p+32]. Unit u = (p = u/2, h = u%2): qs bytes
// 32p+16h .. +16 (one 16-byte load) → elements 64p+16h+i and 64p+32+16h+i.
struct FmtQ4_K {
    static constexpr int BLOCK_ELEMS = 256, BLOCK_BYTES = 144, UNITS = 8, GROUPS = 2, GLEN = 16, GSTRIDE = 32;
    __device__ static int base(int u) { return 64 * (u >> 1) + 16 * (u & 1); }
    __device__ static void decode(const u8* b, int u, float* v) {
        const int p = u >> 1, h = u & 1;
        float d = f16_to_f32(ld_u16(b)), dmin = f16_to_f32(ld_u16(b + 2));
        float sc0, m0, sc1, m1;
        k4_scale_min(b + 4, 2 * p, &sc0, &m0);
        k4_scale_min(b + 4, 2 * p + 1, &sc1, &m1);
        const float dl0 = d * sc0, ml0 = dmin * m0, dl1 = d * sc1, ml1 = dmin * m1;
        uint4 q4 = *(const uint4*)(b + 16 + 32 * p + 16 * h);
        u32 w[4] = {q4.x, q4.y, q4.z, q4.w};
#pragma unroll
        for (int i = 0; i < 16; ++i) {
            u32 byte = byte_of(w, i);
            v[i] = __fmul_rn(dl0, (float)(byte & 15u)) - ml0;
            v[16 + i] = __fmul_rn(dl1, (float)(byte >> 4)) - ml1;
        }
    }
};

// Q5_K: as Q4_K with qh[32] @16 and qs @48; bit s of qh[l] is bit 4 of element 32s + l.
struct FmtQ5_K {
    static constexpr int BLOCK_ELEMS = 256, BLOCK_BYTES = 176, UNITS = 8, GROUPS = 2, GLEN = 16, GSTRIDE = 32;
    __device__ static int base(int u) { return 64 * (u >> 1) + 16 * (u & 1); }
    __device__ static void decode(const u8* b, int u, float* v) {
        const int p = u >> 1, h = u & 1;
        float d = f16_to_f32(ld_u16(b)), dmin = f16_to_f32(ld_u16(b + 2));
        float sc0, m0, sc1, m1;
        k4_scale_min(b + 4, 2 * p, &sc0, &m0);
        k4_scale_min(b + 4, 2 * p + 1, &sc1, &m1);
        const float dl0 = d * sc0, ml0 = dmin * m0, dl1 = d * sc1, ml1 = dmin * m1;
        uint4 h4 = *(const uint4*)(b + 16 + 16 * h);
        uint4 q4 = *(const uint4*)(b + 48 + 32 * p + 16 * h);
        u32 wh[4] = {h4.x, h4.y, h4.z, h4.w};
        u32 wq[4] = {q4.x, q4.y, q4.z, q4.w};
#pragma unroll
        for (int i = 0; i < 16; ++i) {
            u32 byte = byte_of(wq, i), hb = byte_of(wh, i);
            u32 lo = (byte & 15u) | (((hb >> (2 * p)) & 1u) << 4);
            u32 hi = (byte >> 4) | (((hb >> (2 * p + 1)) & 1u) << 4);
            v[i] = __fmul_rn(dl0, (float)lo) - ml0;
            v[16 + i] = __fmul_rn(dl1, (float)hi) - ml1;
        }
    }
};

// Q6_K: ql[128] @0, qh[64] @128, scales[16] i8 @192, d @208; y = d·sc·(q − 32). Element
// 128·half + 32·quarter + l: low 4 bits from ql[64·half + l + 32·(quarter & 1)] (high nibble for
// quarter ≥ 2), high 2 bits at bit 2·quarter of qh[32·half + l], scale 8·half + 2·quarter + l/16.
// Unit u = (half = u/4, g = u%4): l = 8g .. 8g+7 for all four quarters.
// BYTES is 210 for blocks as stored in GGUF (2-byte aligned), 224 for the padded copy the backend
// makes at upload (`q6_kr`: every block 16-byte aligned, so the matvec kernels can use 16-byte loads).
template <int BYTES>
struct FmtQ6Layout {
    static constexpr int BLOCK_ELEMS = 256, BLOCK_BYTES = BYTES, UNITS = 8, GROUPS = 4, GLEN = 8, GSTRIDE = 32;
    __device__ static int base(int u) { return 128 * (u >> 2) + 8 * (u & 3); }
    __device__ static void decode(const u8* b, int u, float* v) {
        const int half = u >> 2, g = u & 3;
        float d = f16_to_f32(ld_u16(b + 208));
        u32 qa[2], qb[2], qh[2];
        ld8_a2(b + 64 * half + 8 * g, qa);
        ld8_a2(b + 64 * half + 32 + 8 * g, qb);
        ld8_a2(b + 128 + 32 * half + 8 * g, qh);
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            const float dl = d * (float)(signed char)b[192 + 8 * half + 2 * q + (g >> 1)];
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                u32 src = (q & 1) ? byte_of(qb, i) : byte_of(qa, i);
                u32 low4 = (q < 2) ? (src & 15u) : (src >> 4);
                u32 high2 = (byte_of(qh, i) >> (2 * q)) & 3u;
                v[8 * q + i] = dl * (float)((int)(low4 | (high2 << 4)) - 32);
            }
        }
    }
};
typedef FmtQ6Layout<210> FmtQ6_K;
typedef FmtQ6Layout<224> FmtQ6_KR;

// Q2_K: scales[16] @0, qs[64] @16, d @80, dmin @82; y = d·(sc & 15)·q − dmin·(sc >> 4). Element
// 128·half + 32·j + l: bits 2j of qs[32·half + l], sub-block 8·half + 2·j + (l ≥ 16).
// Unit u = (half = u/4, g = u%4): l = 8g .. 8g+7 for j = 0..3.
struct FmtQ2_K {
    static constexpr int BLOCK_ELEMS = 256, BLOCK_BYTES = 84, UNITS = 8, GROUPS = 4, GLEN = 8, GSTRIDE = 32;
    __device__ static int base(int u) { return 128 * (u >> 2) + 8 * (u & 3); }
    __device__ static void decode(const u8* b, int u, float* v) {
        const int half = u >> 2, g = u & 3;
        float d = f16_to_f32(ld_u16(b + 80)), dmin = f16_to_f32(ld_u16(b + 82));
        u32 q[2];
        q[0] = ld_u32(b + 16 + 32 * half + 8 * g);
        q[1] = ld_u32(b + 16 + 32 * half + 8 * g + 4);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            u32 sc = b[8 * half + 2 * j + (g >> 1)];
            const float dl = d * (float)(sc & 15u), ml = dmin * (float)(sc >> 4);
#pragma unroll
            for (int i = 0; i < 8; ++i) v[8 * j + i] = __fmul_rn(dl, (float)((byte_of(q, i) >> (2 * j)) & 3u)) - ml;
        }
    }
};

// Q3_K: hmask[32] @0, qs[64] @32, scales[12] @96, d @108; y = d·S·q, S signed 6-bit, q in −4..3.
// Element 128·half + 32·j + l: low bits 2j of qs[32·half + l], high bit 4·half + j of hmask[l]
// (clear means −4), sub-block 8·half + 2·j + (l ≥ 16). Unit u as Q2_K.
struct FmtQ3_K {
    static constexpr int BLOCK_ELEMS = 256, BLOCK_BYTES = 110, UNITS = 8, GROUPS = 4, GLEN = 8, GSTRIDE = 32;
    __device__ static int base(int u) { return 128 * (u >> 2) + 8 * (u & 3); }
    __device__ static int scale(const u8* sc, int s) {
        u32 low4 = s < 8 ? (sc[s] & 15u) : (sc[s - 8] >> 4);
        u32 high2 = (sc[8 + (s & 3)] >> (2 * (s >> 2))) & 3u;
        return (int)(low4 | (high2 << 4)) - 32;
    }
    __device__ static void decode(const u8* b, int u, float* v) {
        const int half = u >> 2, g = u & 3;
        float d = f16_to_f32(ld_u16(b + 108));
        u32 hm[2], q[2];
        ld8_a2(b + 8 * g, hm);
        ld8_a2(b + 32 + 32 * half + 8 * g, q);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const float dl = d * (float)scale(b + 96, 8 * half + 2 * j + (g >> 1));
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                int lo = (int)((byte_of(q, i) >> (2 * j)) & 3u);
                int high = (int)((byte_of(hm, i) >> (4 * half + j)) & 1u);
                v[8 * j + i] = dl * (float)(lo - (high ? 0 : 4));
            }
        }
    }
};

// FORMAT_SET(X) — defined by the host ahead of this file (src/nvrtc.rs) — lists the formats a
// program instantiates as X(name, struct): all of them for embed.cu, one per program for matmul.cu
// (so that the formats compile in parallel).
