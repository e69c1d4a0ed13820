//! Quantizing an RWKV-7 GGUF file the way `llama-quantize <in> <out> <TYPE>` does: the same
//! per-tensor types ([`crate::rules`]), tensor order and metadata; tensor data is decoded to f32 and
//! re-encoded with aviary's quantizers (the `quant` crate, ggml's reference algorithms).

use std::borrow::Cow;
use std::path::Path;

use gguf::{GgmlType, GgufFile, Value};

use crate::report::{TensorSummary, WriteReport};
use crate::rules::{quantized_type, OUTPUT_WEIGHT};
use crate::write::{encode_rows, write_gguf, Plan};
use crate::{ConvertError, FileType, WriteOptions};

const FILE_TYPE_KEY: &str = "general.file_type";
const QUANTIZATION_VERSION_KEY: &str = "general.quantization_version";
/// ggml's `GGML_QNT_VERSION`.
const QUANTIZATION_VERSION: u32 = 2;
/// Keys llama-quantize drops: split bookkeeping. We also drop the alignment (we always write 32).
const DROPPED_KEYS: &[&str] = &["split.no", "split.count", "split.tensors.count", "general.alignment"];

/// Orders items like llama-quantize's output: tensors outside blocks, then blocks by number, each by name.
pub(crate) fn sort_like_llama_quantize<T>(items: &mut [T], name: impl Fn(&T) -> &str) {
    items.sort_by(|a, b| crate::rules::quantize_order_key(name(a)).cmp(&crate::rules::quantize_order_key(name(b))));
}

/// The input metadata as llama-quantize writes it: all keys in order except split keys, then
/// `general.quantization_version = 2` and `general.file_type = <ftype>` moved to the end.
pub fn quantized_metadata(input: &[(String, Value)], ftype: FileType) -> Vec<(String, Value)> {
    let mut md: Vec<(String, Value)> = input
        .iter()
        .filter(|(k, _)| k != FILE_TYPE_KEY && k != QUANTIZATION_VERSION_KEY && !DROPPED_KEYS.contains(&k.as_str()))
        .cloned()
        .collect();
    md.push((QUANTIZATION_VERSION_KEY.to_string(), Value::U32(QUANTIZATION_VERSION)));
    md.push((FILE_TYPE_KEY.to_string(), Value::U32(ftype.id())));
    md
}

/// The type each tensor of `input` gets under `ftype`, in the output order (llama-quantize's
/// `--dry-run`). Fails for non-RWKV-7 files and shapes without a fallback type.
pub fn plan_types(input: &GgufFile, ftype: FileType) -> Result<Vec<(String, GgmlType)>, ConvertError> {
    check_rwkv7(input)?;
    let has_output = input.tensor(OUTPUT_WEIGHT).is_some();
    let mut out = input
        .tensors()
        .iter()
        .map(|t| Ok((t.name.clone(), quantized_type(&t.name, &t.dims, t.ty, ftype, has_output)?)))
        .collect::<Result<Vec<_>, ConvertError>>()?;
    sort_like_llama_quantize(&mut out, |x| &x.0);
    Ok(out)
}

/// One warning for all tensors that were already quantized (llama-quantize refuses these unless
/// `--allow-requantize`; we convert them, since the dequantized values are all that is left).
fn requantize_warning(requantized: &[(&str, GgmlType)]) -> Option<String> {
    let (first, _) = requantized.first()?;
    let mut by_type: std::collections::BTreeMap<GgmlType, usize> = Default::default();
    for (_, ty) in requantized {
        *by_type.entry(*ty).or_default() += 1;
    }
    let types: Vec<String> = by_type.iter().map(|(ty, n)| format!("{n} {ty}")).collect();
    Some(format!(
        "requantizing {} tensors that are already quantized ({}; first '{first}'): quality is lower than \
         quantizing the original float weights",
        requantized.len(),
        types.join(", ")
    ))
}

fn is_float(ty: GgmlType) -> bool {
    matches!(ty, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16)
}

fn check_rwkv7(input: &GgufFile) -> Result<(), ConvertError> {
    let found = input.get_str("general.architecture")?.unwrap_or("(missing)");
    if found != "rwkv7" {
        return Err(ConvertError::NotRwkv7 { path: input.source_name().to_string(), found: found.to_string() });
    }
    Ok(())
}

/// Opens `input` and quantizes it into `out`.
pub fn quantize_file(input: &Path, out: &Path, ftype: FileType, opts: &WriteOptions) -> Result<WriteReport, ConvertError> {
    let file = GgufFile::open(input)?;
    quantize(&file, out, ftype, opts)
}

/// Writes `input` quantized to `ftype` into `out` (refusing an existing `out` unless `opts.force`).
/// Tensors whose type does not change are copied byte for byte; the others are decoded to f32 and
/// encoded. Re-quantizing an already quantized tensor is allowed, with a warning in the report
/// (llama-quantize refuses it without `--allow-requantize`).
pub fn quantize(input: &GgufFile, out: &Path, ftype: FileType, opts: &WriteOptions) -> Result<WriteReport, ConvertError> {
    let types = plan_types(input, ftype)?;
    let path = input.source_name().to_string();
    let mut requantized: Vec<(&str, GgmlType)> = Vec::new();
    let mut summaries = Vec::with_capacity(types.len());
    let mut infos = Vec::with_capacity(types.len());
    for (name, ty) in &types {
        let info = input.tensor(name).expect("planned from this file's tensors").clone();
        if info.ty != *ty {
            if !quant::is_supported(info.ty) {
                return Err(ConvertError::UnsupportedSourceType {
                    path: path.clone(),
                    tensor: name.clone(),
                    ty: info.ty,
                    target: *ty,
                });
            }
            if !is_float(info.ty) && !is_float(*ty) {
                requantized.push((name.as_str(), info.ty));
            }
        }
        let rows: u64 = info.dims[1..].iter().product();
        summaries.push(TensorSummary {
            name: name.clone(),
            dims: info.dims.clone(),
            from: info.ty,
            to: *ty,
            bytes_in: info.n_bytes(),
            bytes_out: ty.row_bytes(info.dims[0]).unwrap_or(0) * rows,
        });
        infos.push(info);
    }
    let warnings = requantize_warning(&requantized).into_iter().collect();
    let plan = Plan {
        metadata: quantized_metadata(input.metadata(), ftype),
        tensors: infos.iter().zip(&types).map(|(info, (name, ty))| (name.clone(), info.dims.clone(), *ty)).collect(),
    };
    let produce = |i: usize| -> Result<Cow<[u8]>, ConvertError> {
        let info = &infos[i];
        let ty = types[i].1;
        let src = input.tensor_data(info);
        if info.ty == ty {
            return Ok(Cow::Borrowed(src));
        }
        let ne0 = info.dims[0] as usize;
        let src_row = info.ty.row_bytes(info.dims[0]).expect("validated when the file was opened") as usize;
        let bytes = encode_rows(&info.name, &info.dims, ty, |first_row, buf| {
            let n_rows = buf.len() / ne0.max(1);
            let start = first_row * src_row;
            quant::dequantize_row(info.ty, &src[start..start + n_rows * src_row], buf).map_err(|source| {
                ConvertError::Quant { tensor: info.name.clone(), from: info.ty, to: GgmlType::F32, source }
            })
        })?;
        Ok(Cow::Owned(bytes))
    };
    crate::threads::run(opts.threads, || write_gguf(&plan, out, opts.force, opts.progress, produce))?;
    Ok(WriteReport { path: out.to_path_buf(), file_type: ftype, tensors: summaries, warnings })
}
