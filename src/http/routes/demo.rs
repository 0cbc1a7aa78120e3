//! `GET /demo/feeds/{name}`: the bundled sample feeds, served only when `demo.enabled`, so a
//! fresh install imports real-looking data without internet access.

use actix_web::{HttpResponse, get, web};

use crate::domain::source::Source;

pub const FEEDS: &[(&str, &str, &str)] = &[
    (
        "jobicy.xml",
        "application/rss+xml",
        include_str!("../../../assets/demo/jobicy.xml"),
    ),
    (
        "board.xml",
        "application/atom+xml",
        include_str!("../../../assets/demo/board.xml"),
    ),
];

/// The demo sources, fetched from this daemon on loopback (`port`), every ten minutes. They
/// alone may reach a private address; the other sources keep the SSRF policy.
pub fn sources(port: u16) -> Vec<Source> {
    FEEDS
        .iter()
        .map(|(name, _, _)| {
            let stem = name.trim_end_matches(".xml");
            let id = format!("demo-{stem}");
            let url = format!("http://127.0.0.1:{port}/demo/feeds/{name}");
            Source::new(id.clone(), format!("Demo: {stem}"), url, "0 */10 * * * *")
                .with_publisher(Some(id))
                .with_private_networks(true)
        })
        .collect()
}

#[get("/demo/feeds/{name}")]
pub async fn feed(name: web::Path<String>) -> HttpResponse {
    match FEEDS.iter().find(|(n, _, _)| *n == name.as_str()) {
        Some((_, ct, body)) => HttpResponse::Ok().content_type(*ct).body(*body),
        None => HttpResponse::NotFound().finish(),
    }
}
