//! StreamDecoder holds back incomplete UTF-8 and never stalls on invalid bytes.

mod common;

use tokenizer::{StreamDecoder, Tokenizer};

fn split_vocab() -> Tokenizer {
    // 1: first two bytes of 你 (e4 bd a0), 2: its last byte, 3: 'a', 4: a lone 0xff, 5: e4 alone.
    Tokenizer::from_gguf_tokens(&["<s>", "\\xe4\\xbd", "\\xa0", "a", "\\xff", "\\xe4"], None)
        .unwrap()
}

#[test]
fn split_character_appears_when_complete() {
    let tok = split_vocab();
    let mut stream = StreamDecoder::new(&tok);
    assert_eq!(stream.push(3).unwrap(), "a");
    assert_eq!(stream.push(1).unwrap(), "");
    assert_eq!(stream.pending_bytes(), [0xe4, 0xbd]);
    assert_eq!(stream.push(0).unwrap(), "", "control tokens add nothing");
    assert_eq!(stream.push(2).unwrap(), "你");
    assert_eq!(stream.push(3).unwrap(), "a");
    assert_eq!(stream.finish(), "");
}

#[test]
fn invalid_bytes_do_not_stall() {
    let tok = split_vocab();
    let mut stream = StreamDecoder::new(&tok);
    assert_eq!(stream.push(4).unwrap(), "\u{fffd}");
    assert_eq!(stream.push(5).unwrap(), "");
    // e4 followed by 'a' can never complete: replaced at once, 'a' comes out too.
    assert_eq!(stream.push(3).unwrap(), "\u{fffd}a");
    assert_eq!(stream.push(1).unwrap(), "");
    assert_eq!(stream.finish(), "\u{fffd}");
    assert!(stream.pending_bytes().is_empty());
    assert!(stream
        .push(6)
        .unwrap_err()
        .to_string()
        .contains("token id 6"));
}

#[test]
fn world_emoji_split_over_three_tokens() {
    let Some(world) = common::world_from_file() else {
        return;
    };
    // From the golden file: 😀 encodes as [3319, 153, 129] (f0 9f | 98 | 80).
    let ids = world.encode("😀").unwrap();
    assert_eq!(ids, [3319, 153, 129]);
    let mut stream = StreamDecoder::new(&world);
    assert_eq!(stream.push(ids[0]).unwrap(), "");
    assert_eq!(stream.push(ids[1]).unwrap(), "");
    assert_eq!(stream.push(ids[2]).unwrap(), "😀");
}

#[test]
fn stream_equals_lossy_decode_on_random_tokens() {
    let Some(world) = common::world_from_file() else {
        return;
    };
    let mut rng = testkit::TestRng::new(99);
    let mut cases = 0;
    for &n in testkit::ODD_SIZES {
        // Random ids (often split or invalid UTF-8) and ids of random text (always valid).
        let random_ids: Vec<u32> = (0..n)
            .map(|_| (rng.next_u64() % world.vocab_size() as u64) as u32)
            .collect();
        let text_ids = world.encode(&common::random_text(&mut rng, n)).unwrap();
        for ids in [random_ids, text_ids] {
            let mut stream = StreamDecoder::new(&world);
            let mut out = String::new();
            for &id in &ids {
                out.push_str(&stream.push(id).unwrap());
                assert!(
                    stream.pending_bytes().len() <= 3,
                    "never holds more than an incomplete char"
                );
            }
            out.push_str(&stream.finish());
            assert_eq!(out, world.decode_lossy(&ids).unwrap());
            cases += 1;
        }
    }
    assert!(cases > 0);
}
