//! Wiring: the mutual-TLS API listener and the plain-HTTP admin listener,
//! the state handlers share, and SIGHUP reloads.

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::dev::{Extensions, Service};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::rt::net::TcpStream;
use actix_web::{web, App, HttpMessage, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::auth::Tokens;
use crate::config::{Auth, Config, Programme};
use crate::error::{problem, ApiError};
use crate::identity::ClientCache;
use crate::ratelimit::{RateLimits, RateState};
use crate::tls;

/// What handlers share.
pub struct AppState {
    pub pool: store::Pool,
    /// Whether the CNIC searches' point reads may run on the worker thread
    /// (SQLite: a local file), see `identity::authorise_cnic_search`.
    pub inline_point_reads: bool,
    pub policy: policy::Policy,
    pub tokens: Tokens,
    pub clients: ClientCache,
    /// Grants and rows served under them, per organisation, for a moment.
    pub grants: Arc<crate::identity::GrantCache>,
    pub rate_limits: RateLimits,
    pub programmes: Vec<Programme>,
    pub auth: Arc<Auth>,
    /// Commits access records; a request is answered only after its record is.
    pub log: metering::writer::LogWriter,
    /// Keys the hash under which searched CNICs are logged.
    pub subject_key: Vec<u8>,
    /// Signs and opens list-search cursors.
    pub cursors: crate::search::Cursors,
    /// The rate card open periods are billed by (loaded once at start).
    pub rates: Arc<metering::rates::RateCard>,
}

/// The client certificate presented on this connection, set once per TLS
/// connection and read by handlers.
#[derive(Clone)]
pub struct PeerCertificate {
    /// DER.
    pub der: Arc<Vec<u8>>,
    /// SHA-256 of the DER: the fingerprint clients are registered under,
    /// hashed once a connection rather than once a request (a few hundred
    /// bytes hashed on every till lookup before).
    pub sha256: [u8; 32],
}

tokio::task_local! {
    /// The id of the request being served, for problem+json bodies and logs.
    pub static REQUEST_ID: String;
}

/// A fresh request id: a random (version 4) UUID drawn from a generator
/// per worker thread, seeded once from the operating system, rather than a
/// `getrandom` system call on every request (one per answer on the till's
/// hot path). The id must be unique, not secret; the generator is a CSPRNG
/// all the same.
fn request_id() -> String {
    use rand::{Rng, SeedableRng};
    thread_local! {
        static RNG: std::cell::RefCell<rand::rngs::StdRng> =
            std::cell::RefCell::new(rand::rngs::StdRng::from_entropy());
    }
    let bytes: [u8; 16] = RNG.with(|r| r.borrow_mut().gen());
    let mut buf = uuid::Uuid::encode_buffer();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .encode_lower(&mut buf)
        .to_owned()
}

fn on_connect(conn: &dyn Any, ext: &mut Extensions) {
    if let Some(tls) = conn.downcast_ref::<TlsStream<TcpStream>>() {
        let (_, session) = tls.get_ref();
        if let Some(cert) = session.peer_certificates().and_then(<[_]>::first) {
            ext.insert(PeerCertificate {
                der: Arc::new(cert.to_vec()),
                sha256: Sha256::digest(cert.as_ref()).into(),
            });
        }
    }
}

/// The catalogue and pseudonym key, checked against the store's fields;
/// also returns the key access-log subject hashes are made with.
pub fn load_policy(config: &Config) -> anyhow::Result<(policy::Policy, Vec<u8>)> {
    let text = match &config.policy.catalogue {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read catalogue {}", path.display()))?,
        None => include_str!("../../policy/catalogue.toml").to_owned(),
    };
    let catalogue = policy::Catalogue::from_toml(&text, &store::registry_fields())
        .map_err(|e| anyhow::anyhow!("policy catalogue: {e}"))?;
    let key_path = &config.policy.pseudonym_key;
    let key_hex = std::fs::read_to_string(key_path).with_context(|| {
        format!(
            "cannot read pseudonym key {} (nser-gateway pki init makes one)",
            key_path.display()
        )
    })?;
    let key =
        hex::decode(key_hex.trim()).with_context(|| format!("{}: not hex", key_path.display()))?;
    let pseudonymiser = policy::Pseudonymiser::new(&key)
        .map_err(|e| anyhow::anyhow!("{}: {e}", key_path.display()))?;
    // A separate key for access-log subjects, derived so the two uses never share one.
    let subject_key = crate::audit::subject_hash(&key, "access-log-subject-key").into_bytes();
    Ok((policy::Policy::new(catalogue, pseudonymiser), subject_key))
}

/// Start both listeners and serve until stopped. Prints the bound addresses
/// on standard output (tests read them when binding port 0).
#[allow(clippy::too_many_lines, reason = "one linear start-up sequence")]
pub async fn run(config: Config) -> anyhow::Result<()> {
    let url = store::DatabaseUrl::parse(&config.database.url)?;
    let pool = {
        let url = url.clone();
        let size = config.database.pool_size;
        web::block(move || -> anyhow::Result<store::Pool> {
            // Migrations first, on a connection of their own: on SQLite
            // they may move the access log into its own file, which only
            // connections opened afterwards attach (store::logfile).
            let applied = store::migrate::run(&mut url.connect()?)?;
            if !applied.is_empty() {
                tracing::info!(?applied, "migrations applied");
            }
            Ok(store::pool(&url, size)?)
        })
        .await??
    };
    let (policy, subject_key) = load_policy(&config)?;
    let log = metering::writer::LogWriter::start(url.clone(), config.log.writer())
        .context("cannot start the access-log writer")?;
    let state = web::Data::new(AppState {
        pool,
        inline_point_reads: matches!(url, store::DatabaseUrl::Sqlite(_)),
        policy,
        cursors: crate::search::Cursors::new(&subject_key),
        subject_key,
        grants: Arc::new(crate::identity::GrantCache::new(log.clone())),
        log,
        tokens: Tokens::load(&config.auth.signing_key, config.auth.token_ttl_seconds)?,
        clients: ClientCache::new(Duration::from_secs(2)),
        rate_limits: RateLimits::default(),
        programmes: config.programmes.clone(),
        auth: Arc::new(config.auth.clone()),
        rates: Arc::new(crate::bills::load_rate_card(&config.billing.rates)?),
    });
    let material = tls::Material::load(&config.tls)?;
    let tls_config = material.server_config()?;
    spawn_reloader(config.tls.clone(), Arc::clone(&material), state.clone());
    let body_limit = config.server.max_body_bytes;

    let api_state = state.clone();
    let mut api = HttpServer::new(move || {
        App::new()
            .app_data(api_state.clone())
            .app_data(web::PayloadConfig::new(body_limit))
            .app_data(
                web::JsonConfig::default()
                    .limit(body_limit)
                    .error_handler(crate::error::json_error),
            )
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|e, _| ApiError::BadRequest(format!("query: {e}")).into()),
            )
            .app_data(
                web::PathConfig::default()
                    .error_handler(|e, _| ApiError::BadRequest(format!("path: {e}")).into()),
            )
            .wrap_fn(|req, srv| {
                // The request id is the task's, for everything logged while
                // it is served (crate::logfmt), the problem+json bodies and
                // the access record; no span (docs/performance.md, stop 22).
                let started = Instant::now();
                let fut = srv.call(req);
                REQUEST_ID.scope(request_id(), async move {
                    let mut res = fut.await?;
                    let rate = res.request().extensions().get::<RateState>().copied();
                    let id = REQUEST_ID.with(|id| HeaderValue::from_str(id));
                    let headers = res.headers_mut();
                    if let Ok(v) = id {
                        headers.insert(HeaderName::from_static("x-request-id"), v);
                    }
                    if let Some(rate) = rate {
                        for (name, value) in [
                            ("ratelimit-policy", rate.policy_header()),
                            ("ratelimit", rate.limit_header()),
                        ] {
                            if let Ok(v) = HeaderValue::from_str(&value) {
                                headers.insert(HeaderName::from_static(name), v);
                            }
                        }
                    }
                    // The route's pattern, never the path as requested: a
                    // path holds a CNIC. Evaluated only when `info` is on.
                    tracing::info!(
                        method = %res.request().method(),
                        path = %res.request().match_pattern().as_deref().unwrap_or("-"),
                        status = res.status().as_u16(),
                        micros = started.elapsed().as_micros(),
                        "served"
                    );
                    Ok(res)
                })
            })
            .configure(crate::routes::configure)
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
            .route("/log/flush", web::post().to(log_flush))
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

/// On SIGHUP: reload certificates, CA and CRL, and forget cached client
/// registrations, without dropping a connection.
fn spawn_reloader(
    tls: crate::config::Tls,
    material: Arc<tls::Material>,
    state: web::Data<AppState>,
) {
    actix_web::rt::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP; certificate reload disabled");
            return;
        };
        while hup.recv().await.is_some() {
            match material.reload(&tls) {
                Ok(()) => tracing::info!("TLS material reloaded"),
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "TLS reload failed; keeping the material in force");
                }
            }
            state.clients.clear();
            state.grants.clear();
        }
    });
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NoRoute)
}

#[derive(Serialize)]
struct Status {
    households: i64,
    client_subject: Option<String>,
}

/// What the gateway serves and the subject of the certificate presented.
async fn status(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let client_subject = req
        .conn_data::<PeerCertificate>()
        .and_then(|c| tls::subject_of(&c.der));
    let pool = state.pool.clone();
    let households = web::block(move || -> Result<i64, store::StoreError> {
        let mut conn = pool.get()?;
        store::registry::household_count(&mut conn)
    })
    .await??;
    Ok(HttpResponse::Ok().json(Status {
        households,
        client_subject,
    }))
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Wait until the log's database holds every access record answered so
/// far (the access journal applied): for operators and tests about to read
/// the database directly.
async fn log_flush(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    crate::audit::settled(&state).await?;
    let body = match state.log.journal_status() {
        Some((journaled, applied, failing)) => serde_json::json!({
            "journal": true, "journaled_batch": journaled, "applied_batch": applied, "failing": failing,
        }),
        None => serde_json::json!({ "journal": false }),
    };
    Ok(HttpResponse::Ok().json(body))
}

/// Ready when the database answers, every migration is applied and (with
/// the access journal) the log's database is applying it.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.pool.clone();
    let pending = web::block(move || -> Result<usize, store::StoreError> {
        let mut conn = pool.get()?;
        store::migrate::pending(&mut conn)
    })
    .await;
    let not_ready = |detail: &str| {
        problem(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            "Not ready",
            detail.to_owned(),
        )
    };
    if let Some((_, _, true)) = state.log.journal_status() {
        return not_ready("the access log's database is not applying the journal");
    }
    match pending {
        Ok(Ok(0)) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Ok(Ok(n)) => not_ready(&format!("{n} migrations are pending")),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            not_ready("the database is unreachable")
        }
        Err(_) => not_ready("readiness check failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::request_id;

    #[test]
    fn request_ids_are_distinct_version_4_uuids_on_every_thread() {
        let mut seen = std::collections::HashSet::new();
        let others: Vec<Vec<String>> = (0..2)
            .map(|_| std::thread::spawn(|| (0..1_000).map(|_| request_id()).collect()))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect();
        for id in (0..1_000)
            .map(|_| request_id())
            .chain(others.into_iter().flatten())
        {
            let uuid = uuid::Uuid::parse_str(&id).expect("a UUID");
            assert_eq!(uuid.get_version_num(), 4, "{id}");
            assert_eq!(id, uuid.hyphenated().to_string(), "lower-case hyphenated");
            assert!(seen.insert(id), "request ids repeat");
        }
        assert_eq!(seen.len(), 3_000);
    }
}
