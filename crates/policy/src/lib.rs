#![doc = include_str!("../README.md")]

mod catalogue;
mod decision;
mod explain;
mod field;
mod json;
mod mask;
mod request;
mod shape;
mod view;

pub use catalogue::{Catalogue, CatalogueEntry, CatalogueError, Category};
pub use decision::{Policy, Refusal, BASIC_ROW_LIMIT};
pub use explain::{Cause, Reason};
pub use field::{Entity, FieldSpec, FieldType, Record, UnknownEntity, Value};
pub use mask::{
    band, MaskKind, Pseudonym, Pseudonymiser, SecretTooShort, MIN_SECRET_LEN, REDACTED,
};
pub use request::{
    Caller, Class, Forum, Grant, Organisation, OrganisationType, Request, Role, SearchType,
    Standing,
};
pub use shape::{Household, NoRecord, Shaped};
pub use view::{Effect, MemberSelection, View};
