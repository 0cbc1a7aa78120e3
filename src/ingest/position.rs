//! A `BufRead` pass-through that counts lines, so a parse error can name a line and column
//! without keeping the document in memory.

use std::collections::VecDeque;
use std::io::{BufRead, Read, Result};

/// Newline offsets remembered behind the read position for column reporting. Errors are
/// reported at most one event behind it, so a few thousand lines of history is plenty. The
/// newlines of the buffered bytes not read yet are kept too (at most one buffer's worth).
const RECENT_NEWLINES: usize = 4096;

pub struct LineCounter<R> {
    inner: R,
    /// Bytes handed on (`consume`d).
    consumed: u64,
    /// Bytes whose newlines are counted: each buffer is scanned once, when first seen.
    scanned: u64,
    /// Newlines before `scanned`.
    newlines: u64,
    recent: VecDeque<u64>,
}

impl<R: BufRead> LineCounter<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            consumed: 0,
            scanned: 0,
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
        let Self {
            inner,
            consumed,
            scanned,
            newlines,
            recent,
        } = self;
        let buf = inner.fill_buf()?;
        let end = *consumed + buf.len() as u64;
        if end > *scanned {
            let from = (*scanned - *consumed) as usize;
            for i in memchr::memchr_iter(b'\n', &buf[from..]) {
                *newlines += 1;
                recent.push_back(*scanned + i as u64);
            }
            *scanned = end;
            while recent.len() > RECENT_NEWLINES && recent.front().is_some_and(|&nl| nl < *consumed)
            {
                recent.pop_front();
            }
        }
        Ok(buf)
    }

    fn consume(&mut self, amt: usize) {
        self.consumed += amt as u64;
        self.inner.consume(amt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_right_whatever_the_buffer_and_read_sizes() {
        let text: Vec<u8> = (0..20_000u32)
            .map(|i| {
                if i % 7 == 0 || i % 13 == 5 {
                    b'\n'
                } else {
                    b'x'
                }
            })
            .collect();
        let expected = |offset: usize| {
            let before = &text[..offset];
            let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            let start = before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            (line, (offset - start) as u64 + 1)
        };
        for (buffer, step) in [(16, 3), (64, 64), (1000, 7), (8192, 1)] {
            let mut r = LineCounter::new(std::io::BufReader::with_capacity(buffer, &text[..]));
            let mut read = 0;
            while read < text.len() {
                let n = r.fill_buf().map_or(0, |b| b.len().min(step));
                r.consume(n);
                read += n;
                // Errors are reported at or a little behind the read position.
                for back in [0, 1, 50] {
                    let offset = read.saturating_sub(back);
                    assert_eq!(
                        r.line_col(offset as u64),
                        expected(offset),
                        "{buffer}/{step} at {offset}"
                    );
                }
            }
        }
    }

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
