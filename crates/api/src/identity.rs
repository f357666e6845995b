//! Who is calling: the client system registered for the presented certificate
//! (by the SHA-256 of the DER certificate), its organisation, and, when a
//! bearer token is presented, the user it was issued to. Every data endpoint
//! starts with [`authenticate`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::{web, HttpMessage, HttpRequest};
use serde::de::DeserializeOwned;

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
    let Some(PeerCertificate {
        der: cert,
        sha256: fp,
    }) = req.conn_data::<PeerCertificate>().cloned()
    else {
        return Err(ApiError::Unauthenticated(
            "a client certificate is required",
        ));
    };
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
    choose_grant(&grants, search)
}

/// [`grant_for`]'s choice among the organisation's unrevoked grants.
pub fn choose_grant(
    grants: &[store::access::Grant],
    search: policy::SearchType,
) -> Result<GrantInForce, ApiError> {
    pick_grant(&parse_grants(grants), search)
}

/// The grants as the policy reads them; a grant that cannot be read is left
/// out, and said so.
fn parse_grants(grants: &[store::access::Grant]) -> Vec<GrantInForce> {
    grants
        .iter()
        .filter_map(|g| {
            to_policy_grant(g)
                .map(|grant| GrantInForce { id: g.id, grant })
                .map_err(|e| tracing::error!(grant = g.id, error = %e, "unreadable grant"))
                .ok()
        })
        .collect()
}

/// Among parsed grants (oldest first): the newest in force that covers
/// `search`, else the newest that covers it, else the newest.
fn pick_grant(
    parsed: &[GrantInForce],
    search: policy::SearchType,
) -> Result<GrantInForce, ApiError> {
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

/// Rows served under the grant so far, read from the metered usage.
pub async fn rows_served(state: &AppState, grant: &GrantInForce) -> Result<i64, ApiError> {
    let pool = state.pool.clone();
    let log = state.log.clone();
    let id = grant.id;
    Ok(web::block(move || -> Result<_, store::StoreError> {
        let mut conn = pool.get()?;
        log.rows_served_under_grant(&mut conn, id)
    })
    .await??)
}

/// Refuse when `rows` more on top of `served` would exceed the grant's quota.
pub fn quota_allows(grant: &GrantInForce, served: i64, rows: u64) -> Result<(), ApiError> {
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

/// An organisation's unrevoked grants and the rows served under each, read
/// together and kept for a moment, so the hot path does not ask the
/// database for them on every request. Rows this process serves are added
/// as their records commit, so sequential requests see an exact quota;
/// what other replicas served shows within [`GrantCache::TTL`]. A revoked
/// grant stops serving within the same time, and at once after SIGHUP.
pub struct GrantCache {
    /// Reads rows served, including those whose records the database has
    /// not yet applied (the access journal's).
    log: metering::writer::LogWriter,
    entries: RwLock<HashMap<i64, Arc<OrgGrants>>>,
    /// Rows served per grant since its organisation's entry was read.
    served_since: RwLock<HashMap<i64, i64>>,
}

/// One organisation's grants (parsed once per read, not per request) and,
/// per grant id, the rows served when read.
pub struct OrgGrants {
    read_at: Instant,
    grants: Vec<GrantInForce>,
    served: HashMap<i64, i64>,
}

impl GrantCache {
    pub const TTL: Duration = Duration::from_secs(1);

    pub fn new(log: metering::writer::LogWriter) -> Self {
        Self {
            log,
            entries: RwLock::new(HashMap::new()),
            served_since: RwLock::new(HashMap::new()),
        }
    }

    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    fn fresh(&self, org_id: i64) -> Option<Arc<OrgGrants>> {
        self.entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&org_id)
            .filter(|e| e.read_at.elapsed() < Self::TTL)
            .cloned()
    }

    /// The organisation's grants and served rows, from the cache or read now
    /// on `conn`.
    fn get(
        &self,
        conn: &mut store::DbConn,
        org_id: i64,
    ) -> Result<Arc<OrgGrants>, store::StoreError> {
        if let Some(e) = self.fresh(org_id) {
            return Ok(e);
        }
        let grants = store::access::active_grants(conn, org_id)?;
        let mut served = HashMap::new();
        {
            // Reset the local counts first: rows committed from here on are
            // counted again locally (at worst twice, never missed).
            let mut since = self
                .served_since
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for g in &grants {
                since.remove(&g.id);
            }
        }
        for g in &grants {
            served.insert(g.id, self.log.rows_served_under_grant(conn, g.id)?);
        }
        let entry = Arc::new(OrgGrants {
            read_at: Instant::now(),
            grants: parse_grants(&grants),
            served,
        });
        let mut map = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(org_id, entry.clone());
        Ok(entry)
    }

    /// Rows served under `grant_id` as far as this process knows.
    fn served(&self, entry: &OrgGrants, grant_id: i64) -> i64 {
        let since = self
            .served_since
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&grant_id)
            .copied()
            .unwrap_or(0);
        entry.served.get(&grant_id).copied().unwrap_or(0) + since
    }

    /// Count rows whose access record has committed.
    pub fn add_served(&self, grant_id: i64, rows: i64) {
        if rows != 0 {
            *self
                .served_since
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(grant_id)
                .or_default() += rows;
        }
    }
}

/// The path every search by CNIC takes: who asks, whether the request is
/// well-formed (`well_formed`: the handler's verdict on the rest of the
/// request, then the CNIC), the grant in force, what the policy allows, and
/// whether the grant's quota has one more row; and the record the handler
/// needs, read by `fetch`. Each step is noted in the access record as it is
/// learned, so a refusal is logged with what was known.
///
/// The database is asked once, on one pooled connection: the organisation's
/// grants and the rows served under them (from the [`GrantCache`] when
/// fresh), and `fetch`'s record: on SQLite on the worker itself when a
/// connection is free, else in one blocking task (one thread hand-off, not
/// three). The record is read before the policy has decided, but nothing of
/// it leaves unless the decision and the quota allow: a refusal says
/// nothing about whether the CNIC exists.
pub async fn authorise_cnic_search<'s, T, F>(
    req: &HttpRequest,
    path: &str,
    well_formed: Result<(), ApiError>,
    state: &'s AppState,
    audit: &mut crate::audit::Audit,
    search: policy::SearchType,
    fetch: F,
) -> Result<(crate::cnic::Cnic, policy::View<'s>, T), ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut store::DbConn, &str) -> Result<T, store::StoreError> + Send + 'static,
{
    let caller = authenticate(req, state).await?;
    audit.caller(&caller);
    well_formed?;
    let cnic = crate::cnic::Cnic::parse(path).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    audit.subject(state, cnic.digits());
    let org_id = caller.client.org.id;
    let digits = cnic.digits().to_owned();
    let cache = state.grants.clone();
    let work = move |conn: &mut store::DbConn| -> Result<_, ApiError> {
        let entry = cache.get(conn, org_id)?;
        let grant = pick_grant(&entry.grants, search)?;
        let served = cache.served(&entry, grant.id);
        let record = fetch(conn, &digits)?;
        Ok((grant, served, record))
    };
    // On SQLite these are index lookups in a local file: a few tens of
    // microseconds of CPU, less than the two thread hand-offs of the
    // blocking pool cost on this kind of machine. They run on the worker
    // when a connection is free at once; otherwise (every connection busy,
    // or PostgreSQL's network round trip) on the blocking pool.
    // docs/architecture.md, "Point reads on the worker".
    let inline = if state.inline_point_reads {
        state.pool.try_get()
    } else {
        None
    };
    let (grant, served, record) = if let Some(mut conn) = inline {
        work(&mut conn)?
    } else {
        let pool = state.pool.clone();
        web::block(move || {
            let mut conn = pool.get().map_err(store::StoreError::from)?;
            work(&mut conn)
        })
        .await??
    };
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
    quota_allows(&grant, served, 1)?;
    Ok((cnic, view, record))
}
