//! A tiny HTTP/1.1 responder on 127.0.0.1 port 0 whose misbehaviour each test scripts: raw
//! replies, trickled bodies, endless bodies, silence. It counts requests so a test can assert
//! that a refused URL was never fetched.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The parts of a request the handlers look at.
pub struct Request {
    pub path: String,
    headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the server does after reading a request. The connection closes afterwards.
pub enum Reply {
    /// Writes these bytes (build them with [`response`] or [`head`]).
    Raw(Vec<u8>),
    /// Writes `head`, then one byte of `x` every `every`, forever.
    Trickle { head: Vec<u8>, every: Duration },
    /// Writes `head`, then `chunk` until `total` bytes or the client hangs up.
    Endless {
        head: Vec<u8>,
        chunk: Vec<u8>,
        total: u64,
    },
    /// Never answers.
    Silence,
}

pub struct TestServer {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let handler = Arc::new(handler);
        let counter = hits.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (handler, counter) = (handler.clone(), counter.clone());
                tokio::spawn(async move {
                    if let Some(req) = read_request(&stream).await {
                        counter.fetch_add(1, Ordering::SeqCst);
                        serve(stream, handler(&req)).await;
                    }
                });
            }
        });
        Self { addr, hits, task }
    }

    /// Answers every connection with `bytes` at once, without reading (e.g. to fail a TLS
    /// handshake with plain text).
    pub async fn blurt(bytes: &'static [u8]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let _ = stream.write_all(bytes).await;
            }
        });
        Self {
            addr,
            hits: Arc::default(),
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A status line and headers, with `Connection: close`; add Content-Length yourself if wanted.
pub fn head(status: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// A complete response with an honest Content-Length.
pub fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let length = body.len().to_string();
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    all.push(("Content-Length", &length));
    let mut out = head(status, &all);
    out.extend_from_slice(body);
    out
}

async fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut piece = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
        stream.readable().await.ok()?;
        match stream.try_read(&mut piece) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&piece[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return None,
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines = text.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Some(Request { path, headers })
}

async fn serve(mut stream: TcpStream, reply: Reply) {
    match reply {
        Reply::Raw(bytes) => {
            let _ = stream.write_all(&bytes).await;
        }
        Reply::Trickle { head, every } => {
            if stream.write_all(&head).await.is_err() {
                return;
            }
            while stream.write_all(b"x").await.is_ok() {
                tokio::time::sleep(every).await;
            }
        }
        Reply::Endless { head, chunk, total } => {
            let mut sent = 0u64;
            let mut ok = stream.write_all(&head).await.is_ok();
            while ok && sent < total {
                ok = stream.write_all(&chunk).await.is_ok();
                sent += chunk.len() as u64;
            }
        }
        Reply::Silence => {
            let mut sink = [0u8; 1024];
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
        }
    }
    let _ = stream.shutdown().await;
}
