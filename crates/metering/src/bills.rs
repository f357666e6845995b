//! Bills, computed without I/O: a period's usage priced by the rate card, one
//! line per organisation, service and rate segment, with totals and a
//! reconciliation against the access log's own totals. A closed period is
//! rebuilt from its stored lines instead. Money is integer paisa throughout.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::{self, Write as _};

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use serde::{Serialize, Serializer};
use store::access::{ClientSystem, Organisation};
use store::audit::UsageRow;
use store::billing::{CloseSnapshot, ClosedPeriod, LogTotals, NewLine, StoredLine};

use crate::rates::{RateCard, RateStep, GRATIS};

/// What can go wrong building a bill.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillError {
    /// The period is not a month written `YYYY-MM`.
    #[error("period {0:?}: expected a month such as 2026-11")]
    BadPeriod(String),
    /// An amount does not fit in 64 bits of paisa.
    #[error("the amount for organisation {organisation_id}, service {service} overflows")]
    Overflow {
        organisation_id: i64,
        service: String,
    },
}

/// A billing period: one calendar month, in UTC (the log's clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    first: NaiveDate,
}

impl Period {
    /// Parse `YYYY-MM`.
    pub fn parse(s: &str) -> Result<Self, BillError> {
        let bad = || BillError::BadPeriod(s.to_owned());
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        NaiveDate::from_ymd_opt(year, month, 1)
            .map(|first| Self { first })
            .ok_or_else(bad)
    }

    /// The month `day` falls in.
    #[must_use]
    pub fn containing(day: NaiveDate) -> Self {
        Self {
            first: day.with_day(1).unwrap_or(day),
        }
    }

    #[must_use]
    pub fn first_day(self) -> NaiveDate {
        self.first
    }

    /// The first day of the next month (the period is `[first_day, end)`).
    #[must_use]
    pub fn end(self) -> NaiveDate {
        self.first
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(NaiveDate::MAX)
    }

    #[must_use]
    pub fn last_day(self) -> NaiveDate {
        self.end().pred_opt().unwrap_or(self.first)
    }

    #[must_use]
    pub fn contains(self, day: NaiveDate) -> bool {
        self.first <= day && day < self.end()
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.first.year(), self.first.month())
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A line's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// Rows served, priced by the rate card.
    Charge,
    /// A correction added to a closed period.
    Adjustment,
}

impl LineKind {
    fn name(self) -> &'static str {
        match self {
            Self::Charge => "charge",
            Self::Adjustment => "adjustment",
        }
    }
}

/// One line: an organisation, a service and a rate segment (or an adjustment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub kind: LineKind,
    pub organisation_id: i64,
    pub organisation: String,
    pub rate_class: String,
    pub service: String,
    /// First and last day (inclusive) the line's rate covers within the period.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub requests: i64,
    pub rows: i64,
    /// Paisa per `per_rows` rows.
    pub rate_paisa: i64,
    pub per_rows: i64,
    pub amount_paisa: i64,
    pub note: String,
}

/// Whether the period is still computed from usage or read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Closed,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub requests: i64,
    pub rows: i64,
    pub charges_paisa: i64,
    pub adjustments_paisa: i64,
    pub total_paisa: i64,
}

/// The bill against the access log: equal, or by how much they differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    pub log_requests: i64,
    pub log_rows: i64,
    pub billed_requests: i64,
    pub billed_rows: i64,
    /// Log minus bill.
    pub requests_difference: i64,
    pub rows_difference: i64,
    pub equal: bool,
    pub statement: String,
}

/// A bill for one period (all organisations, or one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bill {
    pub period: Period,
    pub status: Status,
    pub closed_at: Option<NaiveDateTime>,
    pub rate_card: String,
    /// The rates are samples, not Board-approved.
    pub sample_rates: bool,
    pub organisation: Option<i64>,
    pub lines: Vec<Line>,
    pub totals: Totals,
    pub reconciliation: Reconciliation,
    /// Usage the card could not price (billed at zero meanwhile); a bill with
    /// warnings is not closed.
    pub warnings: Vec<String>,
}

#[derive(Default)]
struct Acc {
    organisation: String,
    class: String,
    to: Option<NaiveDate>,
    requests: i64,
    rows: i64,
    step: Option<RateStep>,
    note: &'static str,
}

/// The segment of the period a step covers: from the later of its date and
/// the period's start, to the day before the next step or the period's end.
fn segment(
    steps: &[RateStep],
    day: NaiveDate,
    period: Period,
) -> (Option<RateStep>, NaiveDate, NaiveDate) {
    let i = steps.iter().rposition(|s| s.from <= day);
    let next = i.map_or(0, |i| i + 1);
    let to = steps
        .get(next)
        .and_then(|s| s.from.pred_opt())
        .map_or(period.last_day(), |d| d.min(period.last_day()));
    match i {
        Some(i) => (Some(steps[i]), steps[i].from.max(period.first_day()), to),
        None => (None, period.first_day(), to),
    }
}

/// `rows * paisa / per_rows`, rounded half up, per line.
fn amount(rows: i64, step: Option<RateStep>) -> Option<i64> {
    let Some(step) = step else { return Some(0) };
    let per = i128::from(step.per_rows);
    let value = (i128::from(rows) * i128::from(step.paisa) * 2 + per) / (2 * per);
    i64::try_from(value).ok()
}

/// How one usage row is priced.
struct Priced {
    service: String,
    class: String,
    step: Option<RateStep>,
    from: NaiveDate,
    to: NaiveDate,
    note: &'static str,
}

/// The service, class and rate segment of one usage row; what cannot be
/// priced is billed at zero and noted in `warnings`.
fn price(
    card: &RateCard,
    period: Period,
    u: &UsageRow,
    name: &str,
    class: Option<&str>,
    kind: &str,
    warnings: &mut BTreeSet<String>,
) -> Priced {
    let service = card.service_for(&u.search_type, kind);
    let (service, class, step, from, to, note) = match (class, service) {
        (None, _) => {
            warnings.insert(format!(
                "organisation {} ({name}) has a type the rate card does not price",
                u.organisation_id
            ));
            let s =
                service.map_or_else(|| format!("unpriced:{}", u.search_type), |s| s.name.clone());
            (
                s,
                "unknown".to_owned(),
                None,
                period.first_day(),
                period.last_day(),
                "no rate class",
            )
        }
        (Some(class), None) => {
            warnings.insert(format!(
                "search type {:?} from {kind} client systems is on no service of the rate card",
                u.search_type
            ));
            (
                format!("unpriced:{}", u.search_type),
                class.to_owned(),
                None,
                period.first_day(),
                period.last_day(),
                "no service",
            )
        }
        (Some(GRATIS), Some(s)) => (
            s.name.clone(),
            GRATIS.to_owned(),
            None,
            period.first_day(),
            period.last_day(),
            "gratis: counted, not charged",
        ),
        (Some(class), Some(s)) => {
            let (step, from, to) = segment(card.steps(&s.name, class), u.day, period);
            let note = if step.is_none() {
                warnings.insert(format!(
                    "{} for class {class} has no rate in force on {}",
                    s.name, u.day
                ));
                "no rate in force"
            } else {
                ""
            };
            (s.name.clone(), class.to_owned(), step, from, to, note)
        }
    };
    Priced {
        service,
        class,
        step,
        from,
        to,
        note,
    }
}

/// The bill of an open period, computed from its usage.
pub fn open_bill(
    period: Period,
    card: &RateCard,
    usage: &[UsageRow],
    organisations: &[Organisation],
    clients: &[ClientSystem],
    log: LogTotals,
    organisation: Option<i64>,
) -> Result<Bill, BillError> {
    let orgs: HashMap<i64, &Organisation> = organisations.iter().map(|o| (o.id, o)).collect();
    let kinds: HashMap<i64, &str> = clients.iter().map(|c| (c.id, c.kind.as_str())).collect();
    let mut warnings = BTreeSet::new();
    let mut acc: BTreeMap<(i64, String, NaiveDate), Acc> = BTreeMap::new();
    for u in usage {
        if !period.contains(u.day) || organisation.is_some_and(|o| o != u.organisation_id) {
            continue;
        }
        let (name, class) = match orgs.get(&u.organisation_id) {
            Some(o) => (o.name.clone(), card.class_of(&o.name, &o.org_type)),
            None => (format!("organisation #{}", u.organisation_id), None),
        };
        let kind = kinds.get(&u.client_system_id).copied().unwrap_or("unknown");
        let Priced {
            service: service_name,
            class: class_name,
            step,
            from,
            to,
            note,
        } = price(card, period, u, &name, class, kind, &mut warnings);
        let a = acc
            .entry((u.organisation_id, service_name, from))
            .or_insert_with(|| Acc {
                organisation: name,
                class: class_name,
                to: Some(to),
                step,
                note,
                ..Acc::default()
            });
        a.requests += u.requests;
        a.rows += u.rows_returned;
    }
    let mut lines = Vec::with_capacity(acc.len());
    for ((organisation_id, service, from), a) in acc {
        let amount_paisa = amount(a.rows, a.step).ok_or_else(|| BillError::Overflow {
            organisation_id,
            service: service.clone(),
        })?;
        lines.push(Line {
            kind: LineKind::Charge,
            organisation_id,
            organisation: a.organisation,
            rate_class: a.class,
            service,
            from: Some(from),
            to: a.to,
            requests: a.requests,
            rows: a.rows,
            rate_paisa: a.step.map_or(0, |s| s.paisa),
            per_rows: a.step.map_or(1, |s| s.per_rows),
            amount_paisa,
            note: a.note.to_owned(),
        });
    }
    let totals = totals(&lines)?;
    let reconciliation = reconcile(log, &totals, None);
    Ok(Bill {
        period,
        status: Status::Open,
        closed_at: None,
        rate_card: card.title.clone(),
        sample_rates: card.sample,
        organisation,
        lines,
        totals,
        reconciliation,
        warnings: warnings.into_iter().collect(),
    })
}

/// The bill of a closed period, read back from its stored lines; reconciled
/// with the log as it is now, so rows logged after the close show.
#[must_use]
pub fn closed_bill(
    period: Period,
    closed: &ClosedPeriod,
    stored: &[StoredLine],
    log: LogTotals,
    organisation: Option<i64>,
) -> Bill {
    let lines: Vec<Line> = stored
        .iter()
        .filter(|l| organisation.is_none_or(|o| o == l.organisation_id))
        .map(|l| Line {
            kind: if l.kind == "adjustment" {
                LineKind::Adjustment
            } else {
                LineKind::Charge
            },
            organisation_id: l.organisation_id,
            organisation: l.organisation_name.clone(),
            rate_class: l.rate_class.clone(),
            service: l.service.clone(),
            from: l.segment_from,
            to: l.segment_to,
            requests: l.requests,
            rows: l.rows,
            rate_paisa: l.rate_paisa,
            per_rows: l.per_rows,
            amount_paisa: l.amount_paisa,
            note: l.note.clone(),
        })
        .collect();
    // Stored amounts were checked when written; saturate rather than fail a read.
    let totals = totals(&lines).unwrap_or_default();
    let at_close = organisation.is_none().then_some(closed);
    let reconciliation = reconcile(log, &totals, at_close);
    Bill {
        period,
        status: Status::Closed,
        closed_at: Some(closed.closed_at),
        rate_card: closed.rate_card.clone(),
        sample_rates: closed.sample_rates,
        organisation,
        lines,
        totals,
        reconciliation,
        warnings: Vec::new(),
    }
}

fn totals(lines: &[Line]) -> Result<Totals, BillError> {
    let (mut requests, mut rows, mut charges, mut adjustments) = (0i128, 0i128, 0i128, 0i128);
    for l in lines {
        match l.kind {
            LineKind::Charge => {
                requests += i128::from(l.requests);
                rows += i128::from(l.rows);
                charges += i128::from(l.amount_paisa);
            }
            LineKind::Adjustment => adjustments += i128::from(l.amount_paisa),
        }
    }
    let fit = |v: i128| {
        i64::try_from(v).map_err(|_| BillError::Overflow {
            organisation_id: 0,
            service: "total".into(),
        })
    };
    Ok(Totals {
        requests: fit(requests)?,
        rows: fit(rows)?,
        charges_paisa: fit(charges)?,
        adjustments_paisa: fit(adjustments)?,
        total_paisa: fit(charges + adjustments)?,
    })
}

fn reconcile(log: LogTotals, totals: &Totals, at_close: Option<&ClosedPeriod>) -> Reconciliation {
    let requests_difference = log.requests - totals.requests;
    let rows_difference = log.rows - totals.rows;
    let equal = requests_difference == 0 && rows_difference == 0;
    let mut statement = if equal {
        format!(
            "equal to the access log: {} requests, {} rows",
            log.requests, log.rows
        )
    } else {
        format!(
            "differs from the access log: the log holds {rows_difference} rows and \
             {requests_difference} requests more than the bill (log {} requests, {} rows; \
             bill {} requests, {} rows)",
            log.requests, log.rows, totals.requests, totals.rows
        )
    };
    if let Some(c) = at_close {
        if !equal && c.log_rows == c.billed_rows && c.log_requests == c.billed_requests {
            let _ = write!(
                statement,
                "; the bill equalled the log when the period was closed at {}: \
                 the difference was logged since, bill it with an adjustment line",
                c.closed_at.format("%Y-%m-%d %H:%M:%S UTC")
            );
        }
    }
    Reconciliation {
        log_requests: log.requests,
        log_rows: log.rows,
        billed_requests: totals.requests,
        billed_rows: totals.rows,
        requests_difference,
        rows_difference,
        equal,
        statement,
    }
}

impl Bill {
    /// The charge lines, as the store writes them when the period is closed.
    #[must_use]
    pub fn charge_lines(&self) -> Vec<NewLine> {
        self.lines
            .iter()
            .filter(|l| l.kind == LineKind::Charge)
            .map(|l| NewLine {
                organisation_id: l.organisation_id,
                organisation_name: l.organisation.clone(),
                rate_class: l.rate_class.clone(),
                service: l.service.clone(),
                requests: l.requests,
                rows: l.rows,
                rate_paisa: l.rate_paisa,
                per_rows: l.per_rows,
                amount_paisa: l.amount_paisa,
                segment_from: l.from,
                segment_to: l.to,
                note: l.note.clone(),
            })
            .collect()
    }

    /// What the closed-period record keeps of this bill.
    #[must_use]
    pub fn close_snapshot(&self) -> CloseSnapshot {
        CloseSnapshot {
            log: LogTotals {
                requests: self.reconciliation.log_requests,
                rows: self.reconciliation.log_rows,
            },
            billed_requests: self.totals.requests,
            billed_rows: self.totals.rows,
            rate_card: self.rate_card.clone(),
            sample_rates: self.sample_rates,
        }
    }

    /// The bill as CSV: a header, the lines, a `total` line and a
    /// `reconciliation` line (then any `warning` lines).
    #[must_use]
    pub fn to_csv(&self) -> String {
        let status = match self.status {
            Status::Open => "open",
            Status::Closed => "closed",
        };
        let period = self.period.to_string();
        let mut out = String::from(
            "period,status,kind,organisation_id,organisation,rate_class,service,from,to,\
             requests,rows,rate_paisa,per_rows,amount_paisa,note\n",
        );
        let day = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
        for l in &self.lines {
            row(
                &mut out,
                &[
                    &period,
                    status,
                    l.kind.name(),
                    &l.organisation_id.to_string(),
                    &text(&l.organisation),
                    &text(&l.rate_class),
                    &text(&l.service),
                    &day(l.from),
                    &day(l.to),
                    &l.requests.to_string(),
                    &l.rows.to_string(),
                    &l.rate_paisa.to_string(),
                    &l.per_rows.to_string(),
                    &l.amount_paisa.to_string(),
                    &text(&l.note),
                ],
            );
        }
        let total_note = format!(
            "charges {} paisa, adjustments {} paisa{}",
            self.totals.charges_paisa,
            self.totals.adjustments_paisa,
            if self.sample_rates {
                "; SAMPLE rates, not Board-approved"
            } else {
                ""
            }
        );
        let summary =
            |out: &mut String, kind: &str, requests: i64, rows: i64, amount: &str, note: &str| {
                let (requests, rows) = (requests.to_string(), rows.to_string());
                row(
                    out,
                    &[
                        &period,
                        status,
                        kind,
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        &requests,
                        &rows,
                        "",
                        "",
                        amount,
                        &text(note),
                    ],
                );
            };
        let t = &self.totals;
        summary(
            &mut out,
            "total",
            t.requests,
            t.rows,
            &t.total_paisa.to_string(),
            &total_note,
        );
        let r = &self.reconciliation;
        summary(
            &mut out,
            "reconciliation",
            r.log_requests,
            r.log_rows,
            "",
            &r.statement,
        );
        for w in &self.warnings {
            summary(&mut out, "warning", 0, 0, "", w);
        }
        out
    }
}

/// A text cell: a leading `=`, `+`, `-` or `@` is neutralised so a
/// spreadsheet never runs it as a formula.
fn text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

fn row(out: &mut String, cells: &[&str]) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if c.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&c.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(c);
        }
    }
    out.push('\n');
}

/// What can go wrong exporting a bill.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Bill(#[from] BillError),
}

/// The bill of `period` (all organisations, or one), reconciled with the log.
pub fn export(
    conn: &mut store::DbConn,
    card: &RateCard,
    period: Period,
    organisation: Option<i64>,
) -> Result<Bill, ExportError> {
    let name = period.to_string();
    let data =
        store::billing::period_data(conn, &name, period.first_day(), period.end(), organisation)?;
    Ok(match &data.closed {
        Some(closed) => closed_bill(period, closed, &data.lines, data.log, organisation),
        None => open_bill(
            period,
            card,
            &data.usage,
            &data.organisations,
            &data.clients,
            data.log,
            organisation,
        )?,
    })
}
