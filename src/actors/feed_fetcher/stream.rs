//! Bridges the async body stream to the synchronous streaming parser: chunks travel through a
//! bounded channel to a blocking thread, so memory stays at a few chunks whatever the feed size.

use std::io::{self, Read};

use bytes::Bytes;
use tokio::sync::mpsc;

/// A `Read` over chunks sent from async code. An `Err` chunk ends the stream with that error.
pub struct ChannelReader {
    rx: mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl ChannelReader {
    pub fn new(rx: mpsc::Receiver<Result<Bytes, String>>) -> Self {
        Self {
            rx,
            current: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_chunks_in_order_then_ends() {
        let (tx, rx) = mpsc::channel(4);
        std::thread::spawn(move || {
            tx.blocking_send(Ok(Bytes::from_static(b"ab"))).ok();
            tx.blocking_send(Ok(Bytes::from_static(b"cde"))).ok();
        });
        let mut s = String::new();
        ChannelReader::new(rx).read_to_string(&mut s).unwrap();
        assert_eq!(s, "abcde");
    }

    #[test]
    fn an_error_chunk_becomes_a_read_error() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Ok(Bytes::from_static(b"ab"))).unwrap();
        tx.try_send(Err("cut".into())).unwrap();
        let mut s = String::new();
        let err = ChannelReader::new(rx).read_to_string(&mut s).unwrap_err();
        assert_eq!(err.to_string(), "cut");
    }
}
