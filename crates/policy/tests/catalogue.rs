//! The shipped catalogue loads and follows DESIGN.md's classification; every
//! way a catalogue can be wrong is an error naming the line and the problem.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test"
)]

mod common;

use common::{CATALOGUE, FIELDS};
use policy::{Catalogue, CatalogueError, Class, Entity, FieldSpec, FieldType, MaskKind};

/// The 1-based line of the first line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap()
}

/// The shipped catalogue with one line replaced.
fn replace_line(starting: &str, with: &str) -> (String, usize) {
    let line = line_of(CATALOGUE, starting);
    let text = CATALOGUE
        .lines()
        .map(|l| if l.starts_with(starting) { with } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    (text, line)
}

fn load(text: &str) -> CatalogueError {
    match Catalogue::from_toml(text, FIELDS) {
        Ok(_) => panic!("catalogue accepted"),
        Err(e) => e,
    }
}

#[test]
fn shipped_catalogue_follows_the_classification() {
    let catalogue = common::catalogue();
    assert_eq!(catalogue.version(), "2025.1");
    assert_eq!(catalogue.entries().len(), FIELDS.len());
    let secret = [
        (Entity::Household, "latitude"),
        (Entity::Household, "longitude"),
        (Entity::Household, "beneficiary_cnic"),
        (Entity::Member, "sensitive_answers"),
    ];
    for entry in catalogue.entries() {
        let expected = if secret.contains(&(entry.spec.entity, entry.spec.name)) {
            Class::Secret
        } else {
            Class::Confidential
        };
        assert_eq!(
            entry.class, expected,
            "{}.{}",
            entry.spec.entity, entry.spec.name
        );
    }
    // The Record index is the position among the entity's fields.
    let members = catalogue.entity(Entity::Member);
    assert_eq!(members[3].spec.name, "cnic");
    assert_eq!(
        catalogue.get(Entity::Household, "pmt_score").unwrap().mask,
        MaskKind::Band
    );
}

#[test]
fn unknown_field() {
    let text = CATALOGUE.replace(
        "[member]\n",
        "[member]\nshoe_size = { class = \"confidential\", category = \"person\", mask = \"omit\" }\n",
    );
    let err = load(&text);
    let line = line_of(&text, "shoe_size");
    assert_eq!(
        err.to_string(),
        format!("line {line}: unknown field `member.shoe_size`: the store has no such field")
    );
}

#[test]
fn unknown_class() {
    let (text, line) = replace_line(
        "latitude ",
        r#"latitude = { class = "top_secret", category = "location", mask = "omit" }"#,
    );
    assert_eq!(
        load(&text).to_string(),
        format!(
            "line {line}: unknown class `top_secret` for `household.latitude` \
             (expected public, confidential or secret)"
        )
    );
}

#[test]
fn unknown_category() {
    let (text, line) = replace_line(
        "rooms ",
        r#"rooms = { class = "confidential", category = "housing", mask = "omit" }"#,
    );
    let err = load(&text);
    assert!(matches!(err, CatalogueError::UnknownCategory { .. }));
    assert_eq!(
        err.to_string(),
        format!("line {line}: unknown category `housing` for `household.rooms`")
    );
}

#[test]
fn unknown_mask() {
    let (text, line) = replace_line(
        "full_name ",
        r#"full_name = { class = "confidential", category = "name", mask = "hash" }"#,
    );
    assert_eq!(
        load(&text).to_string(),
        format!(
            "line {line}: unknown mask `hash` for `member.full_name` \
             (expected omit, redact, last4, year_only, band or pseudonym)"
        )
    );
}

#[test]
fn mask_incompatible_with_type() {
    for (field, mask, ty) in [
        ("full_name", "band", "text"),
        ("date_of_birth", "last4", "date"),
        ("school_enrolled", "pseudonym", "bool"),
        ("line_no", "year_only", "int"),
    ] {
        let (text, line) = replace_line(
            &format!("{field} "),
            &format!(
                r#"{field} = {{ class = "confidential", category = "person", mask = "{mask}" }}"#
            ),
        );
        assert_eq!(
            load(&text).to_string(),
            format!(
                "line {line}: mask `{mask}` cannot be applied to `member.{field}`, a {ty} field"
            )
        );
    }
}

#[test]
fn missing_field() {
    let (text, _) = replace_line("cnic ", "");
    let line = line_of(&text, "[member]");
    assert_eq!(
        load(&text).to_string(),
        format!(
            "line {line}: missing field `member.cnic`: \
             the store has it, the catalogue does not classify it"
        )
    );
}

#[test]
fn missing_entity_table() {
    let text = &CATALOGUE[..CATALOGUE.find("[flag]").unwrap()];
    let err = load(text);
    assert_eq!(
        err,
        CatalogueError::MissingField {
            line: 1,
            entity: Entity::Flag,
            field: "id"
        }
    );
}

#[test]
fn duplicate_field() {
    let text = CATALOGUE.replace(
        "[payment]\n",
        "[payment]\nchannel = { class = \"confidential\", category = \"payment\", mask = \"omit\" }\n",
    );
    let err = load(&text);
    let second = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("channel"))
        .nth(1);
    let (index, _) = second.unwrap();
    assert!(matches!(err, CatalogueError::Syntax { .. }), "{err:?}");
    assert_eq!(err.line(), index + 1, "{err}");
    assert!(err.to_string().contains("duplicate key"), "{err}");
}

#[test]
fn unknown_entity_table() {
    let text = CATALOGUE.replace("[flag]", "[flags]");
    let err = load(&text);
    assert_eq!(err.line(), line_of(&text, "[flags]"), "{err}");
    assert!(err.to_string().contains("unknown field `flags`"), "{err}");
}

#[test]
fn unknown_key_in_an_entry() {
    let (text, line) = replace_line(
        "tenure ",
        r#"tenure = { class = "confidential", category = "living", mask = "omit", shown = true }"#,
    );
    let err = load(&text);
    assert_eq!(err.line(), line, "{err}");
    assert!(err.to_string().contains("unknown field `shown`"), "{err}");
}

#[test]
fn missing_version_and_bad_toml() {
    let text = CATALOGUE.replace("version = \"2025.1\"", "");
    let err = load(&text);
    assert!(err.to_string().contains("missing field `version`"), "{err}");

    let (text, line) = replace_line("cattle ", "cattle = { class = ");
    let err = load(&text);
    assert!(matches!(err, CatalogueError::Syntax { .. }));
    assert_eq!(err.line(), line, "{err}");
}

#[test]
fn the_first_problem_in_the_text_is_reported() {
    let (text, _) = replace_line(
        "note ",
        r#"note = { class = "confidential", category = "flag", mask = "band" }"#,
    );
    let (text2, line) = (
        text.replace(
            r#"id                  = { class = "confidential", category = "key",         mask = "pseudonym" }"#,
            r#"id = { class = "restricted", category = "key", mask = "pseudonym" }"#,
        ),
        line_of(CATALOGUE, "[household]") + 1,
    );
    assert_eq!(load(&text2).line(), line);
}

#[test]
fn duplicate_in_the_store_field_list() {
    let mut fields = FIELDS.to_vec();
    fields.push(FieldSpec {
        entity: Entity::Payment,
        name: "channel",
        ty: FieldType::Text,
        nullable: false,
    });
    let err = Catalogue::from_toml(CATALOGUE, &fields).unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 1: the store's field list names `payment.channel` twice"
    );
}

#[test]
fn a_field_the_store_dropped_is_unknown() {
    let fields: Vec<FieldSpec> = FIELDS
        .iter()
        .copied()
        .filter(|f| f.name != "has_car")
        .collect();
    let err = Catalogue::from_toml(CATALOGUE, &fields).unwrap_err();
    assert_eq!(err.line(), line_of(CATALOGUE, "has_car "));
    assert!(matches!(err, CatalogueError::UnknownField { .. }));
}
