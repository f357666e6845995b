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

pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state).await?;
    Ok(HttpResponse::Ok().json(WhoAmI {
        client: &caller.client,
        user: caller.user.as_ref(),
        role: caller.role(),
    }))
}
