//! Wiring: the mutual-TLS API listener and the plain-HTTP admin listener.

use std::any::Any;
use std::sync::Arc;

use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::dev::{Extensions, Service};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::rt::net::TcpStream;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde::Serialize;
use tracing::Instrument;

use crate::config::Config;
use crate::error::{problem, ApiError};
use crate::tls;

/// What handlers share.
pub struct AppState {
    pub pool: store::Pool,
}

/// The client certificate presented on this connection (DER), set once per
/// TLS connection and read by handlers.
#[derive(Clone)]
pub struct PeerCertificate(pub Arc<Vec<u8>>);

tokio::task_local! {
    /// The id of the request being served, for problem+json bodies and logs.
    pub static REQUEST_ID: String;
}

fn on_connect(conn: &dyn Any, ext: &mut Extensions) {
    if let Some(tls) = conn.downcast_ref::<TlsStream<TcpStream>>() {
        let (_, session) = tls.get_ref();
        if let Some(cert) = session.peer_certificates().and_then(<[_]>::first) {
            ext.insert(PeerCertificate(Arc::new(cert.to_vec())));
        }
    }
}

/// Start both listeners and serve until stopped. Prints the bound addresses
/// on standard output (tests read them when binding port 0).
pub async fn run(config: Config) -> anyhow::Result<()> {
    let url = store::DatabaseUrl::parse(&config.database.url)?;
    let pool = {
        let url = url.clone();
        let size = config.database.pool_size;
        web::block(move || -> anyhow::Result<store::Pool> {
            let pool = store::pool(&url, size)?;
            let mut conn = pool.get()?;
            let applied = store::migrate::run(&mut conn)?;
            if !applied.is_empty() {
                tracing::info!(?applied, "migrations applied");
            }
            Ok(pool)
        })
        .await??
    };
    let state = web::Data::new(AppState { pool });
    let tls_config = tls::server_config(&config.tls)?;
    let body_limit = config.server.max_body_bytes;

    let api_state = state.clone();
    let mut api = HttpServer::new(move || {
        App::new()
            .app_data(api_state.clone())
            .app_data(web::PayloadConfig::new(body_limit))
            .app_data(web::JsonConfig::default().limit(body_limit))
            .wrap_fn(|req, srv| {
                let id = uuid::Uuid::new_v4().to_string();
                let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.path());
                let fut = REQUEST_ID.scope(id.clone(), srv.call(req));
                async move {
                    let mut res = fut.await?;
                    if let Ok(v) = HeaderValue::from_str(&id) {
                        res.headers_mut().insert(HeaderName::from_static("x-request-id"), v);
                    }
                    tracing::info!(status = res.status().as_u16(), "served");
                    Ok(res)
                }
                .instrument(span)
            })
            .route("/v1/status", web::get().to(status))
            .default_service(web::to(not_found))
    })
    .on_connect(on_connect)
    .bind_rustls_0_23(config.server.listen, tls_config)
    .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.server.listen))?;
    if config.server.workers > 0 {
        api = api.workers(config.server.workers);
    }
    let api_addrs = api.addrs();

    let admin_state = state.clone();
    let admin = HttpServer::new(move || {
        App::new()
            .app_data(admin_state.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .default_service(web::to(not_found))
    })
    .workers(1)
    .bind(config.server.admin_listen)
    .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.server.admin_listen))?;
    let admin_addrs = admin.addrs();

    for a in &api_addrs {
        println!("nser-gateway listening on https://{a}");
    }
    for a in &admin_addrs {
        println!("nser-gateway admin on http://{a}");
    }
    tracing::info!(api = ?api_addrs, admin = ?admin_addrs, "listening");
    let (api_result, admin_result) = futures_util::future::join(api.run(), admin.run()).await;
    api_result?;
    admin_result?;
    Ok(())
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

#[derive(Serialize)]
struct Status {
    households: i64,
    client_subject: Option<String>,
}

/// What the gateway serves and who it thinks is calling: the client
/// certificate's subject. (Identity checks against registered clients come
/// with the front door.)
async fn status(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let client_subject = req
        .conn_data::<PeerCertificate>()
        .and_then(|c| tls::subject_of(&c.0));
    let pool = state.pool.clone();
    let households = web::block(move || -> Result<i64, store::StoreError> {
        let mut conn = pool.get()?;
        store::registry::household_count(&mut conn)
    })
    .await
    .map_err(|_| ApiError::Unavailable)??;
    Ok(HttpResponse::Ok().json(Status {
        households,
        client_subject,
    }))
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Ready when the database answers and every migration is applied.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.pool.clone();
    let pending = web::block(move || -> Result<usize, store::StoreError> {
        let mut conn = pool.get()?;
        store::migrate::pending(&mut conn)
    })
    .await;
    match pending {
        Ok(Ok(0)) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Ok(Ok(n)) => problem(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Not ready",
            format!("{n} migrations are pending"),
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            problem(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "not-ready",
                "Not ready",
                "the database is unreachable".into(),
            )
        }
        Err(_) => problem(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Not ready",
            "readiness check failed".into(),
        ),
    }
}
