//! embed: `out[t] = table[tokens[t]]`, decoding one stored row per token.
//! table: `[V, C]` in its stored type; out: `[T, C]` f32.

use gguf::GgmlType;

/// `rows_bytes` is the whole table; `row_bytes` the bytes of one row of `out_row.len()` elements.
pub fn embed(ty: GgmlType, table: &[u8], row_bytes: usize, tokens: &[u32], out: &mut [f32]) {
    let c = out.len() / tokens.len().max(1);
    for (t, &tok) in tokens.iter().enumerate() {
        let start = tok as usize * row_bytes;
        quant::dequantize_row(ty, &table[start..start + row_bytes], &mut out[t * c..(t + 1) * c])
            .expect("row sizes were checked when the weight was loaded");
    }
}
