//! `GET /api/openapi.json`: the hand-written OpenAPI 3.1 document of this API (`docs/openapi.json`),
//! open to everyone: it describes, it does not reveal.

use actix_web::{HttpResponse, get};

pub const DOCUMENT: &str = include_str!("../../../docs/openapi.json");

#[get("/api/openapi.json")]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT)
}
