//! The catalogue: every registry field's class, category and mask, kept as
//! data in `catalogue.toml` and checked against the store's field list when
//! the gateway starts.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::field::{Entity, FieldSpec, FieldType};
use crate::mask::MaskKind;
use crate::request::Class;

/// What a field is about. The response shapes of DESIGN.md's role x search
/// table are written per category, so the code names no field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Record ids and the links between records.
    Key,
    /// A member's own name.
    Name,
    /// The name of a member's father or husband, as on the CNIC.
    Guardian,
    /// CNICs.
    Cnic,
    /// Contact numbers.
    Contact,
    /// Administrative area codes: province, district, tehsil, union council.
    Area,
    /// Village and address line.
    Address,
    /// Coordinates of the structure.
    Location,
    /// A member's place in the household: line number, relation, gender.
    Person,
    /// Date of birth.
    Age,
    /// Marital status, disability, education, schooling, employment, occupation.
    Particulars,
    /// Structure and living conditions.
    Living,
    /// Appliances, vehicles, land, livestock.
    Assets,
    /// PMT score, survey date, household size: what the USC till is told.
    Pmt,
    /// BISP beneficiary status, programme, enrolment, payment channel.
    Beneficiary,
    /// CCT payment details.
    Payment,
    /// Holds and flags and their provenance.
    Flag,
    /// Answers to sensitive survey questions.
    Sensitive,
}

impl Category {
    /// Every category.
    pub const ALL: [Category; 18] = [
        Category::Key,
        Category::Name,
        Category::Guardian,
        Category::Cnic,
        Category::Contact,
        Category::Area,
        Category::Address,
        Category::Location,
        Category::Person,
        Category::Age,
        Category::Particulars,
        Category::Living,
        Category::Assets,
        Category::Pmt,
        Category::Beneficiary,
        Category::Payment,
        Category::Flag,
        Category::Sensitive,
    ];

    /// The name the catalogue uses.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Category::Key => "key",
            Category::Name => "name",
            Category::Guardian => "guardian",
            Category::Cnic => "cnic",
            Category::Contact => "contact",
            Category::Area => "area",
            Category::Address => "address",
            Category::Location => "location",
            Category::Person => "person",
            Category::Age => "age",
            Category::Particulars => "particulars",
            Category::Living => "living",
            Category::Assets => "assets",
            Category::Pmt => "pmt",
            Category::Beneficiary => "beneficiary",
            Category::Payment => "payment",
            Category::Flag => "flag",
            Category::Sensitive => "sensitive",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One classified field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CatalogueEntry {
    /// The field as the store declares it.
    pub spec: FieldSpec,
    /// Its classification.
    pub class: Class,
    /// What it is about.
    pub category: Category,
    /// How it is de-identified when a shape asks for that.
    pub mask: MaskKind,
}

/// Why a catalogue was rejected. Every variant names the line of the
/// catalogue text it is about (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    /// The text is not valid TOML, or not shaped like a catalogue: a field
    /// named twice, an unknown table or key, a value of the wrong type, a
    /// missing `version`.
    #[error("line {line}: {message}")]
    Syntax {
        /// Where the parser stopped.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// The catalogue classifies a field the store does not have.
    #[error("line {line}: unknown field `{entity}.{field}`: the store has no such field")]
    UnknownField {
        /// Where the field is classified.
        line: usize,
        /// Its entity table.
        entity: Entity,
        /// Its name.
        field: String,
    },
    /// A class other than `public`, `confidential`, `secret`.
    #[error(
        "line {line}: unknown class `{found}` for `{entity}.{field}` \
         (expected public, confidential or secret)"
    )]
    UnknownClass {
        /// Where.
        line: usize,
        /// The field's entity.
        entity: Entity,
        /// The field.
        field: String,
        /// What the catalogue says.
        found: String,
    },
    /// A category that is not one of [`Category::ALL`].
    #[error("line {line}: unknown category `{found}` for `{entity}.{field}`")]
    UnknownCategory {
        /// Where.
        line: usize,
        /// The field's entity.
        entity: Entity,
        /// The field.
        field: String,
        /// What the catalogue says.
        found: String,
    },
    /// A mask that is not one of [`MaskKind::ALL`].
    #[error(
        "line {line}: unknown mask `{found}` for `{entity}.{field}` \
         (expected omit, redact, last4, year_only, band or pseudonym)"
    )]
    UnknownMask {
        /// Where.
        line: usize,
        /// The field's entity.
        entity: Entity,
        /// The field.
        field: String,
        /// What the catalogue says.
        found: String,
    },
    /// The mask cannot be applied to the field's type.
    #[error("line {line}: mask `{mask}` cannot be applied to `{entity}.{field}`, a {ty} field")]
    MaskIncompatible {
        /// Where.
        line: usize,
        /// The field's entity.
        entity: Entity,
        /// The field.
        field: String,
        /// The mask.
        mask: MaskKind,
        /// The field's type.
        ty: FieldType,
    },
    /// A store field the catalogue does not classify. `line` is that of the
    /// entity's table, or 1 when the table is missing altogether.
    #[error("line {line}: missing field `{entity}.{field}`: the store has it, the catalogue does not classify it")]
    MissingField {
        /// Where the entity's table starts.
        line: usize,
        /// The field's entity.
        entity: Entity,
        /// The field.
        field: &'static str,
    },
    /// The caller's field list names a field twice (a bug in the caller, not
    /// in the catalogue text; `line` is 1).
    #[error("line {line}: the store's field list names `{entity}.{field}` twice")]
    DuplicateSpec {
        /// Always 1.
        line: usize,
        /// The field's entity.
        entity: Entity,
        /// The field.
        field: &'static str,
    },
}

impl CatalogueError {
    /// The 1-based line of the catalogue text the error is about.
    #[must_use]
    pub fn line(&self) -> usize {
        match self {
            CatalogueError::Syntax { line, .. }
            | CatalogueError::UnknownField { line, .. }
            | CatalogueError::UnknownClass { line, .. }
            | CatalogueError::UnknownCategory { line, .. }
            | CatalogueError::UnknownMask { line, .. }
            | CatalogueError::MaskIncompatible { line, .. }
            | CatalogueError::MissingField { line, .. }
            | CatalogueError::DuplicateSpec { line, .. } => *line,
        }
    }
}

type RawTable = Spanned<BTreeMap<String, Spanned<RawEntry>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogue {
    version: String,
    household: Option<RawTable>,
    member: Option<RawTable>,
    payment: Option<RawTable>,
    flag: Option<RawTable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    class: String,
    category: String,
    mask: String,
}

/// Every registry field's class, category and mask, validated against the
/// store's field list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    version: String,
    /// Grouped by entity in [`Entity::ALL`] order; within an entity, in the
    /// order of the caller's field list (the [`Record`](crate::Record) index).
    entries: Vec<CatalogueEntry>,
    ranges: [Range<usize>; 4],
    /// Parallel to `entries`: each field's key as shaped JSON writes it,
    /// escaped and quoted once here (`,"name":`).
    json_keys: Vec<JsonKey>,
}

impl Catalogue {
    /// Parses and validates catalogue text against the store's fields.
    ///
    /// The text has a `version` string and one table per entity
    /// (`[household]`, `[member]`, `[payment]`, `[flag]`) with one line per
    /// field: `name = { class = "...", category = "...", mask = "..." }`.
    /// Every field of `fields` must appear exactly once and nothing else may.
    pub fn from_toml(text: &str, fields: &[FieldSpec]) -> Result<Catalogue, CatalogueError> {
        for (i, spec) in fields.iter().enumerate() {
            if fields[..i]
                .iter()
                .any(|s| s.entity == spec.entity && s.name == spec.name)
            {
                return Err(CatalogueError::DuplicateSpec {
                    line: 1,
                    entity: spec.entity,
                    field: spec.name,
                });
            }
        }
        let raw: RawCatalogue = toml::from_str(text).map_err(|e| CatalogueError::Syntax {
            line: e.span().map_or(1, |span| line_of(text, span.start)),
            message: e.message().to_owned(),
        })?;
        let tables = [raw.household, raw.member, raw.payment, raw.flag];

        let mut problems = Vec::new();
        let mut entries = Vec::with_capacity(fields.len());
        let mut ranges: [Range<usize>; 4] = Default::default();
        for (entity, table) in Entity::ALL.into_iter().zip(&tables) {
            let start = entries.len();
            let table_line = table.as_ref().map_or(1, |t| line_of(text, t.span().start));
            for spec in fields.iter().filter(|s| s.entity == entity) {
                match table.as_ref().and_then(|t| t.get_ref().get(spec.name)) {
                    Some(raw) => match entry(text, *spec, raw) {
                        Ok(e) => entries.push(e),
                        Err(e) => problems.push(e),
                    },
                    None => problems.push(CatalogueError::MissingField {
                        line: table_line,
                        entity,
                        field: spec.name,
                    }),
                }
            }
            for (name, raw) in table.iter().flat_map(Spanned::get_ref) {
                if !fields.iter().any(|s| s.entity == entity && s.name == name) {
                    problems.push(CatalogueError::UnknownField {
                        line: line_of(text, raw.span().start),
                        entity,
                        field: name.clone(),
                    });
                }
            }
            ranges[entity.index()] = start..entries.len();
        }
        // Report the first problem in the text, so fixing top-down works.
        match problems.into_iter().min_by_key(CatalogueError::line) {
            Some(problem) => Err(problem),
            None => Ok(Catalogue {
                version: raw.version,
                json_keys: entries.iter().map(|e| JsonKey::new(e.spec.name)).collect(),
                entries,
                ranges,
            }),
        }
    }

    /// The catalogue's `version` string, for the access log.
    #[must_use]
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Every classified field, grouped by entity.
    #[must_use]
    pub fn entries(&self) -> &[CatalogueEntry] {
        &self.entries
    }

    /// One entity's fields; the position in this slice is the
    /// [`Record`](crate::Record) index.
    #[must_use]
    pub fn entity(&self, entity: Entity) -> &[CatalogueEntry] {
        self.entries.get(self.range(entity)).unwrap_or_default()
    }

    /// A field by entity and name.
    #[must_use]
    pub fn get(&self, entity: Entity, name: &str) -> Option<&CatalogueEntry> {
        self.entity(entity).iter().find(|e| e.spec.name == name)
    }

    pub(crate) fn range(&self, entity: Entity) -> Range<usize> {
        self.ranges[entity.index()].clone()
    }

    /// The `,"name":` fragment of the `i`-th entry.
    pub(crate) fn json_key(&self, i: usize) -> Option<&JsonKey> {
        self.json_keys.get(i)
    }
}

/// A field's key as shaped JSON writes it after the previous field:
/// `,"name":`, escaped once when the catalogue loads. Kept zero-padded to a
/// fixed width too, so that writing a short key is one fixed-size copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonKey {
    text: Box<[u8]>,
    padded: [u8; JsonKey::PADDED],
}

impl JsonKey {
    const PADDED: usize = 32;

    fn new(name: &str) -> JsonKey {
        let mut text = vec![b','];
        crate::json::string(&mut text, name);
        text.push(b':');
        let mut padded = [0; JsonKey::PADDED];
        if let Some(head) = padded.get_mut(..text.len()) {
            head.copy_from_slice(&text);
        }
        JsonKey {
            text: text.into_boxed_slice(),
            padded,
        }
    }

    /// Appends `,"name":` to `out`.
    #[inline]
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        if self.text.len() <= JsonKey::PADDED {
            let end = out.len() + self.text.len();
            out.extend_from_slice(&self.padded);
            out.truncate(end);
        } else {
            out.extend_from_slice(&self.text);
        }
    }
}

fn entry(
    text: &str,
    spec: FieldSpec,
    raw: &Spanned<RawEntry>,
) -> Result<CatalogueEntry, CatalogueError> {
    let line = line_of(text, raw.span().start);
    let (entity, field) = (spec.entity, spec.name.to_owned());
    let raw = raw.get_ref();
    let Some(class) = [Class::Public, Class::Confidential, Class::Secret]
        .into_iter()
        .find(|c| c.name() == raw.class)
    else {
        return Err(CatalogueError::UnknownClass {
            line,
            entity,
            field,
            found: raw.class.clone(),
        });
    };
    let Some(category) = Category::ALL.into_iter().find(|c| c.name() == raw.category) else {
        return Err(CatalogueError::UnknownCategory {
            line,
            entity,
            field,
            found: raw.category.clone(),
        });
    };
    let Some(mask) = MaskKind::ALL.into_iter().find(|m| m.name() == raw.mask) else {
        return Err(CatalogueError::UnknownMask {
            line,
            entity,
            field,
            found: raw.mask.clone(),
        });
    };
    if !mask.accepts(spec.ty) {
        return Err(CatalogueError::MaskIncompatible {
            line,
            entity,
            field,
            mask,
            ty: spec.ty,
        });
    }
    Ok(CatalogueEntry {
        spec,
        class,
        category,
        mask,
    })
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}
