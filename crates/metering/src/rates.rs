//! The rate card: which rate class an organisation is in, which service a
//! search belongs to, and what a row of each service costs each class from a
//! given date. It is data the BISP Board approves; this module parses it once
//! and refuses anything ambiguous, naming the line.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::Deserialize;

/// The class gratis organisations are billed under (at zero).
pub const GRATIS: &str = "gratis";

const CLIENT_KINDS: [&str; 2] = ["machine", "portal"];

/// What is wrong with a rate card.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// Not TOML, or not the shape of a rate card (the message names line and column).
    #[error("rate card: {0}")]
    Syntax(String),
    /// Well-formed but inconsistent or incomplete.
    #[error("rate card line {line}: {message}")]
    Invalid { line: usize, message: String },
}

/// A service: the search types (and client kinds) whose rows it prices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub description: String,
    pub search_types: Vec<String>,
    /// `machine`, `portal`; every kind when the card lists none.
    pub client_kinds: Vec<String>,
}

/// A rate in force from `from` until the next step of the same service and class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateStep {
    pub from: NaiveDate,
    /// Paisa per `per_rows` rows.
    pub paisa: i64,
    pub per_rows: i64,
}

/// A validated rate card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCard {
    pub title: String,
    /// Marked as samples (not Board-approved): every bill says so.
    pub sample: bool,
    classes: BTreeMap<String, String>,
    gratis: BTreeSet<String>,
    services: Vec<Service>,
    /// (search type, client kind) -> index into `services`.
    routes: BTreeMap<(String, String), usize>,
    /// (service, class) -> steps sorted by date.
    steps: BTreeMap<(String, String), Vec<RateStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCard {
    title: String,
    #[serde(default)]
    sample: bool,
    classes: toml::Spanned<BTreeMap<String, toml::Spanned<String>>>,
    #[serde(default)]
    gratis: RawGratis,
    #[serde(default, rename = "service")]
    services: Vec<toml::Spanned<RawService>>,
    #[serde(default, rename = "rate")]
    rates: Vec<toml::Spanned<RawRate>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGratis {
    #[serde(default)]
    organisations: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: String,
    #[serde(default)]
    description: String,
    search_types: Vec<String>,
    #[serde(default)]
    client_kinds: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRate {
    service: String,
    class: String,
    from: toml::value::Datetime,
    paisa: i64,
    #[serde(default = "one")]
    per_rows: i64,
}

fn one() -> i64 {
    1
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |head| head.bytes().filter(|b| *b == b'\n').count())
        + 1
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl RateCard {
    /// Parse and validate a rate card.
    pub fn parse(text: &str) -> Result<Self, RateError> {
        let raw: RawCard = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| format!("line {}: ", line_of(text, s.start)))
                .unwrap_or_default();
            RateError::Syntax(format!("{at}{}", e.message()))
        })?;
        let classes = parse_classes(text, &raw.classes)?;
        let (services, routes) = parse_services(text, &raw.services)?;
        let class_names: BTreeSet<&String> = classes.values().collect();
        let steps = parse_rates(text, &raw.rates, &services, &class_names)?;
        Ok(Self {
            title: raw.title,
            sample: raw.sample,
            classes,
            gratis: raw.gratis.organisations.into_iter().collect(),
            services,
            routes,
            steps,
        })
    }

    /// The rate class of an organisation: [`GRATIS`] when the card names it,
    /// otherwise its type's class (`None` for a type the card does not know).
    #[must_use]
    pub fn class_of(&self, organisation_name: &str, org_type: &str) -> Option<&str> {
        if self.gratis.contains(organisation_name) {
            return Some(GRATIS);
        }
        self.classes.get(org_type).map(String::as_str)
    }

    /// The service that prices `search_type` from a client of `client_kind`.
    #[must_use]
    pub fn service_for(&self, search_type: &str, client_kind: &str) -> Option<&Service> {
        self.routes
            .get(&(search_type.to_owned(), client_kind.to_owned()))
            .map(|i| &self.services[*i])
    }

    /// Every service, in card order.
    #[must_use]
    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// The rate steps of a service for a class, oldest first (empty for
    /// [`GRATIS`] and unknown pairs).
    #[must_use]
    pub fn steps(&self, service: &str, class: &str) -> &[RateStep] {
        self.steps
            .get(&(service.to_owned(), class.to_owned()))
            .map_or(&[], Vec::as_slice)
    }

    /// The step in force on `day`, if any.
    #[must_use]
    pub fn step_on(&self, service: &str, class: &str, day: NaiveDate) -> Option<RateStep> {
        self.steps(service, class)
            .iter()
            .rev()
            .find(|s| s.from <= day)
            .copied()
    }

    /// Whether the card names `organisation_name` as gratis.
    #[must_use]
    pub fn is_gratis(&self, organisation_name: &str) -> bool {
        self.gratis.contains(organisation_name)
    }
}

/// Every organisation type, each to a class name.
fn parse_classes(
    text: &str,
    raw: &toml::Spanned<BTreeMap<String, toml::Spanned<String>>>,
) -> Result<BTreeMap<String, String>, RateError> {
    let invalid = |offset: usize, message: String| RateError::Invalid {
        line: line_of(text, offset),
        message,
    };
    let mut classes = BTreeMap::new();
    let known: Vec<&str> = ORG_TYPES.to_vec();
    for (org_type, class) in raw.get_ref() {
        if !known.contains(&org_type.as_str()) {
            return Err(invalid(
                class.span().start,
                format!(
                    "{org_type:?} is not an organisation type (one of {})",
                    known.join(", ")
                ),
            ));
        }
        if !is_identifier(class.get_ref()) || class.get_ref() == GRATIS {
            return Err(invalid(
                class.span().start,
                format!(
                    "class {:?}: use lowercase letters, digits and _ (and not {GRATIS:?}, which is reserved)",
                    class.get_ref()
                ),
            ));
        }
        classes.insert(org_type.clone(), class.get_ref().clone());
    }
    if let Some(missing) = known.iter().find(|t| !classes.contains_key(**t)) {
        return Err(invalid(
            raw.span().start,
            format!("[classes] does not say which class {missing:?} organisations are in"),
        ));
    }
    Ok(classes)
}

/// Services, and which search type and client kind each covers.
#[allow(clippy::type_complexity, reason = "a private helper's pair of results")]
fn parse_services(
    text: &str,
    raw: &[toml::Spanned<RawService>],
) -> Result<(Vec<Service>, BTreeMap<(String, String), usize>), RateError> {
    let invalid = |offset: usize, message: String| RateError::Invalid {
        line: line_of(text, offset),
        message,
    };
    let mut services = Vec::new();
    let mut routes = BTreeMap::new();
    for spanned in raw {
        let s = spanned.get_ref();
        let at = spanned.span().start;
        if !is_identifier(&s.name) {
            return Err(invalid(
                at,
                format!(
                    "service name {:?}: use lowercase letters, digits and _",
                    s.name
                ),
            ));
        }
        if services.iter().any(|x: &Service| x.name == s.name) {
            return Err(invalid(
                at,
                format!("service {:?} is defined twice", s.name),
            ));
        }
        if s.search_types.is_empty() {
            return Err(invalid(
                at,
                format!("service {:?} lists no search types", s.name),
            ));
        }
        let kinds: Vec<String> = if s.client_kinds.is_empty() {
            CLIENT_KINDS.iter().map(|k| (*k).to_owned()).collect()
        } else {
            s.client_kinds.clone()
        };
        for kind in &kinds {
            if !CLIENT_KINDS.contains(&kind.as_str()) {
                return Err(invalid(
                    at,
                    format!("client kind {kind:?}: expected \"machine\" or \"portal\""),
                ));
            }
        }
        for search in &s.search_types {
            if !is_identifier(search) {
                return Err(invalid(
                    at,
                    format!("search type {search:?}: use lowercase letters, digits and _"),
                ));
            }
            for kind in &kinds {
                if let Some(other) = routes.insert((search.clone(), kind.clone()), services.len()) {
                    let other: &Service = &services[other];
                    return Err(invalid(
                        at,
                        format!(
                            "search type {search:?} from {kind} clients is already priced by service {:?}",
                            other.name
                        ),
                    ));
                }
            }
        }
        services.push(Service {
            name: s.name.clone(),
            description: s.description.clone(),
            search_types: s.search_types.clone(),
            client_kinds: kinds,
        });
    }
    Ok((services, routes))
}

/// One step per (service, class, date); every pair must have one.
fn parse_rates(
    text: &str,
    raw: &[toml::Spanned<RawRate>],
    services: &[Service],
    class_names: &BTreeSet<&String>,
) -> Result<BTreeMap<(String, String), Vec<RateStep>>, RateError> {
    let invalid = |offset: usize, message: String| RateError::Invalid {
        line: line_of(text, offset),
        message,
    };
    let mut steps: BTreeMap<(String, String), Vec<(RateStep, usize)>> = BTreeMap::new();
    for spanned in raw {
        let r = spanned.get_ref();
        let at = spanned.span().start;
        if !services.iter().any(|s| s.name == r.service) {
            return Err(invalid(
                at,
                format!("rate for unknown service {:?}", r.service),
            ));
        }
        if !class_names.contains(&r.class) {
            return Err(invalid(
                at,
                format!(
                    "rate for unknown class {:?} (classes: {})",
                    r.class,
                    class_names
                        .iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let from = match (r.from.date, r.from.time, r.from.offset) {
            (Some(d), None, None) => {
                NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
            }
            _ => None,
        }
        .ok_or_else(|| {
            invalid(
                at,
                format!("from = {}: expected a date such as 2026-07-01", r.from),
            )
        })?;
        if r.paisa < 0 {
            return Err(invalid(
                at,
                format!("paisa = {}: a rate cannot be negative", r.paisa),
            ));
        }
        if r.per_rows < 1 {
            return Err(invalid(
                at,
                format!("per_rows = {}: must be at least 1", r.per_rows),
            ));
        }
        let list = steps
            .entry((r.service.clone(), r.class.clone()))
            .or_default();
        if let Some((_, other)) = list.iter().find(|(s, _)| s.from == from) {
            return Err(invalid(
                at,
                format!(
                    "{} for {} already has a rate from {from} (line {other})",
                    r.service, r.class
                ),
            ));
        }
        list.push((
            RateStep {
                from,
                paisa: r.paisa,
                per_rows: r.per_rows,
            },
            line_of(text, at),
        ));
    }
    for service in services {
        for class in class_names {
            if !steps.contains_key(&(service.name.clone(), (*class).clone())) {
                return Err(invalid(
                    text.len(),
                    format!("no rate for service {:?} and class {class:?}", service.name),
                ));
            }
        }
    }
    Ok(steps
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_by_key(|(s, _)| s.from);
            (k, v.into_iter().map(|(s, _)| s).collect())
        })
        .collect())
}

/// Organisation types, as stored (`store::access::Organisation::org_type`).
const ORG_TYPES: [&str; 9] = [
    "federal_government",
    "provincial_government",
    "local_government",
    "international_donor",
    "local_ngo",
    "ingo",
    "private_business",
    "citizen",
    "other",
];

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../../deploy/rates.sample.toml");

    #[test]
    fn the_sample_card_is_valid() {
        let card = RateCard::parse(SAMPLE).unwrap();
        assert!(card.sample);
        assert_eq!(
            card.class_of("Akhuwat Foundation", "local_ngo"),
            Some("private")
        );
        assert_eq!(
            card.class_of("Benazir Income Support Programme", "federal_government"),
            Some(GRATIS)
        );
        assert_eq!(
            card.service_for("pmt_by_cnic", "machine")
                .map(|s| s.name.as_str()),
            Some("api_access")
        );
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            card.step_on("api_access", "government", d("2026-11-15"))
                .map(|s| s.paisa),
            Some(50)
        );
        assert_eq!(
            card.step_on("api_access", "government", d("2026-11-16"))
                .map(|s| s.paisa),
            Some(40)
        );
        assert_eq!(
            card.step_on("api_access", "government", d("2026-06-30")),
            None
        );
    }

    fn with_rates(extra: &str) -> String {
        format!("{SAMPLE}\n{extra}")
    }

    #[test]
    fn errors_name_the_line() {
        let text = with_rates(
            "[[rate]]\nservice = \"api_access\"\nclass = \"government\"\nfrom = 2026-07-01\npaisa = 7\n",
        );
        let err = RateCard::parse(&text).unwrap_err();
        let first_line = SAMPLE.lines().count() + 2;
        assert_eq!(
            err,
            RateError::Invalid {
                line: first_line,
                message: format!(
                    "api_access for government already has a rate from 2026-07-01 (line {})",
                    line_of(SAMPLE, SAMPLE.find("[[rate]]").unwrap())
                ),
            },
            "{err}"
        );
    }

    #[test]
    fn refuses_unknown_fields_and_overlapping_services() {
        let err = RateCard::parse(&with_rates("[[rate]]\nservise = \"x\"\n")).unwrap_err();
        assert!(
            matches!(&err, RateError::Syntax(m) if m.contains("servise")),
            "{err}"
        );
        let err = RateCard::parse(&with_rates(
            "[[service]]\nname = \"again\"\nsearch_types = [\"cnic\"]\n",
        ))
        .unwrap_err();
        assert!(err.to_string().contains("already priced"), "{err}");
        let err = RateCard::parse(&SAMPLE.replace("other = \"private\"\n", "")).unwrap_err();
        assert!(err.to_string().contains("\"other\""), "{err}");
        let err = RateCard::parse(&SAMPLE.replace("paisa = 40", "paisa = -40")).unwrap_err();
        assert!(err.to_string().contains("negative"), "{err}");
        let err =
            RateCard::parse(&SAMPLE.replace("from = 2026-11-16", "from = 2026-11-16T10:00:00"))
                .unwrap_err();
        assert!(err.to_string().contains("expected a date"), "{err}");
    }
}
