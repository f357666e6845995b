//! The OpenAPI 3.1 document, generated from the handlers' annotations. The
//! committed copy in `openapi/nser-gateway.json` must equal it (a test checks).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "nser-gateway",
        description = "The data-sharing gateway of the National Socio-Economic Registry (BISP). \
            Every call is over mutual TLS with a registered client certificate; users of partner \
            agencies add a bearer token bound to that certificate. Errors are RFC 9457 problem+json.",
        license(name = "Apache-2.0")
    ),
    paths(
        crate::routes::pmt::get,
        crate::routes::pos::post,
        crate::routes::households::by_cnic,
        crate::routes::search::households,
        crate::routes::search::complete,
        crate::routes::auth::token,
        crate::routes::auth::jwks,
        crate::routes::whoami::get,
        crate::routes::audit::access,
        crate::routes::audit::subject,
        crate::routes::billing::bills,
        crate::routes::billing::usage,
    ),
    components(schemas(crate::error::Problem)),
    modifiers(&Security),
    tags(
        (name = "tills", description = "USC point-of-sale systems"),
        (name = "agencies", description = "Partner agencies and their users"),
        (name = "all clients", description = "Any registered client system"),
        (name = "oversight", description = "BISP oversight of the access log"),
        (name = "finance", description = "BISP finance: bills per the rate card"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "mtls",
            SecurityScheme::MutualTls {
                description: Some("A client certificate registered to a client system".into()),
                extensions: None,
            },
        );
    }
}

/// The document as committed: pretty JSON with a final newline.
pub fn document() -> String {
    let mut json = ApiDoc::openapi().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_committed_document_matches_the_code() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../openapi/nser-gateway.json"
        );
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == super::document(),
            "openapi/nser-gateway.json is stale: run `cargo run -- openapi > openapi/nser-gateway.json`"
        );
    }
}
