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

/// (file, tensor, type, [(flat element index, value)]), values from gguf-py 0.19's
/// `gguf.quants.dequantize` (numpy reference dequantizers, written independently of ggml's C code) on
/// the fixture files, printed as Python floats of the float32 results.
#[rustfmt::skip]
const GGUF_PY_VALUES: &[(&str, &str, &str, &[(usize, f32)])] = &[
    ("Q8_0", "blk.0.time_mix_key.weight", "Q8_0", &[(0, 0.07072162628173828), (1, 0.05707359313964844), (15, -0.06824016571044922), (16, -0.02853679656982422), (31, 0.11414718627929688), (33, 0.032012939453125), (100, -0.044830322265625), (127, -0.015410423278808594), (128, -0.06276988983154297), (200, -0.06096601486206055), (255, 0.0047760009765625), (256, -0.04132080078125), (511, 0.07372665405273438), (1000, 0.098968505859375)]),
    ("Q4_0", "blk.0.time_mix_key.weight", "Q4_0", &[(0, 0.07879638671875), (1, 0.0590972900390625), (15, -0.0590972900390625), (16, -0.0196990966796875), (31, 0.118194580078125), (33, 0.031768798828125), (100, -0.04449462890625), (127, -0.022247314453125), (128, -0.0600433349609375), (200, -0.0595703125), (255, 0.0), (256, -0.040985107421875), (511, 0.07598876953125), (1000, 0.100250244140625)]),
    ("Q4_1", "blk.0.time_mix_key.weight", "Q4_1", &[(0, 0.0718994140625), (1, 0.05474853515625), (15, -0.0653076171875), (16, -0.031005859375), (31, 0.106201171875), (33, 0.03897857666015625), (100, -0.0475311279296875), (127, -0.0099639892578125), (128, -0.0659027099609375), (200, -0.06427001953125), (255, -0.00048828125), (256, -0.03192138671875), (511, 0.0736541748046875), (1000, 0.09820556640625)]),
    ("Q5_0", "blk.0.time_mix_key.weight", "Q5_0", &[(0, 0.06894683837890625), (1, 0.0590972900390625), (15, -0.06894683837890625), (16, -0.02954864501953125), (31, 0.118194580078125), (33, 0.031768798828125), (100, -0.04449462890625), (127, -0.0111236572265625), (128, -0.0600433349609375), (200, -0.0595703125), (255, 0.0094757080078125), (256, -0.040985107421875), (511, 0.07598876953125), (1000, 0.100250244140625)]),
    ("Q5_1", "blk.0.time_mix_key.weight", "Q5_1", &[(0, 0.07454681396484375), (1, 0.05796051025390625), (15, -0.066436767578125), (16, -0.02497100830078125), (31, 0.1160125732421875), (33, 0.03472137451171875), (100, -0.04022216796875), (127, -0.012939453125), (128, -0.0606842041015625), (200, -0.0594024658203125), (255, 0.0037689208984375), (256, -0.045318603515625), (511, 0.07365798950195312), (1000, 0.0992584228515625)]),
    ("Q2_K", "blk.0.time_mix_key.weight", "Q2_K", &[(0, 0.0694580078125), (1, 0.0694580078125), (15, -0.08087158203125), (16, -0.02449798583984375), (31, 0.08824920654296875), (33, 0.01692962646484375), (100, -0.03032684326171875), (127, -0.00713348388671875), (128, -0.08087158203125), (200, -0.05240631103515625), (255, 0.02375030517578125), (256, -0.036163330078125), (511, 0.04610443115234375), (1000, 0.0612945556640625)]),
    ("Q3_K_M", "blk.0.time_mix_key.weight", "Q3_K", &[(0, 0.07585716247558594), (1, 0.03792858123779297), (15, -0.07585716247558594), (16, -0.028095245361328125), (31, 0.1123809814453125), (33, 0.03652381896972656), (100, -0.044952392578125), (127, -0.0), (128, -0.050571441650390625), (200, -0.05900001525878906), (255, 0.0), (256, -0.04131317138671875), (511, 0.0605926513671875), (1000, 0.104644775390625)]),
    ("Q4_K_M", "blk.0.time_mix_key.weight", "Q4_K", &[(0, 0.06613302230834961), (1, 0.04941534996032715), (15, -0.06760835647583008), (16, -0.034173011779785156), (31, 0.11628603935241699), (33, 0.03435325622558594), (100, -0.046616554260253906), (127, -0.008765220642089844), (128, -0.06469106674194336), (200, -0.06450080871582031), (255, 0.010934829711914062), (256, -0.033762454986572266), (511, 0.06925582885742188), (1000, 0.09783363342285156)]),
    ("Q5_K_M", "blk.0.time_mix_key.weight", "Q5_K", &[(0, 0.07473742961883545), (1, 0.058280110359191895), (15, -0.06514978408813477), (16, -0.032235145568847656), (31, 0.11588072776794434), (33, 0.03404688835144043), (100, -0.04157602787017822), (127, -0.014291524887084961), (128, -0.06057286262512207), (200, -0.05982470512390137), (255, 0.003927826881408691), (256, -0.03863358497619629), (511, 0.07070446014404297), (1000, 0.09930610656738281)]),
    ("Q6_K", "blk.0.time_mix_key.weight", "Q6_K", &[(0, 0.06902694702148438), (1, 0.05423545837402344), (15, -0.06902694702148438), (16, -0.0294036865234375), (31, 0.11393928527832031), (33, 0.03146553039550781), (100, -0.0458984375), (127, -0.0172119140625), (128, -0.0630655288696289), (200, -0.06024169921875), (255, 0.0047512054443359375), (256, -0.04222869873046875), (511, 0.07271254062652588), (1000, 0.09850239753723145)]),
    ("Q6_K", "output.weight", "Q6_K", &[(0, 0.16342926025390625), (1, -0.08171463012695312), (15, 0.13278627395629883), (16, 0.06227445602416992), (31, -0.2579941749572754), (33, 0.014827251434326172), (100, 0.11730003356933594), (127, 0.1515674591064453), (128, -0.009225845336914062), (200, -0.049424171447753906), (255, -0.3469576835632324), (256, 0.32375335693359375), (511, -0.15529632568359375), (1000, -0.21938788890838623)]),
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
