//! Decoding checked against independent values: llama.cpp's quantized fixtures against the F16 file they
//! were made from (a layout mistake gives relative errors near 1), and exact values from gguf-py.

mod common;

use gguf::{GgufFile, TensorInfo};
use quant::GgmlType;

/// Quantized fixture files, all made by llama-quantize from `synth-tiny-k-F16.gguf`.
const QUANTIZED_FIXTURES: &[&str] =
    &["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K"];

fn open(name: &str) -> Option<GgufFile> {
    let path = testkit::fixture(name)?;
    Some(GgufFile::open(&path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display())))
}

/// The whole tensor decoded row by row.
fn dequantize_tensor(file: &GgufFile, info: &TensorInfo) -> Vec<f32> {
    let row_len = info.dims[0] as usize;
    let row_bytes = quant::row_bytes(info.ty, row_len).unwrap();
    let mut out = vec![0.0f32; info.n_elements() as usize];
    for (src, dst) in file.tensor_data(info).chunks_exact(row_bytes).zip(out.chunks_exact_mut(row_len)) {
        quant::dequantize_row(info.ty, src, dst).unwrap_or_else(|e| panic!("{}: {e}", info.name));
    }
    out
}

/// Largest relative RMSE (vs the F16 source) accepted per type: about 1.5x what llama.cpp's own
/// quantizer reaches on these random weights, far below the ~1.0 of a wrong layout.
fn max_relative_rmse(ty: GgmlType) -> f64 {
    match ty {
        GgmlType::Q8_0 => 0.01,
        GgmlType::Q6_K => 0.03,
        GgmlType::Q5_0 | GgmlType::Q5_1 | GgmlType::Q5_K => 0.065,
        GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q4_K => 0.13,
        GgmlType::Q3_K => 0.23,
        GgmlType::Q2_K => 0.45,
        other => panic!("no bound for {other}"),
    }
}

#[test]
fn quantized_fixtures_decode_close_to_their_f16_source() {
    let Some(source) = open("synth-tiny-k-F16.gguf") else { return };
    let mut worst: Vec<(GgmlType, f64)> = Vec::new();
    let mut compared = 0;
    for name in QUANTIZED_FIXTURES {
        let Some(file) = open(&format!("synth-tiny-k-{name}.gguf")) else { return };
        let mut in_file = 0;
        for info in file.tensors() {
            if matches!(info.ty, GgmlType::F32 | GgmlType::F16) {
                continue;
            }
            let src_info = source.tensor(&info.name).unwrap_or_else(|| panic!("{} missing in F16 file", info.name));
            assert_eq!(src_info.dims, info.dims, "{}", info.name);
            let reference = dequantize_tensor(&source, src_info);
            let decoded = dequantize_tensor(&file, info);
            let err = common::relative_rmse(&decoded, &reference);
            let bound = max_relative_rmse(info.ty);
            assert!(err < bound, "{name}: tensor '{}' ({}) relative RMSE {err:.4} >= {bound}", info.name, info.ty);
            match worst.iter_mut().find(|(t, _)| *t == info.ty) {
                Some((_, w)) => *w = w.max(err),
                None => worst.push((info.ty, err)),
            }
            in_file += 1;
        }
        assert!(in_file > 0, "{name}: no quantized tensors");
        compared += in_file;
    }
    for (ty, err) in &worst {
        println!("{ty}: worst relative RMSE vs F16 source {err:.5} (bound {})", max_relative_rmse(*ty));
    }
    println!("compared {compared} quantized tensors");
}

type Expected = (&'static str, &'static str, &'static str, &'static [(usize, f32)]);

/// (file, tensor, type, [(flat element index, value)]), values from gguf-py 0.19's
/// `gguf.quants.dequantize` (numpy reference dequantizers, written independently of ggml's C code) on
/// the fixture files (`GGUFReader(path)`, `dequantize(t.data, t.tensor_type).reshape(-1)[i]`), printed
/// as the shortest decimal that round-trips each float32.
#[rustfmt::skip]
const GGUF_PY_VALUES: &[Expected] = &[
];

#[test]
fn decoded_values_match_gguf_py() {
    let mut checked = 0;
    for (file_name, tensor, ty, values) in GGUF_PY_VALUES {
        let Some(file) = open(&format!("synth-tiny-k-{file_name}.gguf")) else { return };
        let info = file.tensor(tensor).unwrap_or_else(|| panic!("{file_name}: no tensor {tensor}"));
        assert_eq!(info.ty.name(), *ty, "{file_name}: {tensor}");
        let decoded = dequantize_tensor(&file, info);
        for &(i, expected) in values.iter() {
            let got = decoded[i];
            // numpy may order the scale products differently: allow a couple of ulps.
            assert!(
                (got - expected).abs() <= 2.0 * f32::EPSILON * expected.abs(),
                "{file_name}: {tensor}[{i}] = {got:e}, gguf-py says {expected:e}"
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} values checked");
}
