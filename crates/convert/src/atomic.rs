//! Writing files so that an interrupted run never leaves a partial file under the final name: write a
//! temporary file beside the target, then rename it over the target.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ConvertError;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary file that becomes `target` on [`TempOutput::commit`] and is deleted otherwise.
pub(crate) struct TempOutput {
    tmp: PathBuf,
    target: PathBuf,
    file: Option<File>,
}

impl TempOutput {
    /// Refuses an existing `target` unless `force`; errors name the directory when it is not writable.
    pub(crate) fn create(target: &Path, force: bool) -> Result<TempOutput, ConvertError> {
        if !force && target.exists() {
            return Err(ConvertError::OutputExists { path: target.to_path_buf() });
        }
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!(
            ".{name}.tmp-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = File::create(&tmp).map_err(|source| ConvertError::OutputDir { dir: dir.clone(), source })?;
        Ok(TempOutput { tmp, target: target.to_path_buf(), file: Some(file) })
    }

    pub(crate) fn file(&self) -> &File {
        self.file.as_ref().expect("the file is open until commit")
    }

    /// Flushes to disk and renames the temporary file to the target.
    pub(crate) fn commit(mut self) -> Result<(), ConvertError> {
        let file = self.file.take().expect("commit runs once");
        file.sync_all().map_err(|e| ConvertError::io("syncing", &self.tmp, e))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.target).map_err(|e| ConvertError::io("renaming into place", &self.target, e))
    }
}

impl Drop for TempOutput {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `path` atomically, creating the parent directories.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ConvertError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| ConvertError::OutputDir { dir: dir.to_path_buf(), source })?;
    }
    let out = TempOutput::create(path, true)?;
    std::io::Write::write_all(&mut out.file(), bytes).map_err(|e| ConvertError::io("writing", path, e))?;
    out.commit()
}
