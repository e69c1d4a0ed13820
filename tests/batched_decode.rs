//! Batched decode (`Model::decode_batch`): one step that feeds one token to each of several
//! sequences must give every sequence the logits, and leave it the state, that stepping it alone
//! gives. Bad batches fail with the facts and change no state.

use aviary::model::{LogitsMode, Model, ModelError, StateId};
use aviary::{load, LoadOptions};
use testkit::TestRng;

fn model(stem: &str) -> Option<Box<dyn Model>> {
    let path = testkit::fixture(&format!("{stem}.gguf"))?;
    Some(load(path, &LoadOptions { threads: 2, ..Default::default() }).unwrap().model)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best })
}

/// Two copies of a model: `batched` steps all sequences together, `single` one at a time.
struct Pair {
    batched: Box<dyn Model>,
    single: Box<dyn Model>,
    ids_b: Vec<StateId>,
    ids_s: Vec<StateId>,
    n_vocab: u32,
}

impl Pair {
    /// `prompts.len()` sequences, each prefilled with its own prompt (of a different length).
    fn new(stem: &str, n_seqs: usize, rng: &mut TestRng) -> Option<Pair> {
        let (mut batched, mut single) = (model(stem)?, model(stem)?);
        let n_vocab = batched.info().hparams.n_vocab as u32;
        let (mut ids_b, mut ids_s) = (Vec::new(), Vec::new());
        for i in 0..n_seqs {
            let prompt: Vec<u32> = (0..3 + 2 * i).map(|_| (rng.next_u64() % n_vocab as u64) as u32).collect();
            let (b, s) = (batched.new_state().unwrap(), single.new_state().unwrap());
            batched.forward(b, &prompt, LogitsMode::None).unwrap();
            single.forward(s, &prompt, LogitsMode::None).unwrap();
            ids_b.push(b);
            ids_s.push(s);
        }
        Some(Pair { batched, single, ids_b, ids_s, n_vocab })
    }

    fn tokens(&self, rng: &mut TestRng) -> Vec<u32> {
        self.ids_b.iter().map(|_| (rng.next_u64() % self.n_vocab as u64) as u32).collect()
    }

    /// One batched step against the sequences stepped alone; returns the largest difference.
    fn step(&mut self, tokens: &[u32]) -> f32 {
        let rows = self.batched.decode_batch(&self.ids_b, tokens).unwrap();
        assert_eq!(rows.len(), tokens.len());
        let mut worst = 0f32;
        for ((row, &id), &t) in rows.iter().zip(&self.ids_s).zip(tokens) {
            let alone = self.single.forward(id, &[t], LogitsMode::Last).unwrap().pop().unwrap();
            worst = worst.max(max_abs_diff(row, &alone));
            assert_eq!(argmax(row), argmax(&alone), "batched and single decode pick different tokens");
        }
        worst
    }
}

fn batched_equals_single(stem: &str, tol: f32) {
    let mut rng = TestRng::new(7);
    let Some(mut pair) = Pair::new(stem, 5, &mut rng) else { return };
    let mut worst = 0f32;
    for _ in 0..4 {
        let tokens = pair.tokens(&mut rng);
        worst = worst.max(pair.step(&tokens));
    }
    // Greedy: the device (or host) argmax per row equals the argmax of the single-step logits.
    let tokens = pair.tokens(&mut rng);
    let ids = pair.batched.decode_batch_argmax(&pair.ids_b, &tokens).unwrap();
    for ((&best, &id), &t) in ids.iter().zip(&pair.ids_s).zip(&tokens) {
        let alone = pair.single.forward(id, &[t], LogitsMode::Last).unwrap().pop().unwrap();
        assert_eq!(best as usize, argmax(&alone));
    }
    println!("{stem}: batched vs single decode, 5 sequences x 4 steps: max |diff| = {worst:.3e}");
    assert!(worst <= tol, "{stem}: batched decode differs from single decode by {worst:.3e} (tolerance {tol:.0e})");
}

#[test]
fn batched_decode_equals_single_decode_f32() {
    batched_equals_single("tiny-rwkv7-834K-F32", 1e-4);
}

#[test]
fn batched_decode_equals_single_decode_q4_k_m() {
    batched_equals_single("synth-tiny-k-Q4_K_M", 1e-3);
}

#[test]
fn bad_batches_fail_and_change_no_state() {
    let mut rng = TestRng::new(11);
    let Some(mut pair) = Pair::new("tiny-rwkv7-834K-F32", 3, &mut rng) else { return };
    let ids = pair.ids_b.clone();
    let dup = [ids[0], ids[1], ids[0]];
    let cases: Vec<(Vec<StateId>, Vec<u32>, &str)> = vec![
        (dup.to_vec(), vec![1, 2, 3], "appears twice"),
        (ids.clone(), vec![1, 2], "3 state ids and 2 tokens"),
        (vec![ids[0], StateId(999)], vec![1, 2], "unknown state id 999"),
        (ids.clone(), vec![1, pair.n_vocab, 2], "out of range"),
        (Vec::new(), Vec::new(), "empty"),
    ];
    for (ids, tokens, needle) in cases {
        let err: ModelError = pair.batched.decode_batch(&ids, &tokens).unwrap_err();
        assert!(err.to_string().contains(needle), "error {err} does not say {needle:?}");
    }
    // The failed calls left every state as it was: the next step still matches.
    let tokens = pair.tokens(&mut rng);
    assert!(pair.step(&tokens) <= 1e-4);
}
