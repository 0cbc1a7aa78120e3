//! A streaming `BufRead` adapter that turns any supported charset into UTF-8, chunk by chunk.
//! Precedence: BOM, then valid UTF-8, then the HTTP header charset, then the XML declaration.
//!
//! An unknown label (`utf8mb4`, a typo) is ignored: the bytes decide (UTF-8 when valid, else
//! Windows-1252, which decodes any byte). A label WHATWG maps to the `replacement` encoding
//! (ISO-2022-KR, HZ-GB-2312, ...) cannot be decoded safely; non-UTF-8 bytes under it end the
//! parse with `parse.encoding`.

use std::io::{BufRead, Read, Result};

use encoding_rs::{Decoder, Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};

/// Bytes looked at for a BOM and an XML declaration.
const SNIFF_BYTES: usize = 1024;

pub struct CharsetReader<R> {
    inner: R,
    /// Raw bytes read but not yet decoded (the sniffed head, or a split character).
    pending: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    /// `None` while only ASCII has been seen and the encoding is not certain yet.
    decoder: Option<Decoder>,
    /// The declared (header or XML) encoding, used if the bytes turn out not to be UTF-8.
    declared: Option<&'static Encoding>,
    /// A declared label we refuse to decode, kept for the error message.
    refused: Option<String>,
    /// Set once non-UTF-8 bytes met a refused label.
    refused_hit: bool,
    eof: bool,
    finished: bool,
    /// Bytes of `inner`'s buffer handed out as they are (ASCII, or valid UTF-8 once UTF-8 is
    /// decided), without copying through the decoder.
    direct: usize,
}

impl<R: BufRead> CharsetReader<R> {
    /// Sniffs the head of `inner`. `header_charset` is the HTTP Content-Type charset, if any.
    pub fn new(mut inner: R, header_charset: Option<&str>) -> Result<Self> {
        let mut pending = Vec::with_capacity(SNIFF_BYTES);
        (&mut inner)
            .take(SNIFF_BYTES as u64)
            .read_to_end(&mut pending)?;
        let (certain, bom_len) = match Encoding::for_bom(&pending) {
            Some((enc, len)) => (Some(enc), len),
            None => (utf16_without_bom(&pending), 0),
        };
        pending.drain(..bom_len);
        let header = header_charset.map(|l| l.trim().trim_matches('"').to_owned());
        let declared = header
            .as_deref()
            .and_then(|l| Encoding::for_label(l.as_bytes()))
            .or_else(|| xml_declared_encoding(&pending));
        let refused = declared.filter(|e| e.name() == "replacement").map(|_| {
            header
                .clone()
                .unwrap_or_else(|| "the XML declaration's".into())
        });
        let declared = declared.filter(|e| e.is_ascii_compatible() && e.name() != "replacement");
        Ok(Self {
            inner,
            pending,
            out: Vec::new(),
            pos: 0,
            decoder: certain.map(Encoding::new_decoder_without_bom_handling),
            declared,
            refused,
            refused_hit: false,
            eof: false,
            finished: false,
            direct: 0,
        })
    }

    /// The refused label, once bytes that are not UTF-8 were found under it.
    pub fn refused_label(&self) -> Option<&str> {
        self.refused.as_deref().filter(|_| self.refused_hit)
    }

    /// The encoding in use; `None` while everything read so far was ASCII.
    pub fn encoding(&self) -> Option<&'static Encoding> {
        self.decoder.as_ref().map(Decoder::encoding)
    }

    fn read_more(&mut self) -> Result<()> {
        let chunk = self.inner.fill_buf()?;
        if chunk.is_empty() {
            self.eof = true;
        }
        let n = chunk.len();
        self.pending.extend_from_slice(chunk);
        self.inner.consume(n);
        Ok(())
    }

    /// Picks the encoding at the first non-ASCII byte: valid UTF-8 wins over any declaration
    /// (publishers often declare ISO-8859-1 and send UTF-8); otherwise the declared encoding,
    /// or Windows-1252 (what WHATWG reads ISO-8859-1 as) when UTF-8 was declared or nothing.
    fn decide(&mut self) -> Result<bool> {
        loop {
            let window = &self.pending[..self.pending.len().min(SNIFF_BYTES)];
            let utf8 = match std::str::from_utf8(window) {
                Ok(_) => true,
                Err(e) if e.valid_up_to() > 0 => true,
                Err(e) if e.error_len().is_some() || self.eof => false,
                Err(_) => {
                    self.read_more()?;
                    continue;
                }
            };
            if !utf8 && self.refused.is_some() {
                self.refused_hit = true;
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the declared charset cannot be decoded safely",
                ));
            }
            let enc = match (utf8, self.declared) {
                (true, _) => UTF_8,
                (false, Some(d)) if d != UTF_8 => d,
                (false, _) => WINDOWS_1252,
            };
            self.decoder = Some(enc.new_decoder_without_bom_handling());
            return Ok(true);
        }
    }

    /// Produces the next chunk of UTF-8 into `out`.
    fn produce(&mut self) -> Result<()> {
        self.out.clear();
        self.pos = 0;
        if self.pending.is_empty() && !self.eof {
            self.read_more()?;
        }
        if self.decoder.is_none() {
            let ascii = self.pending.iter().take_while(|b| b.is_ascii()).count();
            if ascii > 0 || self.pending.is_empty() {
                self.out.extend(self.pending.drain(..ascii));
                if self.eof && self.pending.is_empty() {
                    self.finished = true;
                }
                return Ok(());
            }
            self.decide()?;
        }
        let Some(decoder) = self.decoder.as_mut() else {
            return Ok(());
        };
        let last = self.eof;
        // UTF-8 keeps a character split across reads in `pending`, not in the decoder, so the
        // decoder holds no state between chunks and chunks can bypass it (see `direct_len`).
        let usable = if decoder.encoding() == UTF_8 && !last {
            self.pending.len() - incomplete_utf8_tail(&self.pending)
        } else {
            self.pending.len()
        };
        if usable == 0 && !last {
            return self.read_more();
        }
        let cap = decoder
            .max_utf8_buffer_length(usable)
            .unwrap_or(usable * 3 + 16);
        self.out.resize(cap, 0);
        let (_, read, written, _) =
            decoder.decode_to_utf8(&self.pending[..usable], &mut self.out, last);
        self.out.truncate(written);
        self.pending.drain(..read);
        self.finished = last && self.pending.is_empty();
        Ok(())
    }

    /// How many bytes at the start of `inner`'s buffer can be handed out unchanged: ASCII
    /// while the encoding is undecided, valid UTF-8 once it is UTF-8. Zero when nothing is
    /// pending decode output and the chunk must go through the decoder.
    fn direct_len(&mut self) -> Result<usize> {
        if !self.pending.is_empty() || self.pos < self.out.len() || self.finished {
            return Ok(0);
        }
        let chunk = self.inner.fill_buf()?;
        Ok(match self.decoder.as_ref().map(Decoder::encoding) {
            None if chunk.is_ascii() => chunk.len(),
            None => chunk
                .iter()
                .position(|b| !b.is_ascii())
                .unwrap_or(chunk.len()),
            Some(enc) if enc == UTF_8 => match std::str::from_utf8(chunk) {
                Ok(_) => chunk.len(),
                Err(e) => e.valid_up_to(),
            },
            Some(_) => 0,
        })
    }
}

/// Length of an incomplete UTF-8 sequence at the end of `bytes` (0 if it ends on a boundary).
fn incomplete_utf8_tail(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let b = bytes[bytes.len() - back];
        if b & 0xC0 == 0x80 {
            continue;
        }
        let needed = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if needed > back { back } else { 0 };
    }
    0
}

impl<R: BufRead> Read for CharsetReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for CharsetReader<R> {
    fn fill_buf(&mut self) -> Result<&[u8]> {
        if self.direct == 0 {
            self.direct = self.direct_len()?;
        }
        if self.direct > 0 {
            let chunk = self.inner.fill_buf()?;
            return Ok(&chunk[..self.direct.min(chunk.len())]);
        }
        while self.pos >= self.out.len() && !self.finished {
            self.produce()?;
        }
        Ok(&self.out[self.pos..])
    }

    fn consume(&mut self, amt: usize) {
        if self.direct > 0 {
            let n = amt.min(self.direct);
            self.inner.consume(n);
            self.direct -= n;
            return;
        }
        self.pos = (self.pos + amt).min(self.out.len());
    }
}

/// `<?` written in UTF-16 without a BOM (XML 1.0 appendix F).
fn utf16_without_bom(head: &[u8]) -> Option<&'static Encoding> {
    match head {
        [0x3C, 0, 0x3F, 0, ..] => Some(UTF_16LE),
        [0, 0x3C, 0, 0x3F, ..] => Some(UTF_16BE),
        _ => None,
    }
}

/// The `encoding` pseudo-attribute of an XML declaration at the start of `head`.
fn xml_declared_encoding(head: &[u8]) -> Option<&'static Encoding> {
    let head = std::str::from_utf8(&head[..head.len().min(200)])
        .ok()
        .or_else(|| {
            let end = head
                .iter()
                .position(|b| !b.is_ascii())
                .unwrap_or(head.len());
            std::str::from_utf8(&head[..end]).ok()
        })?;
    let decl = head.trim_start().strip_prefix("<?xml")?;
    let decl = &decl[..decl.find("?>")?];
    let after = &decl[decl.find("encoding")? + "encoding".len()..];
    let value = after.trim_start().strip_prefix('=')?.trim_start();
    let quote = value.chars().next().filter(|q| *q == '"' || *q == '\'')?;
    let label = &value[1..][..value[1..].find(quote)?];
    Encoding::for_label(label.as_bytes())
}
