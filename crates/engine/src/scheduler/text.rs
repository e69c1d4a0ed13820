//! Generated tokens to text: complete UTF-8 only, with stop strings found across token boundaries.
//!
//! Text that could be the start of a stop string is held back until it is known not to be one, so a
//! stop string never reaches the client, even in part.

/// What feeding one token's bytes produced.
#[derive(Debug, PartialEq)]
pub(crate) enum TextStep {
    /// Text that became final (possibly empty).
    Text(String),
    /// A stop string was found: the final text before it; the generation ends here.
    Stopped(String),
}

pub(crate) struct TextStream {
    stops: Vec<String>,
    /// Bytes of an incomplete UTF-8 character.
    pending: Vec<u8>,
    /// Decoded text not yet released (it may be the start of a stop string).
    held: String,
}

impl TextStream {
    pub fn new(stops: Vec<String>) -> TextStream {
        TextStream { stops: stops.into_iter().filter(|s| !s.is_empty()).collect(), pending: Vec::new(), held: String::new() }
    }

    pub fn push(&mut self, bytes: &[u8]) -> TextStep {
        self.pending.extend_from_slice(bytes);
        let complete = take_complete_utf8(&mut self.pending);
        self.held.push_str(&complete);
        if let Some(at) = self.earliest_stop() {
            let text = self.held[..at].to_string();
            self.held.clear();
            return TextStep::Stopped(text);
        }
        let keep = self.longest_stop_prefix_suffix();
        let release = self.held.len() - keep;
        let text = self.held[..release].to_string();
        self.held.drain(..release);
        TextStep::Text(text)
    }

    /// Everything still held (an incomplete trailing character becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        let mut text = std::mem::take(&mut self.held);
        text.push_str(&String::from_utf8_lossy(&self.pending));
        self.pending.clear();
        text
    }

    fn earliest_stop(&self) -> Option<usize> {
        self.stops.iter().filter_map(|s| self.held.find(s.as_str())).min()
    }

    /// Bytes at the end of `held` that are a proper prefix of some stop string (the longest such).
    fn longest_stop_prefix_suffix(&self) -> usize {
        let held = &self.held;
        held.char_indices()
            .map(|(i, _)| i)
            .find(|&i| self.stops.iter().any(|s| s.starts_with(&held[i..])))
            .map_or(0, |i| held.len() - i)
    }
}

/// Removes and returns the longest valid UTF-8 prefix of `bytes`, replacing invalid sequences with
/// U+FFFD; an incomplete sequence at the end stays in `bytes`.
fn take_complete_utf8(bytes: &mut Vec<u8>) -> String {
    let mut text = String::new();
    let mut start = 0;
    while start < bytes.len() {
        match std::str::from_utf8(&bytes[start..]) {
            Ok(valid) => {
                text.push_str(valid);
                start = bytes.len();
            }
            Err(e) => {
                let end = start + e.valid_up_to();
                text.push_str(std::str::from_utf8(&bytes[start..end]).unwrap_or_default());
                match e.error_len() {
                    Some(len) => {
                        text.push(char::REPLACEMENT_CHARACTER);
                        start = end + len;
                    }
                    None => {
                        start = end;
                        break;
                    }
                }
            }
        }
    }
    bytes.drain(..start);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&[u8]]) -> (String, bool) {
        let mut s = TextStream::new(stops.iter().map(|s| s.to_string()).collect());
        let mut out = String::new();
        for p in pieces {
            match s.push(p) {
                TextStep::Text(t) => out.push_str(&t),
                TextStep::Stopped(t) => {
                    out.push_str(&t);
                    return (out, true);
                }
            }
        }
        out.push_str(&s.finish());
        (out, false)
    }

    #[test]
    fn stop_string_split_across_tokens_is_never_released() {
        assert_eq!(run(&["\n\n"], &[b"Hi", b"\n", b"\nUser"]), ("Hi".to_string(), true));
        assert_eq!(run(&["User:"], &[b"a Us", b"e", b"r:x"]), ("a ".to_string(), true));
    }

    #[test]
    fn held_prefix_is_released_when_it_turns_out_not_to_stop() {
        let mut s = TextStream::new(vec!["\n\n".into()]);
        assert_eq!(s.push(b"a\n"), TextStep::Text("a".into()));
        assert_eq!(s.push(b"b"), TextStep::Text("\nb".into()));
        assert_eq!(s.finish(), "");
    }

    #[test]
    fn earliest_of_several_stops_wins() {
        assert_eq!(run(&["xyz", "b"], &[b"abcxyz"]), ("a".to_string(), true));
    }

    #[test]
    fn multibyte_characters_wait_for_all_bytes() {
        let e_acute = "é".as_bytes();
        let mut s = TextStream::new(vec![]);
        assert_eq!(s.push(&e_acute[..1]), TextStep::Text(String::new()));
        assert_eq!(s.push(&e_acute[1..]), TextStep::Text("é".into()));
        assert_eq!(s.push(&[0xff, b'a']), TextStep::Text("\u{fffd}a".into()));
        assert_eq!(s.push(&e_acute[..1]), TextStep::Text(String::new()));
        assert_eq!(s.finish(), "\u{fffd}");
    }

    #[test]
    fn no_stops_releases_everything() {
        assert_eq!(run(&[], &[b"one ", b"two"]), ("one two".to_string(), false));
    }
}
