//! A `BufRead` pass-through that counts lines, so a parse error can name a line and column
//! without keeping the document in memory.

use std::collections::VecDeque;
use std::io::{BufRead, Read, Result};

/// Newline offsets remembered for column reporting. Errors are reported at most one event
/// behind the read position, so a few thousand lines of history is plenty.
const RECENT_NEWLINES: usize = 4096;

pub struct LineCounter<R> {
    inner: R,
    consumed: u64,
    newlines: u64,
    recent: VecDeque<u64>,
}

impl<R: BufRead> LineCounter<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            consumed: 0,
            newlines: 0,
            recent: VecDeque::new(),
        }
    }

    /// 1-based line and column (in bytes) of a byte offset already read.
    pub fn line_col(&self, offset: u64) -> (u64, u64) {
        let after = self
            .recent
            .iter()
            .rev()
            .take_while(|&&nl| nl >= offset)
            .count() as u64;
        let line = self.newlines - after + 1;
        let line_start = self
            .recent
            .iter()
            .rev()
            .find(|&&nl| nl < offset)
            .map_or(0, |nl| nl + 1);
        (line, offset.saturating_sub(line_start) + 1)
    }
}

impl<R: BufRead> Read for LineCounter<R> {
    fn read(&mut self, out: &mut [u8]) -> Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for LineCounter<R> {
    fn fill_buf(&mut self) -> Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        // BufRead guarantees the buffer returned by the last fill_buf is still there.
        if let Ok(buf) = self.inner.fill_buf() {
            for i in memchr::memchr_iter(b'\n', &buf[..amt.min(buf.len())]) {
                self.newlines += 1;
                if self.recent.len() == RECENT_NEWLINES {
                    self.recent.pop_front();
                }
                self.recent.push_back(self.consumed + i as u64);
            }
        }
        self.consumed += amt as u64;
        self.inner.consume(amt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_one_based_line_and_column() {
        let mut r = LineCounter::new(&b"ab\ncd\nef"[..]);
        let mut s = String::new();
        assert_eq!(r.read_to_string(&mut s).ok(), Some(8));
        assert_eq!(r.line_col(0), (1, 1));
        assert_eq!(r.line_col(4), (2, 2));
        assert_eq!(r.line_col(7), (3, 2));
    }
}
