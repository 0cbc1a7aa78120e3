//! The HTTP edge: the JSON API, the WebSocket, the dashboard's files and the demo feeds.

pub mod auth;
pub mod error;
pub mod routes;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use actix::Addr;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::actors::history_broker::HistoryBroker;
use crate::actors::pipeline::Pipeline;
use crate::actors::scheduler::SchedulerActor;
use crate::config::{Secret, Settings};
use crate::store::Store;

/// Shared by every request handler; built once, outside the per-worker app factory.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub admin_token: Secret,
    pub store: Store,
    pub pipeline: Arc<Pipeline>,
    pub broker: Addr<HistoryBroker>,
    pub scheduler: Option<Addr<SchedulerActor>>,
    pub next_session: AtomicU64,
}

/// Registers every route. The dashboard is served last, with unknown paths falling back to its
/// `index.html` so client-side routes survive a reload.
pub fn configure(cfg: &mut web::ServiceConfig, settings: &Settings) {
    cfg.app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(
            web::JsonConfig::default()
                .limit(settings.http.max_body_bytes)
                .error_handler(error::json_error),
        )
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .service(routes::health::healthz)
        .service(routes::health::readyz)
        .service(routes::import_logs::list)
        .service(routes::import_logs::show)
        .service(routes::sources::list)
        .service(routes::sources::create)
        .service(routes::sources::update)
        .service(routes::sources::remove)
        .service(routes::sources::import)
        .service(routes::ws::connect);
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
