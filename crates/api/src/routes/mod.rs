//! The API's routes, one file per endpoint family. Handlers wire: they
//! authenticate, parse at the edge, ask the policy, query the store, and
//! answer; they decide nothing themselves.

pub mod audit;
pub mod auth;
pub mod billing;
pub mod households;
pub mod pmt;
pub mod pos;
pub mod search;
pub mod whoami;

use actix_web::web;
use utoipa::OpenApi;

/// Register every API route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/pmt/{cnic}", web::get().to(pmt::get))
        .route(
            "/v1/households/by-cnic/{cnic}",
            web::get().to(households::by_cnic),
        )
        .route("/v1/pos/transactions", web::post().to(pos::post))
        .route("/v1/search/households", web::post().to(search::households))
        .route("/v1/exports/complete", web::post().to(search::complete))
        .route("/v1/auth/token", web::post().to(auth::token))
        .route("/v1/audit/access", web::get().to(audit::access))
        .route("/v1/audit/subject/{cnic}", web::get().to(audit::subject))
        .route("/v1/billing/bills", web::get().to(billing::bills))
        .route("/v1/metering/usage", web::get().to(billing::usage))
        .route("/v1/whoami", web::get().to(whoami::get))
        .route("/.well-known/jwks.json", web::get().to(auth::jwks))
        .route("/openapi.json", web::get().to(openapi_json))
        .service(
            utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
                .url("/docs/openapi.json", crate::openapi::ApiDoc::openapi()),
        );
}

async fn openapi_json() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("application/json")
        .body(crate::openapi::document())
}
