//! Who may call the gateway: organisations, client systems (by certificate
//! fingerprint), users, and data-sharing grants. Values such as roles and
//! organisation types are stored as the text the policy crate parses; the api
//! parses them at the edge.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

use crate::db::DbConn;
use crate::error::Result;
use crate::schema::{client_systems, grants, organisations, users};

/// Run the same diesel code on whichever backend the connection is.
macro_rules! on_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            DbConn::Sqlite($c) => $body,
            DbConn::Pg($c) => $body,
        }
    };
}
pub(crate) use on_backend;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = organisations)]
pub struct Organisation {
    pub id: i64,
    pub name: String,
    pub org_type: String,
    pub standing: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = client_systems)]
pub struct ClientSystem {
    pub id: i64,
    pub name: String,
    pub organisation_id: i64,
    pub kind: String,
    pub service_role: String,
    pub cert_sha256: String,
    pub status: String,
    pub rate_per_second: i32,
    pub burst: i32,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = client_systems)]
pub struct NewClientSystem<'a> {
    pub name: &'a str,
    pub organisation_id: i64,
    pub kind: &'a str,
    pub service_role: &'a str,
    pub cert_sha256: &'a str,
    pub status: &'a str,
    pub rate_per_second: i32,
    pub burst: i32,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub username: String,
    #[serde(skip)]
    pub password_hash: String,
    pub organisation_id: i64,
    pub role: String,
    pub duties: String,
    pub full_name: String,
    pub designation: String,
    pub district_code: Option<i32>,
    pub tehsil_code: Option<i32>,
    pub status: String,
    pub failed_logins: i32,
    pub locked_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password_hash: &'a str,
    pub organisation_id: i64,
    pub role: &'a str,
    pub duties: &'a str,
    pub full_name: &'a str,
    pub designation: &'a str,
    pub district_code: Option<i32>,
    pub tehsil_code: Option<i32>,
    pub status: &'a str,
    pub failed_logins: i32,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = grants)]
pub struct Grant {
    pub id: i64,
    pub organisation_id: i64,
    /// Comma-separated search types.
    pub search_types: String,
    /// Comma-separated classes.
    pub classes: String,
    pub purpose: String,
    pub row_quota: i64,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    pub approved_by: String,
    pub status: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = grants)]
pub struct NewGrant<'a> {
    pub organisation_id: i64,
    pub search_types: &'a str,
    pub classes: &'a str,
    pub purpose: &'a str,
    pub row_quota: i64,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    pub approved_by: &'a str,
    pub status: &'a str,
    pub created_at: NaiveDateTime,
}

fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

/// The organisation called `name`, created with `org_type` if it does not exist.
pub fn ensure_organisation(conn: &mut DbConn, name: &str, org_type: &str) -> Result<Organisation> {
    if let Some(o) = organisation_by_name(conn, name)? {
        return Ok(o);
    }
    let created_at = now();
    on_backend!(conn, c => diesel::insert_into(organisations::table)
        .values((
            organisations::name.eq(name),
            organisations::org_type.eq(org_type),
            organisations::standing.eq("active"),
            organisations::created_at.eq(created_at),
        ))
        .execute(c))?;
    organisation_by_name(conn, name)?
        .ok_or(crate::StoreError::Query(diesel::result::Error::NotFound))
}

pub fn organisation_by_name(conn: &mut DbConn, name: &str) -> Result<Option<Organisation>> {
    Ok(organisations::table
        .filter(organisations::name.eq(name))
        .select(Organisation::as_select())
        .first(conn)
        .optional()?)
}

pub fn organisation(conn: &mut DbConn, id: i64) -> Result<Option<Organisation>> {
    Ok(organisations::table
        .find(id)
        .select(Organisation::as_select())
        .first(conn)
        .optional()?)
}

pub fn organisations(conn: &mut DbConn) -> Result<Vec<Organisation>> {
    Ok(organisations::table
        .order(organisations::id)
        .select(Organisation::as_select())
        .load(conn)?)
}

/// Set an organisation's standing (`active` or `suspended`); returns whether it exists.
pub fn set_organisation_standing(conn: &mut DbConn, name: &str, standing: &str) -> Result<bool> {
    let n = diesel::update(organisations::table.filter(organisations::name.eq(name)))
        .set(organisations::standing.eq(standing))
        .execute(conn)?;
    Ok(n > 0)
}

pub fn add_client_system(conn: &mut DbConn, new: &NewClientSystem<'_>) -> Result<ClientSystem> {
    on_backend!(conn, c => diesel::insert_into(client_systems::table).values(new).execute(c))?;
    Ok(client_systems::table
        .filter(client_systems::name.eq(new.name))
        .select(ClientSystem::as_select())
        .first(conn)?)
}

/// The client system a certificate fingerprint (lowercase hex SHA-256 of the
/// DER certificate) is registered to, with its organisation.
pub fn client_by_fingerprint(
    conn: &mut DbConn,
    sha256: &str,
) -> Result<Option<(ClientSystem, Organisation)>> {
    Ok(client_systems::table
        .inner_join(organisations::table)
        .filter(client_systems::cert_sha256.eq(sha256))
        .select((ClientSystem::as_select(), Organisation::as_select()))
        .first(conn)
        .optional()?)
}

pub fn client_systems(conn: &mut DbConn) -> Result<Vec<(ClientSystem, Organisation)>> {
    Ok(client_systems::table
        .inner_join(organisations::table)
        .order(client_systems::id)
        .select((ClientSystem::as_select(), Organisation::as_select()))
        .load(conn)?)
}

/// Set a client system's status (`active` or `disabled`); returns whether it exists.
pub fn set_client_status(conn: &mut DbConn, name: &str, status: &str) -> Result<bool> {
    let n = diesel::update(client_systems::table.filter(client_systems::name.eq(name)))
        .set(client_systems::status.eq(status))
        .execute(conn)?;
    Ok(n > 0)
}

/// Replace a client system's certificate fingerprint (rotation).
pub fn set_client_certificate(conn: &mut DbConn, name: &str, sha256: &str) -> Result<bool> {
    let n = diesel::update(client_systems::table.filter(client_systems::name.eq(name)))
        .set(client_systems::cert_sha256.eq(sha256))
        .execute(conn)?;
    Ok(n > 0)
}

pub fn add_user(conn: &mut DbConn, new: &NewUser<'_>) -> Result<User> {
    on_backend!(conn, c => diesel::insert_into(users::table).values(new).execute(c))?;
    Ok(users::table
        .filter(users::username.eq(new.username))
        .select(User::as_select())
        .first(conn)?)
}

pub fn user_by_name(conn: &mut DbConn, username: &str) -> Result<Option<User>> {
    Ok(users::table
        .filter(users::username.eq(username))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

pub fn user(conn: &mut DbConn, id: i64) -> Result<Option<User>> {
    Ok(users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

pub fn users(conn: &mut DbConn) -> Result<Vec<User>> {
    Ok(users::table
        .order(users::id)
        .select(User::as_select())
        .load(conn)?)
}

pub fn set_user_status(conn: &mut DbConn, username: &str, status: &str) -> Result<bool> {
    let n = diesel::update(users::table.filter(users::username.eq(username)))
        .set(users::status.eq(status))
        .execute(conn)?;
    Ok(n > 0)
}

/// Record a failed login; lock the account until `lock_until` once
/// `failures_before_lock` consecutive failures are reached.
pub fn record_login_failure(
    conn: &mut DbConn,
    id: i64,
    failures_before_lock: i32,
    lock_until: NaiveDateTime,
) -> Result<()> {
    conn.transaction(|conn| {
        let failures: i32 = users::table
            .find(id)
            .select(users::failed_logins)
            .first(conn)?;
        let failures = failures + 1;
        if failures >= failures_before_lock {
            diesel::update(users::table.find(id))
                .set((
                    users::failed_logins.eq(0),
                    users::locked_until.eq(Some(lock_until)),
                ))
                .execute(conn)?;
        } else {
            diesel::update(users::table.find(id))
                .set(users::failed_logins.eq(failures))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// A successful login clears the failure count and any expired lock.
pub fn record_login_success(conn: &mut DbConn, id: i64) -> Result<()> {
    diesel::update(users::table.find(id))
        .set((
            users::failed_logins.eq(0),
            users::locked_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn add_grant(conn: &mut DbConn, new: &NewGrant<'_>) -> Result<Grant> {
    conn.transaction(|conn| {
        on_backend!(conn, c => diesel::insert_into(grants::table).values(new).execute(c))?;
        Ok(grants::table
            .order(grants::id.desc())
            .select(Grant::as_select())
            .first(conn)?)
    })
}

/// Grants of an organisation that are not revoked (validity dates are the policy's to judge).
/// On the hot path: run on the backend's own connection, whose statement
/// cache keeps it prepared (through the multi-backend wrapper every call
/// would be parsed and planned again).
pub fn active_grants(conn: &mut DbConn, organisation_id: i64) -> Result<Vec<Grant>> {
    Ok(on_backend!(conn, c => grants::table
        .filter(grants::organisation_id.eq(organisation_id))
        .filter(grants::status.eq("active"))
        .order(grants::id)
        .select(Grant::as_select())
        .load(c))?)
}

pub fn grants(conn: &mut DbConn) -> Result<Vec<Grant>> {
    Ok(grants::table
        .order(grants::id)
        .select(Grant::as_select())
        .load(conn)?)
}

pub fn revoke_grant(conn: &mut DbConn, id: i64) -> Result<bool> {
    let n = diesel::update(grants::table.find(id))
        .set(grants::status.eq("revoked"))
        .execute(conn)?;
    Ok(n > 0)
}
