//! The access record of one request to a data endpoint. A handler fills an
//! [`Audit`] as it learns who asked, for what, under which grant, and how
//! many rows it is about to return; [`Audit::finish`] commits the record and
//! only then lets the answer (or the refusal) leave. If the record cannot be
//! committed, the client gets 503 and nothing else.

use actix_web::{HttpRequest, HttpResponse, ResponseError};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::ApiError;
use crate::identity::{Authenticated, GrantInForce};
use crate::server::{AppState, REQUEST_ID};

/// For commands that read the log (`audit verify`, `bills`): apply what a
/// stopped gateway's access journal holds and the database lacks. A
/// running gateway holds the journal and applies it itself, within
/// milliseconds of each answer; then this does nothing.
pub fn replay_journal(url: &store::DatabaseUrl) -> anyhow::Result<()> {
    if let metering::writer::Replay::Applied(n @ 1..) = metering::writer::replay(url)? {
        eprintln!("applied {n} batches of access records from the journal");
    }
    Ok(())
}

/// How long a reader of the log waits for its database to catch up with
/// the access journal before answering 503.
const SETTLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Wait until the log's database holds every record answered so far (the
/// access journal applied), so that a read of the log, of usage or of a
/// bill sees them all.
pub async fn settled(state: &AppState) -> Result<(), ApiError> {
    match actix_web::rt::time::timeout(SETTLE_TIMEOUT, state.log.flush()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "the access log's database cannot be brought up to date");
            Err(ApiError::Unavailable)
        }
        Err(_) => {
            tracing::error!("the access log's database has not caught up with the journal");
            Err(ApiError::Unavailable)
        }
    }
}

/// The keyed hash under which a CNIC is logged: the same for every client
/// (so a subject's accesses can be found), useless without the server secret.
pub fn subject_hash(key: &[u8], cnic_digits: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable_mac());
    mac.update(b"nser-access-subject|");
    mac.update(cnic_digits.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[allow(
    clippy::panic,
    reason = "HMAC accepts keys of any length; this cannot happen"
)]
pub(crate) fn unreachable_mac() -> Hmac<Sha256> {
    panic!("HMAC key rejected")
}

/// What the handler learned, for the record.
#[derive(Clone)]
pub struct Audit {
    search_type: &'static str,
    endpoint: &'static str,
    caller: Option<Authenticated>,
    parameters: serde_json::Map<String, serde_json::Value>,
    subject_hash: Option<String>,
    grant: Option<(i64, String)>,
    policy_shape: String,
    rows: i64,
    /// Read when the record is begun: a streamed answer's later records are
    /// written outside the request's task.
    request_id: String,
}

impl Audit {
    pub fn new(search_type: &'static str, endpoint: &'static str) -> Self {
        Self {
            search_type,
            endpoint,
            caller: None,
            parameters: serde_json::Map::new(),
            subject_hash: None,
            grant: None,
            policy_shape: String::new(),
            rows: 0,
            request_id: REQUEST_ID.try_with(Clone::clone).unwrap_or_default(),
        }
    }

    /// The search type, once the request says which it is.
    pub fn search_type(&mut self, search_type: &'static str) {
        self.search_type = search_type;
    }

    pub fn caller(&mut self, caller: &Authenticated) {
        self.caller = Some(caller.clone());
    }

    /// The searched CNIC, kept only as its keyed hash.
    pub fn subject(&mut self, state: &AppState, cnic_digits: &str) {
        let h = subject_hash(&state.subject_key, cnic_digits);
        self.parameters.insert(
            "cnic".into(),
            serde_json::Value::String(format!("hmac:{h}")),
        );
        self.subject_hash = Some(h);
    }

    pub fn parameter(&mut self, name: &str, value: serde_json::Value) {
        self.parameters.insert(name.into(), value);
    }

    pub fn grant(&mut self, grant: &GrantInForce) {
        self.grant = Some((grant.id, grant.grant.purpose.clone()));
    }

    /// The decision's inputs, which determine exactly which fields were
    /// withheld or masked (the policy is pure and the catalogue versioned):
    /// `catalogue version / role / search type / organisation type / classes`.
    pub fn policy_shape(&mut self, state: &AppState, request: &policy::Request) {
        let classes: Vec<&str> = request.grant.classes.iter().map(|c| c.name()).collect();
        self.policy_shape = format!(
            "{}/{}/{}/{}/{}",
            state.policy.catalogue().version(),
            request.caller.role.name(),
            request.search_type.name(),
            request.caller.organisation.kind.name(),
            classes.join("+")
        );
    }

    pub fn rows(&mut self, rows: i64) {
        self.rows = rows;
    }

    /// Hand the record to the writer without waiting for its commit: for a
    /// correction that no answer depends on (the answer was never sent).
    pub fn submit(self, req: &HttpRequest, state: &AppState, status: u16) {
        let rows = self.rows;
        if let Some(g) = self.grant.as_ref() {
            state.grants.add_served(g.0, rows);
        }
        let row = self.into_row(req, status, rows);
        state.log.submit(row);
    }

    fn into_row(self, req: &HttpRequest, status: u16, rows: i64) -> store::audit::AccessRow {
        let client = self.caller.as_ref().map(|c| &c.client);
        let user = self.caller.as_ref().and_then(|c| c.user.as_ref());
        store::audit::AccessRow {
            id: 0,
            batch_id: 0,
            at: chrono::Utc::now().naive_utc(),
            request_id: self.request_id,
            client_ip: req
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default(),
            organisation_id: client.map(|c| c.org.id),
            organisation_name: client.map(|c| c.org.name.clone()),
            org_type: client.map(|c| c.org.kind.name().to_owned()),
            client_system_id: client.map(|c| c.id),
            client_name: client.map(|c| c.name.clone()),
            user_id: user.map(|u| u.id),
            user_name: user.map(|u| u.username.clone()),
            search_type: self.search_type.to_owned(),
            endpoint: self.endpoint.to_owned(),
            // serde_json's writer, not `Value`'s `Display` (the same bytes
            // through `fmt`, growing the string as it goes). A map of JSON
            // values always serializes.
            parameters: serde_json::to_string(&self.parameters).unwrap_or_else(|_| "{}".into()),
            subject_hash: self.subject_hash,
            rows_returned: rows,
            status: i32::from(status),
            grant_id: self.grant.as_ref().map(|g| g.0),
            purpose: self.grant.map(|g| g.1),
            withheld: self.policy_shape,
        }
    }

    /// Commit the record, then hand back the handler's outcome — or 503 if
    /// the record could not be committed.
    pub async fn finish(
        self,
        req: &HttpRequest,
        state: &AppState,
        outcome: Result<HttpResponse, ApiError>,
    ) -> Result<HttpResponse, ApiError> {
        if cfg!(feature = "bench-skip-access-log") {
            return outcome;
        }
        let status = match &outcome {
            Ok(res) => res.status(),
            Err(e) => e.status_code(),
        };
        let rows = if status.is_success() { self.rows } else { 0 };
        let grant = self.grant.as_ref().map(|g| g.0);
        let row = self.into_row(req, status.as_u16(), rows);
        match state.log.append(row).await {
            Ok(_) => {
                if let Some(g) = grant {
                    state.grants.add_served(g, rows);
                }
                outcome
            }
            Err(e) => {
                tracing::error!(error = %e, "refusing to answer: the access record was not committed");
                Err(ApiError::Unavailable)
            }
        }
    }
}
