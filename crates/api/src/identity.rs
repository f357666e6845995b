//! Who is calling: the client system registered for the presented certificate
//! (by the SHA-256 of the DER certificate), its organisation, and, when a
//! bearer token is presented, the user it was issued to. Every data endpoint
//! starts with [`authenticate`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::{web, HttpMessage, HttpRequest};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::server::{AppState, PeerCertificate};

/// Parse a stored enum value (`"power"`, `"local_ngo"`, ...) into the policy's type.
pub fn parse_enum<T: DeserializeOwned>(s: &str) -> Result<T, String> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(s))
        .map_err(|e| format!("{s:?}: {e}"))
}

/// Machine clients act as their service account; portal clients carry users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    Machine,
    Portal,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct OrgInfo {
    pub id: i64,
    pub name: String,
    pub kind: policy::OrganisationType,
    pub standing: policy::Standing,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ClientInfo {
    pub id: i64,
    pub name: String,
    pub kind: ClientKind,
    pub service_role: policy::Role,
    pub active: bool,
    pub rate_per_second: u32,
    pub burst: u32,
    pub org: OrgInfo,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct UserInfo {
    pub id: i64,
    pub username: String,
    pub full_name: String,
    pub role: policy::Role,
    pub duties: Vec<String>,
    pub district_code: Option<i32>,
    pub tehsil_code: Option<i32>,
}

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub client: Arc<ClientInfo>,
    pub user: Option<UserInfo>,
    pub cert: Arc<Vec<u8>>,
}

impl Authenticated {
    /// The user's role, or the client's service role when no user is signed in.
    pub fn role(&self) -> policy::Role {
        self.user
            .as_ref()
            .map_or(self.client.service_role, |u| u.role)
    }

    /// The caller as the policy sees it, for a data endpoint; pseudonyms and
    /// samples are keyed by the client system. A portal client is only ever a
    /// conduit for its users: without a signed-in user it may not see data.
    pub fn policy_caller(&self) -> Result<policy::Caller, ApiError> {
        if self.client.kind == ClientKind::Portal && self.user.is_none() {
            return Err(ApiError::Unauthenticated(
                "sign in: data through a portal client needs a user token",
            ));
        }
        Ok(policy::Caller {
            role: self.role(),
            organisation: policy::Organisation {
                kind: self.client.org.kind,
                standing: self.client.org.standing,
            },
            client_id: self.client.name.clone(),
        })
    }
}

fn client_info(
    c: store::access::ClientSystem,
    o: store::access::Organisation,
) -> Result<ClientInfo, String> {
    Ok(ClientInfo {
        id: c.id,
        kind: match c.kind.as_str() {
            "machine" => ClientKind::Machine,
            "portal" => ClientKind::Portal,
            other => return Err(format!("unknown client kind {other:?}")),
        },
        service_role: parse_enum(&c.service_role)?,
        active: c.status == "active",
        rate_per_second: u32::try_from(c.rate_per_second).unwrap_or(1),
        burst: u32::try_from(c.burst).unwrap_or(1),
        name: c.name,
        org: OrgInfo {
            id: o.id,
            kind: parse_enum(&o.org_type)?,
            standing: parse_enum(&o.standing)?,
            name: o.name,
        },
    })
}

/// Registered clients by certificate fingerprint, kept for a few seconds so
/// the hot path does not ask the database every time; a disabled client is
/// refused within that time, and at once after SIGHUP.
/// When an entry was read, and the client it names (`None`: not registered).
type CacheEntry = (Instant, Option<Arc<ClientInfo>>);

pub struct ClientCache {
    entries: RwLock<HashMap<[u8; 32], CacheEntry>>,
    ttl: Duration,
}

impl ClientCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            ttl,
        }
    }

    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// `None` on a miss; `Some(None)` when the certificate is known to be unregistered.
    #[allow(
        clippy::option_option,
        reason = "a cache miss differs from a cached 'not registered'"
    )]
    fn get(&self, fp: &[u8; 32]) -> Option<Option<Arc<ClientInfo>>> {
        let map = self
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(fp)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, c)| c.clone())
    }

    fn put(&self, fp: [u8; 32], client: Option<Arc<ClientInfo>>) {
        let mut map = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 100_000 {
            map.clear();
        }
        map.insert(fp, (Instant::now(), client));
    }
}

/// Identify the caller: certificate -> registered, active client system of an
/// active organisation -> rate limit -> optional bearer token bound to this
/// certificate -> active user of the same organisation.
pub async fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Authenticated, ApiError> {
    let Some(PeerCertificate(cert)) = req.conn_data::<PeerCertificate>().cloned() else {
        return Err(ApiError::Unauthenticated(
            "a client certificate is required",
        ));
    };
    let fp: [u8; 32] = Sha256::digest(cert.as_slice()).into();
    let client = if let Some(cached) = state.clients.get(&fp) {
        cached
    } else {
        let pool = state.pool.clone();
        let hex_fp = hex::encode(fp);
        let found = web::block(move || -> Result<_, store::StoreError> {
            let mut conn = pool.get()?;
            store::access::client_by_fingerprint(&mut conn, &hex_fp)
        })
        .await??;
        let info = found.and_then(|(c, o)| {
            client_info(c, o)
                .map_err(|e| tracing::error!(error = %e, "client registration unreadable"))
                .ok()
                .map(Arc::new)
        });
        state.clients.put(fp, info.clone());
        info
    };
    let Some(client) = client else {
        tracing::warn!(fingerprint = %hex::encode(fp), "refused: certificate not registered to any client system");
        return Err(ApiError::forbidden(
            "client-not-registered",
            "this certificate is not registered to a client system",
        ));
    };
    if !client.active {
        tracing::warn!(client = %client.name, "refused: client system disabled");
        return Err(ApiError::forbidden(
            "client-disabled",
            "this client system is disabled",
        ));
    }
    if client.org.standing != policy::Standing::Active {
        tracing::warn!(client = %client.name, "refused: organisation suspended");
        return Err(ApiError::forbidden(
            "organisation-suspended",
            "the organisation is suspended",
        ));
    }
    let rate = state
        .rate_limits
        .check(client.id, client.rate_per_second, client.burst);
    req.extensions_mut().insert(rate);
    if let Some(secs) = rate.retry_after {
        return Err(ApiError::RateLimited(secs));
    }
    let user = match bearer(req)? {
        None => None,
        Some(token) => Some(user_for_token(state, &client, token, &cert).await?),
    };
    Ok(Authenticated { client, user, cert })
}

fn bearer(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    let Some(h) = req.headers().get(actix_web::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let h = h
        .to_str()
        .map_err(|_| ApiError::Unauthenticated("unreadable Authorization header"))?;
    match h.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(ApiError::Unauthenticated(
            "expected Authorization: Bearer <token>",
        )),
    }
}

async fn user_for_token(
    state: &AppState,
    client: &ClientInfo,
    token: &str,
    cert: &[u8],
) -> Result<UserInfo, ApiError> {
    let claims = state.tokens.verify(token, cert).map_err(|e| {
        tracing::warn!(client = %client.name, reason = %e, "refused token");
        ApiError::Unauthenticated("invalid, expired or foreign token")
    })?;
    let id: i64 = claims
        .sub
        .parse()
        .map_err(|_| ApiError::Unauthenticated("invalid token subject"))?;
    let pool = state.pool.clone();
    let user = web::block(move || -> Result<_, store::StoreError> {
        let mut conn = pool.get()?;
        store::access::user(&mut conn, id)
    })
    .await??;
    let user = user.filter(|u| u.status == "active" && u.organisation_id == client.org.id).ok_or_else(|| {
        tracing::warn!(client = %client.name, user_id = id, "refused token: user disabled or of another organisation");
        ApiError::Unauthenticated("invalid, expired or foreign token")
    })?;
    Ok(UserInfo {
        id: user.id,
        role: parse_enum(&user.role).map_err(|_| ApiError::Unavailable)?,
        duties: user
            .duties
            .split(',')
            .filter(|d| !d.is_empty())
            .map(str::to_owned)
            .collect(),
        username: user.username,
        full_name: user.full_name,
        district_code: user.district_code,
        tehsil_code: user.tehsil_code,
    })
}

/// A grant as stored (its id, for the access log and quotas) and as the policy reads it.
#[derive(Debug, Clone)]
pub struct GrantInForce {
    pub id: i64,
    pub grant: policy::Grant,
}

/// The grant in force for the caller's organisation that covers `search`:
/// among the organisation's unrevoked grants, the newest that covers the
/// search type, else the newest at all (so the policy can say what is wrong).
pub async fn grant_for(
    state: &AppState,
    org_id: i64,
    search: policy::SearchType,
) -> Result<GrantInForce, ApiError> {
    let pool = state.pool.clone();
    let grants = web::block(move || -> Result<_, store::StoreError> {
        let mut conn = pool.get()?;
        store::access::active_grants(&mut conn, org_id)
    })
    .await??;
    let parsed: Vec<GrantInForce> = grants
        .iter()
        .filter_map(|g| {
            to_policy_grant(g)
                .map(|grant| GrantInForce { id: g.id, grant })
                .map_err(|e| tracing::error!(grant = g.id, error = %e, "unreadable grant"))
                .ok()
        })
        .collect();
    let today = chrono::Utc::now().date_naive();
    let in_force = |g: &&GrantInForce| g.grant.valid_from <= today && today <= g.grant.valid_to;
    let covers = |g: &&GrantInForce| g.grant.search_types.contains(&search);
    parsed
        .iter()
        .rev()
        .find(|g| in_force(g) && covers(g))
        .or_else(|| parsed.iter().rev().find(covers))
        .or_else(|| parsed.last())
        .cloned()
        .ok_or_else(|| {
            ApiError::forbidden("no-grant", "the organisation has no data-sharing grant")
        })
}

/// Refuse when serving `rows` more would exceed the grant's row quota
/// (rows served under the grant so far come from the metered usage).
pub async fn check_quota(
    state: &AppState,
    grant: &GrantInForce,
    rows: u64,
) -> Result<(), ApiError> {
    let pool = state.pool.clone();
    let id = grant.id;
    let served = web::block(move || -> Result<_, store::StoreError> {
        let mut conn = pool.get()?;
        store::audit::rows_served_under_grant(&mut conn, id)
    })
    .await??;
    let quota = grant.grant.row_quota;
    let remaining = quota.saturating_sub(u64::try_from(served).unwrap_or(0));
    if rows > remaining {
        return Err(ApiError::forbidden(
            "quota-exhausted",
            format!("the grant's row quota is {quota} rows; {remaining} remain and this request needs {rows}"),
        ));
    }
    Ok(())
}

/// A stored grant in the policy's terms.
pub fn to_policy_grant(g: &store::access::Grant) -> Result<policy::Grant, String> {
    fn list<T: DeserializeOwned>(s: &str) -> Result<Vec<T>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(parse_enum)
            .collect()
    }
    Ok(policy::Grant {
        search_types: list(&g.search_types)?,
        classes: list(&g.classes)?,
        purpose: g.purpose.clone(),
        row_quota: u64::try_from(g.row_quota).unwrap_or(0),
        valid_from: g.valid_from,
        valid_to: g.valid_to,
        approved_by: parse_enum(&g.approved_by)?,
    })
}

/// The path every search by CNIC takes before it touches the registry:
/// who asks, whether the request is well-formed (`well_formed`: the handler's
/// verdict on the rest of the request, then the CNIC), the grant in force,
/// what the policy allows, and whether the grant's quota has one more row.
/// Each step is noted in the access record as it is learned, so a refusal is
/// logged with what was known.
pub async fn authorise_cnic_search<'s>(
    req: &HttpRequest,
    path: &str,
    well_formed: Result<(), ApiError>,
    state: &'s AppState,
    audit: &mut crate::audit::Audit,
    search: policy::SearchType,
) -> Result<(crate::cnic::Cnic, policy::View<'s>), ApiError> {
    let caller = authenticate(req, state).await?;
    audit.caller(&caller);
    well_formed?;
    let cnic = crate::cnic::Cnic::parse(path).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    audit.subject(state, cnic.digits());
    let grant = grant_for(state, caller.client.org.id, search).await?;
    audit.grant(&grant);
    let request = policy::Request {
        caller: caller.policy_caller()?,
        search_type: search,
        grant: grant.grant.clone(),
    };
    audit.policy_shape(state, &request);
    let view = state
        .policy
        .decide(&request, chrono::Utc::now().date_naive())?;
    // Checked before the lookup, so an exhausted quota says nothing about existence.
    check_quota(state, &grant, 1).await?;
    Ok((cnic, view))
}
