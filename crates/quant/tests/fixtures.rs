//! Decoding checked against independent values: llama.cpp's quantized fixtures against the F16 file they
//! were made from (a layout mistake gives relative errors near 1), and exact values from gguf-py.

mod common;

use gguf::{GgufFile, TensorInfo};
use quant::GgmlType;

/// Quantized fixture files, all made by llama-quantize from `synth-tiny-k-F16.gguf`.
const QUANTIZED_FIXTURES: &[&str] = &[
    "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K",
];

fn open(name: &str) -> Option<GgufFile> {
    let path = testkit::fixture(name)?;
    Some(GgufFile::open(&path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display())))
}

/// The whole tensor decoded row by row.
fn dequantize_tensor(file: &GgufFile, info: &TensorInfo) -> Vec<f32> {
    let row_len = info.dims[0] as usize;
    let row_bytes = quant::row_bytes(info.ty, row_len).unwrap();
    let mut out = vec![0.0f32; info.n_elements() as usize];
    for (src, dst) in file
        .tensor_data(info)
        .chunks_exact(row_bytes)
        .zip(out.chunks_exact_mut(row_len))
    {
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
    let Some(source) = open("synth-tiny-k-F16.gguf") else {
        return;
    };
    let mut worst: Vec<(GgmlType, f64)> = Vec::new();
    let mut compared = 0;
    for name in QUANTIZED_FIXTURES {
        let Some(file) = open(&format!("synth-tiny-k-{name}.gguf")) else {
            return;
        };
        let mut in_file = 0;
        for info in file.tensors() {
            if matches!(info.ty, GgmlType::F32 | GgmlType::F16) {
                continue;
            }
            let src_info = source
                .tensor(&info.name)
                .unwrap_or_else(|| panic!("{} missing in F16 file", info.name));
            assert_eq!(src_info.dims, info.dims, "{}", info.name);
            let reference = dequantize_tensor(&source, src_info);
            let decoded = dequantize_tensor(&file, info);
            let err = common::relative_rmse(&decoded, &reference);
            let bound = max_relative_rmse(info.ty);
            assert!(
                err < bound,
                "{name}: tensor '{}' ({}) relative RMSE {err:.4} >= {bound}",
                info.name,
                info.ty
            );
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
        println!(
            "{ty}: worst relative RMSE vs F16 source {err:.5} (bound {})",
            max_relative_rmse(*ty)
        );
    }
    println!("compared {compared} quantized tensors");
}

type Expected = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(usize, f32)],
);

/// (file, tensor, type, [(flat element index, value)]), values from gguf-py 0.19's
/// `gguf.quants.dequantize` (numpy reference dequantizers, written independently of ggml's C code) on
/// the fixture files (`GGUFReader(path)`, `dequantize(t.data, t.tensor_type).reshape(-1)[i]`), printed
/// as the shortest decimal that round-trips each float32.
#[rustfmt::skip]
const GGUF_PY_VALUES: &[Expected] = &[
    ("Q8_0", "blk.0.time_mix_key.weight", "Q8_0", &[(0, 0.07072163), (1, 0.057073593), (15, -0.068240166), (16, -0.028536797), (31, 0.11414719), (33, 0.03201294), (100, -0.044830322), (127, -0.015410423), (128, -0.06276989), (200, -0.060966015), (255, 0.004776001), (256, -0.0413208), (511, 0.073726654), (1000, 0.098968506)]),
    ("Q4_0", "blk.0.time_mix_key.weight", "Q4_0", &[(0, 0.07879639), (1, 0.05909729), (15, -0.05909729), (16, -0.019699097), (31, 0.11819458), (33, 0.0317688), (100, -0.04449463), (127, -0.022247314), (128, -0.060043335), (200, -0.059570312), (255, 0.0), (256, -0.040985107), (511, 0.07598877), (1000, 0.100250244)]),
    ("Q4_1", "blk.0.time_mix_key.weight", "Q4_1", &[(0, 0.071899414), (1, 0.054748535), (15, -0.06530762), (16, -0.03100586), (31, 0.10620117), (33, 0.038978577), (100, -0.047531128), (127, -0.009963989), (128, -0.06590271), (200, -0.06427002), (255, -0.00048828125), (256, -0.031921387), (511, 0.073654175), (1000, 0.09820557)]),
    ("Q5_0", "blk.0.time_mix_key.weight", "Q5_0", &[(0, 0.06894684), (1, 0.05909729), (15, -0.06894684), (16, -0.029548645), (31, 0.11819458), (33, 0.0317688), (100, -0.04449463), (127, -0.011123657), (128, -0.060043335), (200, -0.059570312), (255, 0.009475708), (256, -0.040985107), (511, 0.07598877), (1000, 0.100250244)]),
    ("Q5_1", "blk.0.time_mix_key.weight", "Q5_1", &[(0, 0.074546814), (1, 0.05796051), (15, -0.06643677), (16, -0.024971008), (31, 0.11601257), (33, 0.034721375), (100, -0.040222168), (127, -0.012939453), (128, -0.060684204), (200, -0.059402466), (255, 0.003768921), (256, -0.045318604), (511, 0.07365799), (1000, 0.09925842)]),
    ("Q2_K", "blk.0.time_mix_key.weight", "Q2_K", &[(0, 0.06945801), (1, 0.06945801), (15, -0.08087158), (16, -0.024497986), (31, 0.08824921), (33, 0.016929626), (100, -0.030326843), (127, -0.007133484), (128, -0.08087158), (200, -0.05240631), (255, 0.023750305), (256, -0.03616333), (511, 0.04610443), (1000, 0.061294556)]),
    ("Q3_K_M", "blk.0.time_mix_key.weight", "Q3_K", &[(0, 0.07585716), (1, 0.03792858), (15, -0.07585716), (16, -0.028095245), (31, 0.11238098), (33, 0.03652382), (100, -0.044952393), (127, -0.0), (128, -0.05057144), (200, -0.059000015), (255, 0.0), (256, -0.04131317), (511, 0.06059265), (1000, 0.104644775)]),
    ("Q4_K_M", "blk.0.time_mix_key.weight", "Q4_K", &[(0, 0.06613302), (1, 0.04941535), (15, -0.06760836), (16, -0.03417301), (31, 0.11628604), (33, 0.034353256), (100, -0.046616554), (127, -0.008765221), (128, -0.06469107), (200, -0.06450081), (255, 0.01093483), (256, -0.033762455), (511, 0.06925583), (1000, 0.09783363)]),
    ("Q5_K_M", "blk.0.time_mix_key.weight", "Q5_K", &[(0, 0.07473743), (1, 0.05828011), (15, -0.065149784), (16, -0.032235146), (31, 0.11588073), (33, 0.03404689), (100, -0.041576028), (127, -0.014291525), (128, -0.060572863), (200, -0.059824705), (255, 0.003927827), (256, -0.038633585), (511, 0.07070446), (1000, 0.09930611)]),
    ("Q6_K", "blk.0.time_mix_key.weight", "Q6_K", &[(0, 0.06902695), (1, 0.05423546), (15, -0.06902695), (16, -0.029403687), (31, 0.113939285), (33, 0.03146553), (100, -0.045898438), (127, -0.017211914), (128, -0.06306553), (200, -0.0602417), (255, 0.0047512054), (256, -0.0422287), (511, 0.07271254), (1000, 0.0985024)]),
    ("Q6_K", "output.weight", "Q6_K", &[(0, 0.16342926), (1, -0.08171463), (15, 0.13278627), (16, 0.062274456), (31, -0.25799417), (33, 0.014827251), (100, 0.11730003), (127, 0.15156746), (128, -0.009225845), (200, -0.04942417), (255, -0.34695768), (256, 0.32375336), (511, -0.15529633), (1000, -0.21938789)]),
];

#[test]
fn decoded_values_match_gguf_py() {
    let mut checked = 0;
    for (file_name, tensor, ty, values) in GGUF_PY_VALUES {
        let Some(file) = open(&format!("synth-tiny-k-{file_name}.gguf")) else {
            return;
        };
        let info = file
            .tensor(tensor)
            .unwrap_or_else(|| panic!("{file_name}: no tensor {tensor}"));
        assert_eq!(info.ty.name(), *ty, "{file_name}: {tensor}");
        let decoded = dequantize_tensor(&file, info);
        for &(i, expected) in values.iter() {
            let got = decoded[i];
            // Same f32 operations in the same order as gguf-py: the values agree bit for bit.
            assert!(
                got == expected,
                "{file_name}: {tensor}[{i}] = {got:e}, gguf-py says {expected:e}"
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} values checked");
}
