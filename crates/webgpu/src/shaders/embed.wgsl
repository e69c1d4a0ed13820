// embed: out[t] = table[tokens[t]], decoding one stored row per token (quant/<type>.wgsl).
// table part: rows first_row .. first_row + rows of [V, C]; tokens: u32 ids at token_offset of the
// step's token buffer; out: [T, C] f32. A weight split into parts runs one dispatch per part, and
// each dispatch writes only the tokens whose row it holds.
// Thread mapping: one thread per (unit of 32 elements, token): x = unit, y = token. Exact (decode only).

struct Params {
    cols: u32,
    n_tokens: u32,
    token_offset: u32,
    first_row: u32,
    rows: u32,
    row_stride: u32,
    units: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> tokens: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let u = gid.x;
    let t = gid.y;
    if (u >= p.units || t >= p.n_tokens) {
        return;
    }
    let tok = tokens[p.token_offset + t];
    if (tok < p.first_row || tok >= p.first_row + p.rows) {
        return;
    }
    let wv = decode_unit((tok - p.first_row) * p.row_stride, u);
    for (var q = 0u; q < 8u; q++) {
        for (var i = 0u; i < 4u; i++) {
            let e = u * 32u + 4u * q + i;
            if (e < p.cols) {
                out[t * p.cols + e] = wv[q][i];
            }
        }
    }
}
