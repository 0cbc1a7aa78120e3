//! The HTTP edge: the JSON API, the WebSocket, the dashboard's files and the demo feeds.

pub mod auth;
pub mod error;
pub mod export;
pub mod rate_limit;
pub mod redact;
pub mod routes;
pub mod validate;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use actix::Addr;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::actors::history_broker::HistoryBroker;
use crate::actors::pipeline::Pipeline;
use crate::actors::scheduler::SchedulerActor;
use crate::config::Settings;
use crate::store::Store;

/// Shared by every request handler; built once, outside the per-worker app factory.
pub struct AppState {
    pub settings: Arc<Settings>,
    /// The admin, read and previous tokens; replaced in place on SIGHUP.
    pub tokens: Arc<auth::Tokens>,
    /// Shared, not cloned per WebSocket session (a `Store` clone copies its Redis settings).
    pub store: Arc<Store>,
    pub pipeline: Arc<Pipeline>,
    pub broker: Addr<HistoryBroker>,
    pub scheduler: Option<Addr<SchedulerActor>>,
    pub next_session: AtomicU64,
    /// Bodies fetched by `POST /api/preview`, reused for a minute.
    pub previews: crate::actors::preview::BodyCache,
}

/// One route of the router. Every route is registered from this table, so the table is the
/// router's list (the OpenAPI test compares it with the document).
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    register: fn(&mut web::ServiceConfig),
}

macro_rules! route {
    ($method:literal, $path:literal, $handler:path) => {
        Route {
            method: $method,
            path: $path,
            register: |c| {
                c.service($handler);
            },
        }
    };
}

/// Order matters where paths overlap: `/changes` before `/{id}`.
pub const ROUTES: &[Route] = &[
    route!("GET", "/healthz", routes::health::healthz),
    route!("GET", "/readyz", routes::health::readyz),
    route!("GET", "/metrics", routes::metrics::metrics),
    route!("GET", "/ws", routes::ws::connect),
    route!("GET", "/api/openapi.json", routes::openapi::document),
    route!("GET", "/api/import-logs", routes::import_logs::list),
    route!(
        "GET",
        "/api/import-logs/changes",
        routes::import_logs::changes
    ),
    route!("GET", "/api/import-logs/{id}", routes::import_logs::show),
    route!(
        "POST",
        "/api/import-logs/{id}/replay",
        routes::sources::replay
    ),
    route!("GET", "/api/jobs", routes::jobs::list),
    route!("GET", "/api/jobs/export", routes::jobs::export),
    route!("GET", "/api/jobs/changes", routes::changes::list),
    route!(
        "GET",
        "/api/jobs/changes/webhooks",
        routes::changes::webhooks
    ),
    route!("GET", "/api/jobs/{id}", routes::jobs::show),
    route!("GET", "/api/stats", routes::stats::stats),
    route!("GET", "/api/audit", routes::audit::list),
    route!("GET", "/api/maintenance", routes::maintenance::show),
    route!("POST", "/api/maintenance/pause", routes::maintenance::pause),
    route!(
        "POST",
        "/api/maintenance/resume",
        routes::maintenance::resume
    ),
    route!("GET", "/api/queues", routes::queues::list),
    route!("GET", "/api/alerts/channels", routes::alerts::channels),
    route!("GET", "/api/alerts/deliveries", routes::alerts::deliveries),
    route!(
        "POST",
        "/api/alerts/channels/{id}/test",
        routes::alerts::send_test
    ),
    route!("GET", "/api/sources", routes::sources::list),
    route!("POST", "/api/sources", routes::sources::create),
    route!("GET", "/api/sources/{id}", routes::sources::show),
    route!(
        "POST",
        "/api/sources/import-all",
        routes::sources::import_all
    ),
    route!("PATCH", "/api/sources/{id}", routes::sources::update),
    route!("DELETE", "/api/sources/{id}", routes::sources::remove),
    route!("POST", "/api/sources/{id}/import", routes::sources::import),
    route!(
        "POST",
        "/api/sources/{id}/backfill",
        routes::sources::backfill
    ),
    route!("POST", "/api/preview", routes::preview::preview),
    route!("GET", "/api/mappings", routes::preview::mappings),
];

/// Registers every route. The dashboard is served last, with unknown paths falling back to its
/// `index.html` so client-side routes survive a reload.
pub fn configure(cfg: &mut web::ServiceConfig, settings: &Settings) {
    cfg.app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(
            web::JsonConfig::default()
                .limit(settings.http.max_body_bytes)
                .error_handler(error::json_error),
        )
        .app_data(web::PathConfig::default().error_handler(error::path_error));
    for r in ROUTES {
        (r.register)(cfg);
    }
    // The demo feeds are test data served to this daemon itself, not part of the API.
    if settings.demo.enabled {
        cfg.service(routes::demo::feed);
    }
    cfg.service(web::scope("/api").default_service(web::to(api_not_found)));
    let dir = settings.http.static_dir.clone();
    if dir.join("index.html").is_file() {
        let index = dir.join("index.html");
        cfg.service(
            actix_files::Files::new("/", &dir)
                .index_file("index.html")
                .default_handler(web::to(move |req: HttpRequest| {
                    let index = index.clone();
                    async move { spa_index(&req, &index) }
                })),
        );
    } else {
        cfg.default_service(web::to(move || {
            let dir = dir.clone();
            async move { not_built(&dir) }
        }));
    }
}

/// CORS for the configured origins; `app.rs` applies it only when some are configured.
pub fn cors(settings: &Settings) -> actix_cors::Cors {
    let mut c = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "DELETE"])
        .allowed_headers(["authorization", "content-type", "accept"])
        .max_age(600);
    for o in &settings.http.cors_origins {
        c = c.allowed_origin(o);
    }
    c
}

async fn api_not_found(req: HttpRequest) -> Result<HttpResponse, error::ApiError> {
    Err(error::ApiError::not_found(format!(
        "no route {} {}",
        req.method(),
        req.path()
    )))
}

fn spa_index(req: &HttpRequest, index: &Path) -> HttpResponse {
    match actix_files::NamedFile::open(index) {
        Ok(f) => f.into_response(req),
        Err(_) => HttpResponse::NotFound().finish(),
    }
}

fn not_built(dir: &Path) -> HttpResponse {
    HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body(format!(
        "The dashboard is not built ({}/index.html is missing). `make run` builds it; the API is at /api.",
        dir.display()
    ))
}
