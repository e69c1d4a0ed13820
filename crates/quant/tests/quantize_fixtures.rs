//! Our quantizers against llama-quantize: re-quantize the F16 source of each quantized fixture and
//! compare with the file llama.cpp wrote: the bytes must be identical (same reference algorithms,
//! same operation order), and the error against the source no worse than llama.cpp's (within 5%).

mod common;

use gguf::{GgufFile, TensorInfo};
use quant::GgmlType;

const QUANTIZED_FIXTURES: &[&str] = &[
    "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K",
];

fn open(name: &str) -> Option<GgufFile> {
    let path = testkit::fixture(name)?;
    Some(GgufFile::open(&path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display())))
}

fn dequantize_tensor(ty: GgmlType, row_len: usize, data: &[u8]) -> Vec<f32> {
    let row_bytes = quant::row_bytes(ty, row_len).unwrap();
    let mut out = vec![0.0f32; data.len() / row_bytes * row_len];
    for (src, dst) in data
        .chunks_exact(row_bytes)
        .zip(out.chunks_exact_mut(row_len))
    {
        quant::dequantize_row(ty, src, dst).unwrap();
    }
    out
}

/// Per type: total squared error of ours and of llama.cpp's, element count, identical rows, rows.
#[derive(Default)]
struct Tally {
    ours_sq: f64,
    llama_sq: f64,
    elements: usize,
    same_rows: usize,
    rows: usize,
}

fn compare_tensor(source: &GgufFile, file: &GgufFile, info: &TensorInfo, tally: &mut Tally) {
    let src_info = source
        .tensor(&info.name)
        .unwrap_or_else(|| panic!("{} missing in F16 file", info.name));
    let row_len = info.dims[0] as usize;
    let values = dequantize_tensor(src_info.ty, row_len, source.tensor_data(src_info));
    let row_bytes = quant::row_bytes(info.ty, row_len).unwrap();
    let mut ours = vec![0u8; values.len() / row_len * row_bytes];
    for (src, dst) in values
        .chunks_exact(row_len)
        .zip(ours.chunks_exact_mut(row_bytes))
    {
        quant::quantize_row(info.ty, src, dst).unwrap();
    }
    let theirs = file.tensor_data(info);
    assert_eq!(ours.len(), theirs.len(), "{}", info.name);
    for (a, b) in ours
        .chunks_exact(row_bytes)
        .zip(theirs.chunks_exact(row_bytes))
    {
        tally.same_rows += (a == b) as usize;
        tally.rows += 1;
    }
    let ours_rmse = common::rmse(&dequantize_tensor(info.ty, row_len, &ours), &values);
    let llama_rmse = common::rmse(&dequantize_tensor(info.ty, row_len, theirs), &values);
    assert!(
        ours_rmse <= 1.05 * llama_rmse,
        "tensor '{}' ({}): our RMSE {ours_rmse:.6e} vs llama.cpp's {llama_rmse:.6e}",
        info.name,
        info.ty
    );
    tally.ours_sq += ours_rmse.powi(2) * values.len() as f64;
    tally.llama_sq += llama_rmse.powi(2) * values.len() as f64;
    tally.elements += values.len();
}

#[test]
fn quantizers_match_llama_quantize_on_fixtures() {
    let Some(source) = open("synth-tiny-k-F16.gguf") else {
        return;
    };
    let mut tallies: Vec<(GgmlType, Tally)> = Vec::new();
    for name in QUANTIZED_FIXTURES {
        let Some(file) = open(&format!("synth-tiny-k-{name}.gguf")) else {
            return;
        };
        for info in file.tensors() {
            if matches!(info.ty, GgmlType::F32 | GgmlType::F16) {
                continue;
            }
            // output.weight is Q6_K in most files; compare it once.
            if tallies.iter().any(|(t, _)| *t == info.ty)
                && info.ty == GgmlType::Q6_K
                && *name != "Q6_K"
            {
                continue;
            }
            let idx = match tallies.iter().position(|(t, _)| *t == info.ty) {
                Some(i) => i,
                None => {
                    tallies.push((info.ty, Tally::default()));
                    tallies.len() - 1
                }
            };
            compare_tensor(&source, &file, info, &mut tallies[idx].1);
        }
    }
    assert_eq!(
        tallies.len(),
        10,
        "expected all ten quantized types among the fixtures"
    );
    for (ty, t) in &tallies {
        let ours = (t.ours_sq / t.elements as f64).sqrt();
        let llama = (t.llama_sq / t.elements as f64).sqrt();
        println!(
            "{ty}: RMSE vs F16 source: ours {ours:.6e}, llama.cpp {llama:.6e} (ratio {:.4}); identical rows {}/{}",
            ours / llama,
            t.same_rows,
            t.rows
        );
        assert!(
            ours <= 1.05 * llama,
            "{ty}: our RMSE {ours:e} > 1.05 x llama.cpp's {llama:e}"
        );
        // Same algorithms, same f32 operation order: every row should come out byte for byte.
        assert_eq!(
            t.same_rows, t.rows,
            "{ty}: rows that differ from llama-quantize's bytes"
        );
    }
}
