//! Spill of evicted cache entries to files in a private directory, itself bounded by bytes.
//!
//! The directory is created per process (`aviary-cache-<pid>-<n>` inside the configured one) and
//! removed on drop, so a stale file from another model or run can never be loaded by mistake.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use model::HostState;

use crate::state_file::{decode_state, encode_state, StateDtype};
use crate::EngineError;

pub(crate) struct SpillDir {
    dir: PathBuf,
    next_file: u64,
}

impl SpillDir {
    pub fn create(parent: &Path) -> Result<SpillDir, EngineError> {
        static RUN: AtomicU64 = AtomicU64::new(0);
        let n = RUN.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!("aviary-cache-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|source| EngineError::Io { path: dir.display().to_string(), source })?;
        Ok(SpillDir { dir, next_file: 0 })
    }

    /// Writes one entry; returns its path and size in bytes.
    pub fn write(
        &mut self,
        tokens: &[u32],
        state: &HostState,
        logits: Option<&[f32]>,
        dtype: StateDtype,
    ) -> Result<(PathBuf, u64), EngineError> {
        let path = self.dir.join(format!("{:08}.avst", self.next_file));
        self.next_file += 1;
        let mut bytes = encode_state(state, tokens, dtype);
        // Logits (when kept) follow the state file as raw f32s; the state part keeps its own checksum.
        if let Some(l) = logits {
            l.iter().for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
        }
        let len = bytes.len() as u64;
        std::fs::write(&path, bytes).map_err(|source| EngineError::Io { path: path.display().to_string(), source })?;
        Ok((path, len))
    }

    /// Reads an entry written by `write` with `n_logits` trailing logits (0 for none).
    pub fn read(path: &Path, n_logits: usize) -> Result<(HostState, Option<Vec<f32>>), EngineError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| EngineError::Io { path: name.clone(), source })?;
        let split = bytes.len().checked_sub(4 * n_logits).ok_or_else(|| EngineError::BadStateFile {
            name: name.clone(),
            reason: format!("{} bytes cannot hold {n_logits} logits", bytes.len()),
        })?;
        let file = decode_state(&bytes[..split], &name)?;
        let logits = (n_logits > 0)
            .then(|| bytes[split..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4"))).collect());
        Ok((file.state, logits))
    }

    pub fn remove(path: &Path) {
        // A file that is already gone costs nothing; the directory is removed on drop anyway.
        let _ = std::fs::remove_file(path);
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
