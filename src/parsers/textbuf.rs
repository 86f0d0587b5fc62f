//! [`TextBuf`]: a text accumulator with a fixed memory bound for output that arrives in
//! pieces (Go test output events, TAP diagnostics, Dart prints). It keeps the head and the
//! tail and counts what it dropped in between, so a test that prints a gigabyte costs a few
//! kilobytes and the message that explains the failure (usually at the end) survives.

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub struct TextBuf {
    head: String,
    tail: String,
    cut: u64,
    cap: usize,
}

impl TextBuf {
    /// A buffer that keeps about `cap` bytes (half head, half tail).
    pub fn new(cap: usize) -> Self {
        TextBuf {
            cap: cap.max(64),
            ..Default::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.head.is_empty() && self.tail.is_empty()
    }

    pub fn push(&mut self, s: &str) {
        let half = self.cap / 2;
        let mut s = s;
        if self.cut == 0 && self.tail.is_empty() && self.head.len() < half {
            let room = half - self.head.len();
            let mut k = room.min(s.len());
            while !s.is_char_boundary(k) {
                k -= 1;
            }
            self.head.push_str(&s[..k]);
            s = &s[k..];
        }
        if s.is_empty() {
            return;
        }
        self.tail.push_str(s);
        if self.tail.len() > self.cap {
            let mut drop = self.tail.len() - half;
            while !self.tail.is_char_boundary(drop) {
                drop += 1;
            }
            self.cut += drop as u64;
            self.tail.drain(..drop);
        }
    }

    /// The kept text, with a marker where bytes were cut.
    pub fn text(&self) -> String {
        if self.cut == 0 {
            format!("{}{}", self.head, self.tail)
        } else {
            format!(
                "{}\n[… {} bytes cut by codeloop …]\n{}",
                self.head, self.cut, self.tail
            )
        }
    }

    /// Empties the buffer (its bound stays).
    pub fn clear(&mut self) {
        self.head.clear();
        self.tail.clear();
        self.cut = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_head_and_tail_within_the_bound() {
        let mut b = TextBuf::new(100);
        for i in 0..10_000 {
            b.push(&format!("line {i}\n"));
        }
        let t = b.text();
        assert!(t.starts_with("line 0\nline 1\n"));
        assert!(t.ends_with("line 9999\n"));
        assert!(t.contains("bytes cut by codeloop"));
        assert!(t.len() < 250, "{}", t.len());
        let mut small = TextBuf::new(100);
        small.push("é".repeat(10).as_str());
        assert_eq!(small.text(), "é".repeat(10));
    }
}
