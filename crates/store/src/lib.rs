//! The registry store: diesel on SQLite (the embedded default) and PostgreSQL,
//! one portable schema, migrations embedded per backend. It knows nothing of HTTP.

pub mod access;
pub mod audit;
pub mod billing;
pub mod db;
pub mod error;
pub mod logfile;
pub mod migrate;
pub mod models;
pub mod pos;
pub mod registry;
pub mod rows;
pub mod schema;
pub mod search;
pub mod spare;
mod sqlite_read;
pub mod testing;
pub mod timetext;

pub use db::{pool, DatabaseUrl, DbConn, Pool, PooledConn};
pub use error::{Result, StoreError};
pub use models::{registry_fields, Flag, GeoUnit, Household, HouseholdRecord, Member, Payment};
