//! The prefix-state cache: recurrent states keyed by the token prefix that produced them.
//!
//! RWKV's state has a fixed size whatever the context length, so the state after a prompt (and at
//! checkpoints every N tokens along it) can be kept and a later prompt that starts with the same tokens
//! restarts from the deepest kept prefix instead of token 0. Entries are evicted least recently used by
//! total bytes under a budget; evicted entries may spill to disk (with their own byte budget) and are
//! promoted back to memory on a hit. With f32 storage a hit restores exactly the state an uncached run
//! reaches; f16 storage halves the bytes at the cost of exactness.
//!
//! Lookup hashes every prefix of the query once (O(length)) and probes only the prefix lengths that
//! have entries, deepest first; a hash match is confirmed by comparing the tokens.

mod disk;
mod stored;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use model::HostState;

use crate::state_file::StateDtype;
use disk::SpillDir;
use stored::StoredState;

/// Where evicted entries go instead of being dropped.
#[derive(Clone, Debug)]
pub struct SpillConfig {
    /// A private subdirectory is created inside it (and removed when the cache is dropped).
    pub dir: PathBuf,
    pub budget_bytes: u64,
}

#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// Memory for states, their tokens and kept logits, in bytes.
    pub budget_bytes: usize,
    /// Keep a checkpoint every this many prompt tokens (0: only at the end of each prompt).
    pub checkpoint_interval: usize,
    pub dtype: StateDtype,
    pub spill: Option<SpillConfig>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig { budget_bytes: 256 << 20, checkpoint_interval: 256, dtype: StateDtype::F32, spill: None }
    }
}

/// A cached prefix of the query: the state after its first `depth` tokens, and the logits after them
/// when the entry kept them (always when `depth` is the whole query).
#[derive(Clone, Debug)]
pub struct CacheHit {
    pub depth: usize,
    pub state: HostState,
    pub logits: Option<Vec<f32>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub entries: usize,
    pub bytes: usize,
    pub disk_entries: usize,
    pub disk_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    /// Prompt tokens that hits saved from being recomputed.
    pub hit_tokens: u64,
    pub insertions: u64,
    pub evictions: u64,
    pub spills: u64,
    pub disk_errors: u64,
}

enum Place {
    Memory { state: StoredState, logits: Option<Vec<f32>> },
    Disk { path: PathBuf, bytes: u64, n_logits: usize },
}

struct Entry {
    tokens: Vec<u32>,
    hash: u64,
    tick: u64,
    place: Place,
}

impl Entry {
    fn memory_bytes(&self) -> usize {
        match &self.place {
            Place::Memory { state, logits } => {
                state.bytes() + 4 * self.tokens.len() + logits.as_ref().map_or(0, |l| 4 * l.len())
            }
            Place::Disk { .. } => 0,
        }
    }
}

pub struct PrefixCache {
    cfg: CacheConfig,
    entries: HashMap<u64, Entry>,
    /// (prefix length, prefix hash) -> entry ids; several ids only on a hash collision.
    index: HashMap<(usize, u64), Vec<u64>>,
    /// Prefix length -> number of entries of that length, so lookups probe only lengths that exist.
    lens: BTreeMap<usize, usize>,
    memory_lru: BTreeMap<u64, u64>,
    disk_lru: BTreeMap<u64, u64>,
    tick: u64,
    next_id: u64,
    spill: Option<SpillDir>,
    stats: CacheStats,
}

impl PrefixCache {
    pub fn new(cfg: CacheConfig) -> Result<PrefixCache, crate::EngineError> {
        let spill = cfg.spill.as_ref().map(|s| SpillDir::create(&s.dir)).transpose()?;
        Ok(PrefixCache {
            cfg,
            entries: HashMap::new(),
            index: HashMap::new(),
            lens: BTreeMap::new(),
            memory_lru: BTreeMap::new(),
            disk_lru: BTreeMap::new(),
            tick: 0,
            next_id: 0,
            spill,
            stats: CacheStats::default(),
        })
    }

    pub fn config(&self) -> &CacheConfig {
        &self.cfg
    }

    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// The deepest cached prefix of `tokens`. An entry covering all of `tokens` counts only when it
    /// kept its logits (a caller needs logits to sample from). Counts a hit or a miss.
    pub fn lookup(&mut self, tokens: &[u32]) -> Option<CacheHit> {
        let hashes = prefix_hashes(tokens);
        let lens: Vec<usize> = self.lens.range(1..=tokens.len()).rev().map(|(&len, _)| len).collect();
        for len in lens {
            let Some(id) = self.find(&tokens[..len], hashes[len]) else { continue };
            if len == tokens.len() && !self.has_logits(id) {
                continue;
            }
            match self.load(id) {
                Some((state, logits)) => {
                    self.stats.hits += 1;
                    self.stats.hit_tokens += len as u64;
                    return Some(CacheHit { depth: len, state, logits });
                }
                None => continue,
            }
        }
        self.stats.misses += 1;
        None
    }

    /// Whether an entry for exactly these tokens exists (in memory or on disk).
    pub fn contains(&self, tokens: &[u32]) -> bool {
        self.find(tokens, *prefix_hashes(tokens).last().expect("at least the empty prefix")).is_some()
    }

    /// Keeps `state` as the state after `tokens` (with the logits after them, if given). An existing
    /// entry for the same tokens is refreshed (and gains the logits if it had none).
    pub fn insert(&mut self, tokens: &[u32], state: &HostState, logits: Option<&[f32]>) {
        if tokens.is_empty() {
            return;
        }
        let hash = *prefix_hashes(tokens).last().expect("non-empty");
        if let Some(id) = self.find(tokens, hash) {
            if logits.is_some() && !self.has_logits(id) {
                self.remove(id);
            } else {
                self.touch(id);
                return;
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        let tick = self.next_tick();
        let place = Place::Memory { state: StoredState::store(state, self.cfg.dtype), logits: logits.map(<[f32]>::to_vec) };
        let entry = Entry { tokens: tokens.to_vec(), hash, tick, place };
        self.stats.bytes += entry.memory_bytes();
        self.stats.entries += 1;
        self.stats.insertions += 1;
        self.index.entry((tokens.len(), hash)).or_default().push(id);
        *self.lens.entry(tokens.len()).or_insert(0) += 1;
        self.memory_lru.insert(tick, id);
        self.entries.insert(id, entry);
        self.enforce_memory_budget();
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    fn find(&self, tokens: &[u32], hash: u64) -> Option<u64> {
        let ids = self.index.get(&(tokens.len(), hash))?;
        ids.iter().copied().find(|id| self.entries.get(id).is_some_and(|e| e.tokens == tokens))
    }

    fn has_logits(&self, id: u64) -> bool {
        match &self.entries[&id].place {
            Place::Memory { logits, .. } => logits.is_some(),
            Place::Disk { n_logits, .. } => *n_logits > 0,
        }
    }

    fn touch(&mut self, id: u64) {
        let tick = self.next_tick();
        let entry = self.entries.get_mut(&id).expect("entry exists");
        let lru = match entry.place {
            Place::Memory { .. } => &mut self.memory_lru,
            Place::Disk { .. } => &mut self.disk_lru,
        };
        lru.remove(&entry.tick);
        lru.insert(tick, id);
        entry.tick = tick;
    }

    /// The entry's state (promoting a spilled entry back to memory); `None` if its file is unreadable.
    fn load(&mut self, id: u64) -> Option<(HostState, Option<Vec<f32>>)> {
        self.touch(id);
        let entry = self.entries.get_mut(&id).expect("entry exists");
        match &entry.place {
            Place::Memory { state, logits } => Some((state.to_host(), logits.clone())),
            Place::Disk { path, n_logits, .. } => {
                let read = SpillDir::read(path, *n_logits);
                let tokens = entry.tokens.clone();
                self.remove(id);
                match read {
                    Ok((state, logits)) => {
                        self.insert(&tokens, &state, logits.as_deref());
                        Some((state, logits))
                    }
                    Err(_) => {
                        self.stats.disk_errors += 1;
                        None
                    }
                }
            }
        }
    }

    fn remove(&mut self, id: u64) {
        let Some(entry) = self.entries.remove(&id) else { return };
        let key = (entry.tokens.len(), entry.hash);
        if let Some(ids) = self.index.get_mut(&key) {
            ids.retain(|&i| i != id);
            if ids.is_empty() {
                self.index.remove(&key);
            }
        }
        if let Some(n) = self.lens.get_mut(&entry.tokens.len()) {
            *n -= 1;
            if *n == 0 {
                self.lens.remove(&entry.tokens.len());
            }
        }
        match &entry.place {
            Place::Memory { .. } => {
                self.memory_lru.remove(&entry.tick);
                self.stats.bytes -= entry.memory_bytes();
                self.stats.entries -= 1;
            }
            Place::Disk { path, bytes, .. } => {
                self.disk_lru.remove(&entry.tick);
                self.stats.disk_bytes -= bytes;
                self.stats.disk_entries -= 1;
                SpillDir::remove(path);
            }
        }
    }

    fn enforce_memory_budget(&mut self) {
        while self.stats.bytes > self.cfg.budget_bytes {
            let Some((_, id)) = self.memory_lru.pop_first() else { break };
            self.stats.evictions += 1;
            if !self.spill_to_disk(id) {
                // Put the tick back so `remove` finds a consistent LRU (it removes it again).
                let tick = self.entries[&id].tick;
                self.memory_lru.insert(tick, id);
                self.remove(id);
            }
        }
    }

    /// Moves a memory entry to disk; `false` when there is no spill directory or the write failed.
    fn spill_to_disk(&mut self, id: u64) -> bool {
        let Some(spill) = self.spill.as_mut() else { return false };
        let budget = self.cfg.spill.as_ref().map_or(0, |s| s.budget_bytes);
        let entry = self.entries.get_mut(&id).expect("entry exists");
        let Place::Memory { state, logits } = &entry.place else { return false };
        let dtype = state.dtype();
        let n_logits = logits.as_ref().map_or(0, Vec::len);
        let written = spill.write(&entry.tokens, &state.to_host(), logits.as_deref(), dtype);
        let Ok((path, bytes)) = written else {
            self.stats.disk_errors += 1;
            return false;
        };
        let freed = entry.memory_bytes();
        entry.place = Place::Disk { path, bytes, n_logits };
        self.stats.bytes -= freed;
        self.stats.entries -= 1;
        self.stats.disk_bytes += bytes;
        self.stats.disk_entries += 1;
        self.stats.spills += 1;
        self.disk_lru.insert(entry.tick, id);
        while self.stats.disk_bytes > budget {
            let Some((&tick, &victim)) = self.disk_lru.first_key_value() else { break };
            let _ = tick;
            self.remove(victim);
        }
        true
    }
}

/// FNV-1a-style hashes of every prefix: `h[i]` covers `tokens[..i]` (so `h.len() == tokens.len() + 1`).
fn prefix_hashes(tokens: &[u32]) -> Vec<u64> {
    let mut hashes = Vec::with_capacity(tokens.len() + 1);
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    hashes.push(h);
    for &t in tokens {
        for b in t.to_le_bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        hashes.push(h);
    }
    hashes
}

#[cfg(test)]
mod tests;
