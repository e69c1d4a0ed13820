use super::*;

fn state(seed: u32, n: usize) -> HostState {
    // n_layer 1, n_embd 2, head_size n: 2*2 + 2*n values.
    let len = 4 + 2 * n;
    HostState { n_layer: 1, n_embd: 2, head_size: n, data: (0..len).map(|i| (seed * 1000 + i as u32) as f32 * 0.001).collect() }
}

fn cache(budget: usize) -> PrefixCache {
    PrefixCache::new(CacheConfig { budget_bytes: budget, checkpoint_interval: 4, dtype: StateDtype::F32, spill: None }).unwrap()
}

#[test]
fn lookup_finds_the_deepest_prefix() {
    let mut c = cache(1 << 20);
    let prompt: Vec<u32> = (0..20).collect();
    c.insert(&prompt[..4], &state(4, 3), None);
    c.insert(&prompt[..8], &state(8, 3), None);
    c.insert(&prompt[..12], &state(12, 3), None);
    let hit = c.lookup(&prompt[..11]).expect("hit");
    assert_eq!(hit.depth, 8);
    assert_eq!(hit.state, state(8, 3));
    let hit = c.lookup(&prompt).expect("hit");
    assert_eq!(hit.depth, 12);
    // A different token early on matches only the shorter prefix.
    let mut other = prompt.clone();
    other[5] = 99;
    assert_eq!(c.lookup(&other).unwrap().depth, 4);
    other[0] = 99;
    assert!(c.lookup(&other).is_none());
    let s = c.stats();
    assert_eq!((s.hits, s.misses, s.entries), (3, 1, 3));
}

#[test]
fn whole_prompt_hit_needs_logits() {
    let mut c = cache(1 << 20);
    let p = [5u32, 6, 7];
    c.insert(&p, &state(1, 2), None);
    assert!(c.lookup(&p).is_none(), "no logits: a caller could not sample");
    c.insert(&p, &state(1, 2), Some(&[0.5, 0.25]));
    let hit = c.lookup(&p).expect("hit with logits");
    assert_eq!((hit.depth, hit.logits), (3, Some(vec![0.5, 0.25])));
    assert_eq!(c.stats().entries, 1);
}

#[test]
fn lru_eviction_keeps_bytes_under_budget() {
    let one = StoredState::store(&state(0, 8), StateDtype::F32).bytes() + 4 * 2;
    let mut c = cache(3 * one);
    for k in 0..3u32 {
        c.insert(&[k, k], &state(k, 8), None);
    }
    // Touch entry 0 so entry 1 becomes the least recently used.
    assert!(c.lookup(&[0, 0, 9]).is_some());
    c.insert(&[3, 3], &state(3, 8), None);
    assert!(c.stats().bytes <= 3 * one);
    assert!(c.contains(&[0, 0]) && c.contains(&[2, 2]) && c.contains(&[3, 3]));
    assert!(!c.contains(&[1, 1]));
    assert_eq!(c.stats().evictions, 1);
}

#[test]
fn f16_storage_halves_the_bytes_and_rounds() {
    let mut c = PrefixCache::new(CacheConfig { dtype: StateDtype::F16, ..CacheConfig::default() }).unwrap();
    let s = state(7, 16);
    c.insert(&[1, 2], &s, None);
    let hit = c.lookup(&[1, 2, 3]).unwrap();
    let err = hit.state.data.iter().zip(&s.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(err > 0.0 && err < 1e-2, "f16 error {err}");
    assert_eq!(c.stats().bytes, 2 * s.data.len() + 8);
}

#[test]
fn spilled_entries_come_back_from_disk() {
    let dir = std::env::temp_dir().join(format!("aviary-cache-test-{}", std::process::id()));
    let one = StoredState::store(&state(0, 8), StateDtype::F32).bytes() + 4 * 2;
    let spill = Some(SpillConfig { dir: dir.clone(), budget_bytes: 1 << 20 });
    let mut c = PrefixCache::new(CacheConfig { budget_bytes: one + 8, checkpoint_interval: 0, dtype: StateDtype::F32, spill }).unwrap();
    c.insert(&[1, 1], &state(1, 8), Some(&[1.0, 2.0]));
    c.insert(&[2, 2], &state(2, 8), None);
    let s = c.stats();
    assert_eq!((s.entries, s.disk_entries, s.spills), (1, 1, 1));
    let hit = c.lookup(&[1, 1]).expect("promoted from disk");
    assert_eq!((hit.state, hit.logits), (state(1, 8), Some(vec![1.0, 2.0])));
    // Promoting [1,1] pushed [2,2] out to disk in turn.
    assert!(c.contains(&[2, 2]) && c.stats().disk_entries == 1);
    drop(c);
    let leftovers = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "the private spill directory is removed on drop");
    let _ = std::fs::remove_dir(&dir);
}
