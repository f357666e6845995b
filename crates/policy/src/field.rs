//! What the policy knows of a registry row: the entities, the fields the store
//! declares for them, and a borrowed view of one field's value.

use std::fmt;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

/// A kind of registry record. A household to shape is one household record
/// plus its member, payment and flag records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    /// The surveyed household: address, structure, assets, PMT, beneficiary status.
    Household,
    /// A member of a household.
    Member,
    /// A CCT payment to a household.
    Payment,
    /// A hold or flag on a household, with its provenance.
    Flag,
}

impl Entity {
    /// Every entity, in the order a shaped household lists them.
    pub const ALL: [Entity; 4] = [
        Entity::Household,
        Entity::Member,
        Entity::Payment,
        Entity::Flag,
    ];

    /// The name the store and the catalogue use.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Entity::Household => "household",
            Entity::Member => "member",
            Entity::Payment => "payment",
            Entity::Flag => "flag",
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is not one of `household`, `member`, `payment`, `flag`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown entity `{0}`")]
pub struct UnknownEntity(pub String);

impl FromStr for Entity {
    type Err = UnknownEntity;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Entity::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| UnknownEntity(s.to_owned()))
    }
}

/// The storage type of a field, against which masks are checked at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Whole number (`i32` or `i64` in the store).
    Int,
    /// Floating-point number.
    Float,
    /// Yes or no.
    Bool,
    /// Text.
    Text,
    /// Calendar date.
    Date,
    /// Date and time (UTC, no zone).
    Timestamp,
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Bool => "bool",
            FieldType::Text => "text",
            FieldType::Date => "date",
            FieldType::Timestamp => "timestamp",
        })
    }
}

/// A field as the store declares it. The caller passes the full list to
/// [`Catalogue::from_toml`](crate::Catalogue::from_toml); the catalogue must
/// classify each one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldSpec {
    /// The record kind the field belongs to.
    pub entity: Entity,
    /// The store's name for the field; also its key in the shaped JSON.
    pub name: &'static str,
    /// The storage type.
    pub ty: FieldType,
    /// Whether the store may hold no value.
    pub nullable: bool,
}

/// One field's value, borrowed from a store row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// No value.
    Null,
    /// A [`FieldType::Bool`] value.
    Bool(bool),
    /// A [`FieldType::Int`] value.
    Int(i64),
    /// A [`FieldType::Float`] value.
    Float(f64),
    /// A [`FieldType::Text`] value.
    Text(&'a str),
    /// A [`FieldType::Date`] value.
    Date(NaiveDate),
    /// A [`FieldType::Timestamp`] value.
    Timestamp(NaiveDateTime),
}

/// A store row the policy can read field by field.
///
/// `field` is the position of the field among the [`FieldSpec`]s **of the
/// row's entity**, in the order the slice given to
/// [`Catalogue::from_toml`](crate::Catalogue::from_toml) lists them (for the
/// store's `REGISTRY_FIELDS`, the column order). An index the row does not
/// know should return [`Value::Null`].
pub trait Record {
    /// The value of the `field`-th field of this row's entity.
    fn value(&self, field: usize) -> Value<'_>;
}

impl<T: Record + ?Sized> Record for &T {
    fn value(&self, field: usize) -> Value<'_> {
        (**self).value(field)
    }
}
