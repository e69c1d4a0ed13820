//! Compact byte trie for greedy longest-prefix matching (spec §6.2).
//!
//! Nodes are numbered in breadth-first order, so the children of a node are the contiguous node range
//! `first_child .. first_child + child_count`, sorted by their edge byte. A child lookup is a binary
//! search over that node range's `label` bytes; the root, which has up to 256 children and is visited
//! once per emitted token, gets a direct 256-entry table instead.

const NONE: u32 = u32::MAX;

#[derive(Clone, Debug)]
pub(crate) struct Trie {
    root: Box<[u32; 256]>,
    /// Edge byte leading into each node (unused for node 0, the root).
    label: Vec<u8>,
    first_child: Vec<u32>,
    child_count: Vec<u16>,
    /// Token id ending at each node, or `NONE`.
    token: Vec<u32>,
}

impl Trie {
    /// Builds the trie from `(id, bytes)` pairs. Empty byte strings are skipped (they can never be
    /// matched). When several ids share the same bytes, the lowest id wins, so the result does not depend
    /// on input order.
    pub(crate) fn build<'a>(entries: impl IntoIterator<Item = (u32, &'a [u8])>) -> Trie {
        let mut keys: Vec<(&[u8], u32)> = entries
            .into_iter()
            .filter(|(_, b)| !b.is_empty())
            .map(|(id, b)| (b, id))
            .collect();
        keys.sort_unstable();
        keys.dedup_by(|later, earlier| later.0 == earlier.0);

        let mut trie = Trie {
            root: Box::new([NONE; 256]),
            label: vec![0],
            first_child: vec![0],
            child_count: vec![0],
            token: vec![NONE],
        };
        // Key range (lo, hi) and depth of each node; all keys in a node's range share its prefix.
        let mut ranges: Vec<(u32, u32, u32)> = vec![(0, keys.len() as u32, 0)];
        let mut node = 0usize;
        while node < ranges.len() {
            let (lo, hi, depth) = ranges[node];
            let (mut i, hi, depth) = (lo as usize, hi as usize, depth as usize);
            // Sorted order puts the key equal to this prefix (if any) first; dedup left at most one.
            if i < hi && keys[i].0.len() == depth {
                trie.token[node] = keys[i].1;
                i += 1;
            }
            let first = trie.label.len();
            while i < hi {
                let byte = keys[i].0[depth];
                let mut j = i + 1;
                while j < hi && keys[j].0[depth] == byte {
                    j += 1;
                }
                trie.label.push(byte);
                trie.first_child.push(0);
                trie.child_count.push(0);
                trie.token.push(NONE);
                ranges.push((i as u32, j as u32, depth as u32 + 1));
                i = j;
            }
            trie.first_child[node] = first as u32;
            trie.child_count[node] = (trie.label.len() - first) as u16;
            node += 1;
        }
        for child in trie.children(0) {
            trie.root[trie.label[child] as usize] = child as u32;
        }
        trie
    }

    fn children(&self, node: usize) -> std::ops::Range<usize> {
        let first = self.first_child[node] as usize;
        first..first + self.child_count[node] as usize
    }

    fn child(&self, node: usize, byte: u8) -> Option<usize> {
        let range = self.children(node);
        let start = range.start;
        self.label[range]
            .binary_search(&byte)
            .ok()
            .map(|k| start + k)
    }

    /// Longest token that is a prefix of `s`: `(token id, length in bytes)`.
    pub(crate) fn longest_match(&self, s: &[u8]) -> Option<(u32, usize)> {
        let first = *s.first()?;
        let node = self.root[first as usize];
        if node == NONE {
            return None;
        }
        let mut node = node as usize;
        let mut best = None;
        let mut depth = 1;
        loop {
            let id = self.token[node];
            if id != NONE {
                best = Some((id, depth));
            }
            match s.get(depth).and_then(|&b| self.child(node, b)) {
                Some(next) => {
                    node = next;
                    depth += 1;
                }
                None => return best,
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn node_count(&self) -> usize {
        self.label.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_and_fallback() {
        let words: [(u32, &[u8]); 5] = [(1, b"a"), (2, b"ab"), (3, b"abcd"), (4, b"b"), (5, b"c")];
        let trie = Trie::build(words);
        assert_eq!(trie.longest_match(b"abc"), Some((2, 2)));
        assert_eq!(trie.longest_match(b"abcd!"), Some((3, 4)));
        assert_eq!(trie.longest_match(b"b"), Some((4, 1)));
        assert_eq!(trie.longest_match(b"d"), None);
        assert_eq!(trie.longest_match(b""), None);
        // root + a, b, c + ab + abc + abcd
        assert_eq!(trie.node_count(), 7);
    }

    #[test]
    fn duplicate_bytes_keep_lowest_id() {
        let trie = Trie::build([(9, &b"x"[..]), (4, b"x"), (7, b"x")]);
        assert_eq!(trie.longest_match(b"x"), Some((4, 1)));
    }

    #[test]
    fn prefix_without_token_is_not_a_match() {
        let trie = Trie::build([(1, &b"abc"[..])]);
        assert_eq!(trie.longest_match(b"ab"), None);
        assert_eq!(trie.longest_match(b"abcabc"), Some((1, 3)));
    }

    #[test]
    fn all_256_root_children() {
        let bytes: Vec<[u8; 1]> = (0..=255u8).map(|b| [b]).collect();
        let trie = Trie::build(
            bytes
                .iter()
                .enumerate()
                .map(|(i, b)| (i as u32 + 1, &b[..])),
        );
        for b in 0..=255u8 {
            assert_eq!(trie.longest_match(&[b, b]), Some((b as u32 + 1, 1)));
        }
    }
}
