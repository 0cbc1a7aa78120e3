//! The loopback server of a scenario's feeds: serves each source's current version at
//! `/s{n}.xml`, with or without validators, slowly, failing now and then, and records what it
//! answered to every request (the model reads it).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::feeds::{Feeds, render};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// 200 with the version's document (cut off when the version is truncated).
    Body {
        version: usize,
        truncated: bool,
    },
    /// 304: the request's validators were those of the current version.
    NotModified {
        version: usize,
    },
    Error(u16),
}

#[derive(Clone, Debug)]
pub struct Served {
    pub source: usize,
    pub at: DateTime<Utc>,
    pub answer: Answer,
}

struct State {
    feeds: Feeds,
    /// Version served now, per source.
    current: Vec<usize>,
    log: Vec<Served>,
    rng: StdRng,
}

#[derive(Clone)]
pub struct FeedServer {
    state: Arc<Mutex<State>>,
    pub server: Arc<MockServer>,
}

pub fn etag(source: usize, version: usize) -> String {
    format!("\"s{source}-v{version}\"")
}

/// A Last-Modified that grows with the version.
pub fn last_modified(version: usize) -> String {
    let t = DateTime::from_timestamp(1_700_000_000 + version as i64 * 60, 0).unwrap_or_default();
    httpdate::fmt_http_date(t.into())
}

struct Responder(Arc<Mutex<State>>);

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut st = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let path = req.url.path();
        let Some(s) = path
            .strip_prefix("/s")
            .and_then(|p| p.strip_suffix(".xml"))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&s| s < st.feeds.sources.len())
        else {
            return ResponseTemplate::new(404);
        };
        let spec = st.feeds.sources[s].clone();
        let v = st.current[s];
        let delay = Duration::from_millis(spec.delay_ms);
        let at = Utc::now();
        let header = |name: &str| {
            req.headers
                .get(name)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        };
        let fail = st.rng.random_range(0..1000) < spec.fail_per_mille;
        let (answer, resp) = if fail {
            let status = [500u16, 503, 429][st.rng.random_range(0..3)];
            let mut r = ResponseTemplate::new(status);
            if status != 500 {
                r = r.insert_header("Retry-After", "1");
            }
            (Answer::Error(status), r)
        } else {
            let matches = spec.validators
                && match (header("if-none-match"), header("if-modified-since")) {
                    (Some(inm), _) => inm == etag(s, v),
                    (None, Some(ims)) => ims == last_modified(v),
                    (None, None) => false,
                };
            if matches {
                (
                    Answer::NotModified { version: v },
                    ResponseTemplate::new(304).insert_header("ETag", etag(s, v).as_str()),
                )
            } else {
                let version = &st.feeds.versions[s][v];
                let body = render(spec.publisher, version);
                let mut r = ResponseTemplate::new(200).set_body_raw(body, "application/rss+xml");
                if spec.validators {
                    r = r
                        .insert_header("ETag", etag(s, v).as_str())
                        .insert_header("Last-Modified", last_modified(v).as_str());
                }
                (
                    Answer::Body {
                        version: v,
                        truncated: version.cut_at.is_some(),
                    },
                    r,
                )
            }
        };
        st.log.push(Served {
            source: s,
            at,
            answer,
        });
        resp.set_delay(delay)
    }
}

impl FeedServer {
    pub async fn start(feeds: Feeds, seed: u64) -> Self {
        let n = feeds.sources.len();
        let state = Arc::new(Mutex::new(State {
            feeds,
            current: vec![0; n],
            log: Vec::new(),
            rng: StdRng::seed_from_u64(seed ^ 0x5eed_feed),
        }));
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(Responder(state.clone()))
            .mount(&server)
            .await;
        Self {
            state,
            server: Arc::new(server),
        }
    }

    pub fn url(&self, source: usize) -> String {
        format!("{}/s{source}.xml", self.server.uri())
    }

    pub fn set_version(&self, source: usize, version: usize) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.current[source] = version;
    }

    pub fn log(&self) -> Vec<Served> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .log
            .clone()
    }
}
