//! Bad lengths and unsupported types give QuantError, never a panic.

use quant::{GgmlType, QuantError, SUPPORTED};

#[test]
fn supported_set_is_the_thirteen_types() {
    assert_eq!(SUPPORTED.len(), 13);
    let unsupported: Vec<GgmlType> = GgmlType::all()
        .filter(|&t| !quant::is_supported(t))
        .collect();
    assert!(unsupported.contains(&GgmlType::IQ2_XXS));
    assert!(unsupported.contains(&GgmlType::Q8_K));
    assert_eq!(unsupported.len() + 13, GgmlType::all().count());
}

#[test]
fn unsupported_types_are_named_in_the_error() {
    let mut cases = 0;
    for ty in GgmlType::all().filter(|&t| !quant::is_supported(t)) {
        let n = ty.block_size();
        let bytes = vec![0u8; ty.type_size()];
        let mut out = vec![0.0f32; n];
        let x = vec![0.0f32; n];
        let mut dst = vec![0u8; ty.type_size()];
        let errors = [
            quant::dequantize_row(ty, &bytes, &mut out).unwrap_err(),
            quant::dot_row(ty, &bytes, &x).unwrap_err(),
            quant::quantize_row(ty, &x, &mut dst).unwrap_err(),
        ];
        for e in errors {
            assert!(
                matches!(e, QuantError::Unsupported { ty: t } if t == ty),
                "{ty}: {e:?}"
            );
            let msg = e.to_string();
            assert!(msg.contains(ty.name()), "message does not name {ty}: {msg}");
        }
        cases += 1;
    }
    assert!(cases > 10);
    let msg = quant::dot_row(GgmlType::IQ2_XXS, &[0u8; 66], &[0.0; 256])
        .unwrap_err()
        .to_string();
    println!("{msg}");
    assert!(msg.contains("IQ2_XXS"));
}

#[test]
fn wrong_lengths_are_errors() {
    let mut cases = 0;
    for ty in SUPPORTED {
        let (bs, ts) = (ty.block_size(), ty.type_size());
        let n = 3 * bs.max(32);
        let good = quant::row_bytes(ty, n).unwrap();
        assert_eq!(good, n / bs * ts);
        for bytes in [good - 1, good + 1, 0] {
            let src = vec![0u8; bytes];
            let mut out = vec![0.0f32; n];
            let e = quant::dequantize_row(ty, &src, &mut out).unwrap_err();
            assert!(
                matches!(e, QuantError::Length { expected, found, .. } if expected == good && found == bytes),
                "{ty}: {e:?}"
            );
            let msg = e.to_string();
            assert!(
                msg.contains(ty.name()) && msg.contains(&good.to_string()),
                "{msg}"
            );
            assert!(quant::dot_row(ty, &src, &vec![0.0; n]).is_err());
            let mut dst = vec![0u8; bytes];
            assert!(quant::quantize_row(ty, &vec![0.0; n], &mut dst).is_err());
            cases += 1;
        }
        if bs > 1 {
            // Not a whole number of blocks.
            let e = quant::row_bytes(ty, bs + 1).unwrap_err();
            assert!(
                matches!(e, QuantError::PartialBlock { elements, block_size, .. } if elements == bs + 1 && block_size == bs)
            );
            let mut out = vec![0.0f32; bs + 1];
            assert!(matches!(
                quant::dequantize_row(ty, &vec![0u8; 2 * ts], &mut out),
                Err(QuantError::PartialBlock { .. })
            ));
            assert!(quant::dot_row(ty, &vec![0u8; 2 * ts], &vec![0.0; bs + 1]).is_err());
            assert!(quant::quantize_row(ty, &vec![0.0; bs + 1], &mut vec![0u8; 2 * ts]).is_err());
        }
    }
    assert_eq!(cases, 3 * SUPPORTED.len());
    println!(
        "{}",
        quant::dequantize_row(GgmlType::Q4_K, &[0u8; 280], &mut [0.0; 512]).unwrap_err()
    );
}

#[test]
fn empty_rows_are_fine() {
    for ty in SUPPORTED {
        quant::dequantize_row(ty, &[], &mut []).unwrap();
        assert_eq!(quant::dot_row(ty, &[], &[]).unwrap(), 0.0);
        quant::quantize_row(ty, &[], &mut []).unwrap();
    }
}

#[test]
fn row_bytes_overflow_is_an_error() {
    let e = quant::row_bytes(GgmlType::F32, usize::MAX).unwrap_err();
    assert!(matches!(e, QuantError::TooLarge { .. }), "{e:?}");
}
