//! `GET /v1/whoami`: who the gateway takes the caller to be — the client
//! system its certificate is registered to, the organisation, and the user
//! when a token is presented — so integrators can check their set-up.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::error::ApiError;
use crate::identity::{authenticate, ClientInfo, UserInfo};
use crate::server::AppState;

#[derive(Serialize)]
struct WhoAmI<'a> {
    client: &'a ClientInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a UserInfo>,
    role: policy::Role,
}

#[utoipa::path(
    get,
    path = "/v1/whoami",
    tag = "all clients",
    responses(
        (status = 200, description = "The client system, organisation, user and role the gateway sees", body = Object),
        (status = 401, description = "Invalid token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Certificate not registered or client disabled", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state).await?;
    Ok(HttpResponse::Ok().json(WhoAmI {
        client: &caller.client,
        user: caller.user.as_ref(),
        role: caller.role(),
    }))
}
