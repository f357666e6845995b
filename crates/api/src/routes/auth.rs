//! `POST /v1/auth/token`: a user of a partner agency signs in over their
//! organisation's mutual-TLS connection and receives a short-lived token bound
//! to that certificate. `GET /.well-known/jwks.json`: the public keys.

use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::auth::{hash_password, verify_password};
use crate::error::ApiError;
use crate::identity::{authenticate, ClientKind};
use crate::server::AppState;

/// A user's credentials.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub username: String,
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// A short-lived token bound to the client certificate of the connection.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

const BAD_LOGIN: &str = "unknown user, wrong password, or account locked";

/// A hash to verify against when the user does not exist, so a wrong
/// username takes as long as a wrong password.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("not a password anyone has").unwrap_or_default())
}

#[utoipa::path(
    post,
    path = "/v1/auth/token",
    tag = "agencies",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "A bearer token bound to this connection's certificate (RFC 8705)", body = TokenResponse),
        (status = 401, description = "Unknown user, wrong password, or account locked", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a portal client", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn token(
    req: HttpRequest,
    body: web::Json<TokenRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state).await?;
    if caller.client.kind != ClientKind::Portal || caller.user.is_some() {
        return Err(ApiError::forbidden(
            "not-a-portal",
            "users sign in through their organisation's portal client",
        ));
    }
    let TokenRequest { username, password } = body.into_inner();
    if username.is_empty() || username.len() > 128 || password.expose_secret().len() > 1024 {
        return Err(ApiError::Unauthenticated(BAD_LOGIN));
    }
    let pool = state.pool.clone();
    let org_id = caller.client.org.id;
    let auth = state.auth.clone();
    let user_id = web::block(move || -> Result<Option<i64>, store::StoreError> {
        let mut conn = pool.get()?;
        let user = store::access::user_by_name(&mut conn, &username)?;
        let hash = user
            .as_ref()
            .map_or(dummy_hash(), |u| u.password_hash.as_str());
        let password_ok = verify_password(password.expose_secret(), hash);
        let Some(user) = user else {
            tracing::warn!("login refused: unknown user");
            return Ok(None);
        };
        let now = chrono::Utc::now().naive_utc();
        if user.locked_until.is_some_and(|t| t > now) {
            tracing::warn!(user_id = user.id, "login refused: account locked");
            return Ok(None);
        }
        if !password_ok {
            let until = now + chrono::Duration::minutes(auth.lockout_minutes);
            store::access::record_login_failure(&mut conn, user.id, auth.max_failed_logins, until)?;
            tracing::warn!(user_id = user.id, "login refused: wrong password");
            return Ok(None);
        }
        if user.status != "active" || user.organisation_id != org_id {
            tracing::warn!(
                user_id = user.id,
                "login refused: user disabled or of another organisation"
            );
            return Ok(None);
        }
        store::access::record_login_success(&mut conn, user.id)?;
        Ok(Some(user.id))
    })
    .await??
    .ok_or(ApiError::Unauthenticated(BAD_LOGIN))?;
    let access_token = state.tokens.issue(user_id, &caller.cert).map_err(|e| {
        tracing::error!(error = %e, "cannot sign token");
        ApiError::Unavailable
    })?;
    tracing::info!(user_id, client = %caller.client.name, "token issued");
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: state.tokens.ttl_seconds(),
        }))
}

#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "agencies",
    responses((status = 200, description = "The public keys tokens are signed with (JWK Set)", body = Object))
)]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(state.tokens.jwks())
}
