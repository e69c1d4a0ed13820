//! State files: round trips, every kind of damage is named, and a restored state continues exactly
//! like an uninterrupted run.

mod common;

use engine::state_file::{check_state_fits, decode_state, encode_state, state_len};
use engine::{read_state_file, write_state_file, EngineError, StateDtype};
use model::{HostState, LogitsMode};
use testkit::TestRng;

fn random_state(seed: u64, n_layer: usize, n_embd: usize, head_size: usize) -> HostState {
    let data = TestRng::new(seed).vec(state_len(n_layer, n_embd, head_size), -3.0, 3.0);
    HostState { n_layer, n_embd, head_size, data }
}

fn reason(bytes: &[u8]) -> String {
    match decode_state(bytes, "s.avst") {
        Err(EngineError::BadStateFile { name, reason }) => {
            assert_eq!(name, "s.avst");
            reason
        }
        other => panic!("expected a bad-file error, got {other:?}"),
    }
}

#[test]
fn round_trips_exactly_in_f32_and_closely_in_f16() {
    let mut cases = 0;
    for (i, &(l, c, n)) in [(1, 1, 1), (2, 3, 3), (3, 17, 17), (1, 64, 64)].iter().enumerate() {
        let s = random_state(i as u64, l, c, n);
        let tokens: Vec<u32> = (0..i as u32 * 7).collect();
        let back = decode_state(&encode_state(&s, &tokens, StateDtype::F32), "x").unwrap();
        assert_eq!((back.state, back.tokens.clone(), back.dtype), (s.clone(), tokens.clone(), StateDtype::F32));
        let half = decode_state(&encode_state(&s, &tokens, StateDtype::F16), "x").unwrap();
        assert!(testkit::max_abs_diff(&half.state.data, &s.data) <= 3.0 / 1024.0);
        assert_eq!(half.tokens, tokens);
        cases += 1;
    }
    assert_eq!(cases, 4);
}

#[test]
fn damage_is_detected_and_named() {
    let good = encode_state(&random_state(1, 2, 4, 2), &[1, 2, 3], StateDtype::F32);
    assert!(reason(&good[..10]).contains("shorter than"));
    let mut b = good.clone();
    b[0] = b'X';
    assert!(reason(&b).contains("expected \"AVIARYST\""));
    let mut b = good.clone();
    b[8] = 9;
    assert!(reason(&b).contains("format version 9"));
    let mut b = good.clone();
    b[12] = 7;
    assert!(reason(&b).contains("value type code 7"));
    let mut b = good.clone();
    b[40] = 1;
    assert!(reason(&b).contains("values, expected 32"), "{}", reason(&b));
    assert!(reason(&good[..good.len() - 1]).contains("the file has"));
    let mut b = good.clone();
    let mid = b.len() / 2;
    b[mid] ^= 0x10;
    assert!(reason(&b).contains("checksum"));
    // An absurd token count must be refused before anything is allocated.
    let mut b = good.clone();
    b[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(reason(&b).contains("needs"));
}

#[test]
fn mismatched_dimensions_are_refused_with_the_facts() {
    let s = random_state(2, 2, 4, 2);
    check_state_fits(&s, "f", 2, 4, 2).unwrap();
    let e = check_state_fits(&s, "f.avst", 3, 4, 2).unwrap_err().to_string();
    assert_eq!(e, "f.avst: the state is for a different model: n_layer is 2, this model has 3");
}

#[test]
fn saved_state_continues_like_an_uninterrupted_run() {
    let Some((mut model, _)) = common::load(common::WORLD) else { return };
    let n_vocab = model.info().hparams.n_vocab;
    let (a, b) = (common::prompt(1, 37, n_vocab), common::prompt(2, 11, n_vocab));
    let whole = model.new_state().unwrap();
    let expected = model.forward(whole, &[a.clone(), b.clone()].concat(), LogitsMode::All).unwrap();

    let first = model.new_state().unwrap();
    model.forward(first, &a, LogitsMode::None).unwrap();
    let path = std::env::temp_dir().join(format!("aviary-state-{}.avst", std::process::id()));
    write_state_file(&path, &model.save_state(first).unwrap(), &a, StateDtype::F32).unwrap();
    let file = read_state_file(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(file.tokens, a);
    let resumed = model.new_state().unwrap();
    model.load_state(resumed, &file.state).unwrap();
    let got = model.forward(resumed, &b, LogitsMode::All).unwrap();
    assert_eq!(got[..], expected[a.len()..], "logits after a restored state differ");

    let missing = read_state_file(&path).unwrap_err().to_string();
    assert!(missing.contains(&path.display().to_string()), "{missing}");
}
