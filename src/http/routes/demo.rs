//! `GET /demo/feeds/{name}`: the bundled sample feeds, served only when `demo.enabled`, so a
//! fresh install imports real-looking data without internet access.

use actix_web::{HttpResponse, get, web};

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

#[get("/demo/feeds/{name}")]
pub async fn feed(name: web::Path<String>) -> HttpResponse {
    match FEEDS.iter().find(|(n, _, _)| *n == name.as_str()) {
        Some((_, ct, body)) => HttpResponse::Ok().content_type(*ct).body(*body),
        None => HttpResponse::NotFound().finish(),
    }
}
