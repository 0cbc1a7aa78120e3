//! [`FetchBody`]: response metadata plus a chunk stream that enforces the byte cap (after
//! decompression, so it is also the gzip-bomb guard) and the total deadline.

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, ETAG, HeaderMap, HeaderName, LAST_MODIFIED};
use tokio::time::Instant;

use super::FetchError;
use super::classify::classify_reqwest_error;
use super::client::deadline_passed;
use crate::domain::codes;

/// A 2xx response whose body has not been read yet. Dropping it closes the connection.
#[derive(Debug)]
pub struct FetchBody {
    /// The URL after redirects; relative links resolve against it.
    pub final_url: url::Url,
    /// The media type, lowercased, without parameters (`application/rss+xml`).
    pub content_type: Option<String>,
    /// The `charset` parameter of Content-Type, lowercased, if any.
    pub charset: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    response: reqwest::Response,
    bytes_read: u64,
    cap: u64,
    deadline: Instant,
    total_timeout_ms: u64,
    finished: bool,
}

impl FetchBody {
    pub(super) fn new(
        response: reqwest::Response,
        cap: u64,
        deadline: Instant,
        total_timeout_ms: u64,
    ) -> Self {
        let headers = response.headers();
        let (content_type, charset) = parse_content_type(headers);
        Self {
            final_url: response.url().clone(),
            content_type,
            charset,
            etag: header_text(headers, &ETAG),
            last_modified: header_text(headers, &LAST_MODIFIED),
            bytes_read: 0,
            cap,
            deadline,
            total_timeout_ms,
            finished: false,
            response,
        }
    }

    /// The next piece of the decoded body, `Ok(None)` at its end. After an error the body is
    /// finished and further calls return `Ok(None)`.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, FetchError> {
        if self.finished {
            return Ok(None);
        }
        let result = match tokio::time::timeout_at(self.deadline, self.response.chunk()).await {
            Err(_) => Err(self.with_progress(deadline_passed(self.total_timeout_ms, "body"))),
            Ok(Err(e)) => Err(self.with_progress(classify_reqwest_error(&e))),
            Ok(Ok(None)) => Ok(None),
            Ok(Ok(Some(chunk))) => {
                self.bytes_read += chunk.len() as u64;
                if self.bytes_read > self.cap {
                    Err(FetchError::permanent(
                        codes::FETCH_TOO_LARGE,
                        format!("the body passed the cap of {} bytes", self.cap),
                    ))
                } else {
                    return Ok(Some(chunk));
                }
            }
        };
        self.finished = true;
        result
    }

    /// Decoded bytes handed out so far (including a chunk that crossed the cap).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    fn with_progress(&self, err: FetchError) -> FetchError {
        let message = format!("{} (after {} bytes)", err.message, self.bytes_read);
        FetchError { message, ..err }
    }
}

fn header_text(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let text = headers.get(name)?.to_str().ok()?.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn parse_content_type(headers: &HeaderMap) -> (Option<String>, Option<String>) {
    let Some(raw) = header_text(headers, &CONTENT_TYPE) else {
        return (None, None);
    };
    let mut parts = raw.split(';');
    let media = parts
        .next()
        .map(|m| m.trim().to_ascii_lowercase())
        .filter(|m| !m.is_empty());
    let charset = parts.find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.trim().eq_ignore_ascii_case("charset").then(|| {
            value
                .trim()
                .trim_matches('"')
                .trim_matches('\'')
                .to_ascii_lowercase()
        })
    });
    (media, charset.filter(|c| !c.is_empty()))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn content_type(value: &'static str) -> (Option<String>, Option<String>) {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(value));
        parse_content_type(&headers)
    }

    #[test]
    fn content_type_splits_media_type_and_charset() {
        assert_eq!(
            content_type("Application/RSS+XML; Charset=\"ISO-8859-1\""),
            (
                Some("application/rss+xml".into()),
                Some("iso-8859-1".into())
            )
        );
        assert_eq!(content_type("text/xml"), (Some("text/xml".into()), None));
        assert_eq!(
            content_type("text/xml; boundary=x; charset="),
            (Some("text/xml".into()), None)
        );
    }
}
