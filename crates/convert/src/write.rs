//! The streaming GGUF write pipeline shared by the synthesizer and the quantizer.
//!
//! The calling thread produces tensor data in bounded batches (tensors of a batch in parallel, rows of
//! a tensor in parallel, on the current rayon pool); a second thread writes finished batches, so
//! disk I/O overlaps computation. At most two batches are in memory (about 64 MiB each, or one
//! large tensor). The file is written under a
//! temporary name and renamed when complete.

use std::borrow::Cow;
use std::io::BufWriter;
use std::path::Path;
use std::sync::mpsc::sync_channel;

use gguf::{GgmlType, GgufStreamWriter, Value};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use crate::atomic::TempOutput;
use crate::ConvertError;

/// What the output file will hold: metadata in order, and each tensor's name, dims and stored type.
pub(crate) struct Plan {
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<(String, Vec<u64>, GgmlType)>,
}

impl Plan {
    pub(crate) fn tensor_bytes(&self, i: usize) -> u64 {
        let (_, dims, ty) = &self.tensors[i];
        let rows: u64 = dims[1..].iter().product();
        ty.row_bytes(dims[0]).unwrap_or(0) * rows
    }
}

/// A batch closes when its output reaches this many bytes (or tensors).
const BATCH_BYTES: u64 = 64 << 20;
const BATCH_TENSORS: usize = 64;

/// Writes `plan` to `out`, asking `produce(i)` for tensor `i`'s bytes (exactly its stored size).
pub(crate) fn write_gguf<'a, F>(
    plan: &Plan,
    out: &Path,
    force: bool,
    progress: bool,
    produce: F,
) -> Result<(), ConvertError>
where
    F: Fn(usize) -> Result<Cow<'a, [u8]>, ConvertError> + Sync,
{
    let tmp = TempOutput::create(out, force)?;
    let total: u64 = (0..plan.tensors.len()).map(|i| plan.tensor_bytes(i)).sum();
    let bar = progress_bar(total, progress);
    let sink = BufWriter::with_capacity(8 << 20, tmp.file());
    let mut writer = GgufStreamWriter::new(sink, &plan.metadata, &plan.tensors, gguf::DEFAULT_ALIGNMENT)
        .map_err(|e| with_path(e, out))?;

    let batches = batches(plan);
    std::thread::scope(|scope| -> Result<(), ConvertError> {
        // A rendezvous channel: one batch being written while the next is produced, no more.
        let (tx, rx) = sync_channel::<Vec<(usize, Cow<'a, [u8]>)>>(0);
        let bar_w = bar.clone();
        let writer_thread = scope.spawn(move || -> Result<(), ConvertError> {
            for batch in rx {
                for (i, data) in batch {
                    bar_w.set_message(plan.tensors[i].0.clone());
                    writer.write_tensor_data(&data).map_err(|e| with_path(e, out))?;
                    bar_w.inc(data.len() as u64);
                }
            }
            writer.finish().map_err(|e| with_path(e, out))?;
            Ok(())
        });
        let mut produced = Ok(());
        for batch in batches {
            let result: Result<Vec<_>, ConvertError> =
                batch.into_par_iter().map(|i| produce(i).map(|data| (i, data))).collect();
            match result {
                // A send error means the writer stopped; its own error is reported below.
                Ok(done) => {
                    if tx.send(done).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    produced = Err(e);
                    break;
                }
            }
        }
        drop(tx);
        let written = writer_thread.join().expect("the writer thread does not panic");
        produced.and(written)
    })?;
    bar.finish_and_clear();
    tmp.commit()
}

/// Consecutive runs of tensor indices, each under the batch limits (a large tensor is a batch alone).
fn batches(plan: &Plan) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0u64;
    for i in 0..plan.tensors.len() {
        let b = plan.tensor_bytes(i);
        if !current.is_empty() && (bytes + b > BATCH_BYTES || current.len() >= BATCH_TENSORS) {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(i);
        bytes += b;
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn progress_bar(total: u64, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}")
        .expect("the template is valid");
    bar.set_style(style);
    bar
}

/// The stream writer reports `<writer>` as its path; name the real output instead.
fn with_path(e: gguf::GgufError, out: &Path) -> ConvertError {
    match e {
        gguf::GgufError::Io { error, .. } => ConvertError::io("writing", out, error),
        other => other.into(),
    }
}

/// Encodes a tensor of `dims` as `ty`, rows in parallel: `fill(first_row, buf)` writes the f32 values
/// of the rows starting at `first_row` into `buf` (a whole number of rows).
pub(crate) fn encode_rows<F>(name: &str, dims: &[u64], ty: GgmlType, fill: F) -> Result<Vec<u8>, ConvertError>
where
    F: Fn(usize, &mut [f32]) -> Result<(), ConvertError> + Sync,
{
    let ne0 = dims[0] as usize;
    let rows: usize = dims[1..].iter().map(|&d| d as usize).product();
    let row_bytes = quant::row_bytes(ty, ne0).map_err(|source| ConvertError::Quant {
        tensor: name.to_string(),
        from: GgmlType::F32,
        to: ty,
        source,
    })?;
    let mut out = vec![0u8; rows * row_bytes];
    if out.is_empty() {
        return Ok(out);
    }
    // About 64K values per task: enough work to amortise scheduling, small enough to balance.
    let rows_per_task = (65536 / ne0.max(1)).max(1);
    out.par_chunks_mut(rows_per_task * row_bytes).enumerate().try_for_each(|(task, dst)| {
        let n_rows = dst.len() / row_bytes;
        let mut buf = vec![0f32; n_rows * ne0];
        fill(task * rows_per_task, &mut buf)?;
        for (src, d) in buf.chunks_exact(ne0).zip(dst.chunks_exact_mut(row_bytes)) {
            quant::quantize_row(ty, src, d).map_err(|source| ConvertError::Quant {
                tensor: name.to_string(),
                from: GgmlType::F32,
                to: ty,
                source,
            })?;
        }
        Ok::<(), ConvertError>(())
    })?;
    Ok(out)
}
