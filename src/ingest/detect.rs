//! Format detection from content (never from Content-Type): the first non-whitespace byte
//! says XML or JSON; the XML root element or JSON shape says the rest.

use std::io::{BufRead, Result};

/// The broad family of a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Xml,
    Json,
    Other,
    Empty,
}

/// Skips leading whitespace (consuming it) and classifies the body by its first byte.
pub fn sniff<R: BufRead>(input: &mut R) -> Result<Family> {
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(Family::Empty);
        }
        let ws = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
        let first = buf.get(ws).copied();
        input.consume(ws);
        if let Some(b) = first {
            return Ok(match b {
                b'<' => Family::Xml,
                b'{' | b'[' => Family::Json,
                _ => Family::Other,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_non_whitespace_byte_decides_the_family() {
        assert_eq!(sniff(&mut &b"  \n<rss/>"[..]).ok(), Some(Family::Xml));
        assert_eq!(sniff(&mut &b"\t{\"a\":1}"[..]).ok(), Some(Family::Json));
        assert_eq!(sniff(&mut &b"[1]"[..]).ok(), Some(Family::Json));
        assert_eq!(sniff(&mut &b"hello"[..]).ok(), Some(Family::Other));
        assert_eq!(sniff(&mut &b"  \r\n "[..]).ok(), Some(Family::Empty));
    }
}
