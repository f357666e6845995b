//! `POST /v1/search/households` (address + parameters, PMT range + address)
//! and `POST /v1/exports/complete` (complete data, Board-approved grants):
//! JSON pages with a signed cursor, or, with `Accept: application/x-ndjson`
//! or `text/csv`, the whole result streamed.
//!
//! A streamed answer is logged ahead, chunk by chunk: the access record of
//! a chunk of households is committed before the chunk is handed to the
//! connection, so no row leaves unlogged, and a client that stops reading
//! is billed only for the chunks it was handed (a chunk committed but never
//! handed over is taken back by a correcting record).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::stream::Stream;
use policy::SearchType;
use serde::Deserialize;
use store::search::Search;
use store::spare::Spare;

use crate::audit::Audit;
use crate::error::ApiError;
use crate::identity::{authenticate, grant_for, quota_allows, rows_served, GrantInForce};
use crate::search::{parse_filter, pmt_range, Cursors, SearchBody, Unit};
use crate::server::AppState;

/// Households per JSON page: default and most.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1_000;
/// Households per streamed chunk (one access record each).
const CHUNK: usize = 1_000;
/// Ids read per keyset step when scanning (Basic samples skip most).
const SCAN: i64 = 5_000;
/// Ids read per step when streaming.
const ID_PAGE: i64 = 50_000;
/// Chunks of a stream read at once (each on its own connection).
const READERS: usize = 2;

/// How the answer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Page,
    Ndjson,
    Csv,
}

fn format(req: &HttpRequest) -> Format {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("application/x-ndjson") {
        Format::Ndjson
    } else if accept.contains("text/csv") {
        Format::Csv
    } else {
        Format::Page
    }
}

/// Households of an area that match typed parameters, or whose PMT score
/// lies in a range, shaped by the policy for the caller. JSON pages by
/// default; the whole result as NDJSON or CSV with the matching `Accept`.
#[utoipa::path(
    post,
    path = "/v1/search/households",
    tag = "agencies",
    request_body = crate::search::SearchBody,
    security(("mtls" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "A page `{search_type, households, next_cursor, total?}`; or every matching household, one JSON object per line (application/x-ndjson) or one CSV line per member (text/csv)", body = Object),
        (status = 400, description = "Unknown field, operator or value; malformed area, range or cursor", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid, expired or foreign token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Search type not granted, area outside the user's geography, quota exhausted", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limit exceeded", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The registry or the access log is unavailable", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn households(
    req: HttpRequest,
    body: Result<web::Json<SearchBody>, actix_web::Error>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut audit = Audit::new("list", "POST /v1/search/households");
    let plan = plan(
        &req,
        body.map(web::Json::into_inner),
        &state,
        &mut audit,
        false,
    )
    .await;
    answer(req, plan, state, audit).await
}

/// The body of `POST /v1/exports/complete`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteExport {
    /// A province code; absent: the whole registry.
    pub province: Option<i32>,
}

/// Every field of every household of a province or of the whole registry,
/// streamed (NDJSON or CSV): a separate service, for Power users under a
/// grant the BISP Board approved for `complete_export`.
#[utoipa::path(
    post,
    path = "/v1/exports/complete",
    tag = "agencies",
    request_body = CompleteExport,
    security(("mtls" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Every household, one JSON object per line (application/x-ndjson) or one CSV line per member (text/csv)"),
        (status = 400, description = "Unknown province, or no streaming Accept header", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a Power user, grant not approved by the BISP Board, quota", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn complete(
    req: HttpRequest,
    body: Result<web::Json<CompleteExport>, actix_web::Error>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut audit = Audit::new("complete_export", "POST /v1/exports/complete");
    let body = body.map(|b| SearchBody {
        area: crate::search::AreaIn {
            province: b.province,
            ..Default::default()
        },
        parameters: None,
        pmt_min: None,
        pmt_max: None,
        page_size: None,
        cursor: None,
        count: false,
    });
    let plan = plan(&req, body, &state, &mut audit, true).await;
    answer(req, plan, state, audit).await
}

/// Everything decided before the registry is read for rows.
struct Plan {
    grant: GrantInForce,
    request: policy::Request,
    search: Search,
    format: Format,
    page_size: usize,
    after_id: i64,
    count: bool,
    digest: [u8; 16],
    /// Rows served under the grant when the request was planned.
    served: i64,
}

async fn answer(
    req: HttpRequest,
    plan: Result<Plan, ApiError>,
    state: web::Data<AppState>,
    audit: Audit,
) -> Result<HttpResponse, ApiError> {
    let plan = match plan {
        Ok(p) => p,
        Err(e) => return audit.finish(&req, &state, Err(e)).await,
    };
    if plan.format == Format::Page {
        let mut audit = audit;
        let outcome = page(&state, &plan, &mut audit).await;
        return audit.finish(&req, &state, outcome).await;
    }
    // Streams: a result larger than what the quota allows is refused
    // before anything is sent, never cut short. Basic users get at most the
    // role's limit of their sample.
    let total = {
        let state = state.clone();
        let (search, request) = (plan.search.clone(), plan.request.clone());
        web::block(move || count_visible(&state, &search, &request, 0)).await
    };
    // A failure here is answered, and logged, like any refusal.
    let total = match total.map_err(ApiError::from).and_then(|t| t) {
        Ok(t) => t,
        Err(e) => return audit.finish(&req, &state, Err(e)).await,
    };
    let sendable = if plan.request.caller.role == policy::Role::Basic {
        total.min(policy::BASIC_ROW_LIMIT)
    } else {
        total
    };
    if let Err(e) = quota_allows(&plan.grant, plan.served, sendable) {
        let mut audit = audit;
        audit.rows(0);
        return audit.finish(&req, &state, Err(e)).await;
    }
    let content_type = if plan.format == Format::Csv {
        "text/csv; charset=utf-8"
    } else {
        "application/x-ndjson"
    };
    let stream = Export::start(req, state, plan, audit, sendable);
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(stream))
}

fn decide<'s>(
    state: &'s AppState,
    request: &policy::Request,
) -> Result<policy::View<'s>, ApiError> {
    Ok(state
        .policy
        .decide(request, chrono::Utc::now().date_naive())?)
}

/// Who asks, what, under which grant; every step noted in the record.
#[allow(
    clippy::too_many_lines,
    reason = "one linear sequence of checks, each logged as learned"
)]
async fn plan(
    req: &HttpRequest,
    body: Result<SearchBody, actix_web::Error>,
    state: &AppState,
    audit: &mut Audit,
    complete: bool,
) -> Result<Plan, ApiError> {
    let caller = authenticate(req, state).await?;
    audit.caller(&caller);
    let body = body.map_err(|e| ApiError::extraction(&e))?;
    let format = format(req);
    if complete && format == Format::Page {
        return Err(ApiError::BadRequest(
            "complete-data exports stream: send Accept: application/x-ndjson or text/csv".into(),
        ));
    }
    audit.parameter("area", serde_json::to_value(&body.area).unwrap_or_default());
    let search_type = if complete {
        SearchType::CompleteExport
    } else {
        match (&body.parameters, body.pmt_min.is_some() || body.pmt_max.is_some()) {
            (Some(_), true) => {
                return Err(ApiError::BadRequest(
                    "give either parameters (address + parameters search) or pmt_min/pmt_max (PMT range + address search), not both".into(),
                ))
            }
            (Some(_), false) => SearchType::AddressParameters,
            (None, true) => SearchType::PmtRangeAddress,
            (None, false) => {
                return Err(ApiError::BadRequest(
                    "give parameters (address + parameters search) or pmt_min/pmt_max (PMT range + address search)".into(),
                ))
            }
        }
    };
    audit.search_type(search_type.name());
    let filter = body.parameters.as_ref().map(parse_filter).transpose()?;
    if let Some(p) = &body.parameters {
        audit.parameter("parameters", p.clone());
    }
    let pmt = if search_type == SearchType::PmtRangeAddress {
        let range = pmt_range(body.pmt_min, body.pmt_max)?;
        audit.parameter("pmt", serde_json::json!([range.0, range.1]));
        Some(range)
    } else {
        None
    };
    let page_size = body.page_size.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&page_size) {
        return Err(ApiError::BadRequest(format!(
            "page_size: expected 1 to {MAX_PAGE}"
        )));
    }
    // The area: it must exist, nest, and lie inside the user's geography.
    let scope = caller
        .user
        .as_ref()
        .and_then(|u| u.tehsil_code.or(u.district_code));
    let mut codes = body.area.codes();
    codes.extend(scope);
    let units = {
        let pool = state.pool.clone();
        web::block(move || -> Result<Vec<Unit>, store::StoreError> {
            let mut conn = pool.get()?;
            units_with_ancestors(&mut conn, codes)
        })
        .await??
    };
    let area = if complete && body.area.province.is_none() {
        None
    } else {
        Some(body.area.resolve(&units)?)
    };
    if search_type == SearchType::PmtRangeAddress {
        check_pmt_level(area, caller.role())?;
    }
    if let Some(scope) = scope {
        if !area.is_some_and(|a| crate::search::within_scope(&units, a, scope)) {
            return Err(ApiError::forbidden(
                "outside-geography",
                format!("this user may search only inside area {scope}"),
            ));
        }
    }
    let search = Search {
        area,
        village: body.area.village.clone(),
        filter,
        pmt,
    };
    let grant = grant_for(state, caller.client.org.id, search_type).await?;
    audit.grant(&grant);
    let request = policy::Request {
        caller: caller.policy_caller()?,
        search_type,
        grant: grant.grant.clone(),
    };
    audit.policy_shape(state, &request);
    decide(state, &request)?;
    let caller_key = format!(
        "{}/{}",
        caller.client.id,
        caller.user.as_ref().map_or(0, |u| u.id)
    );
    let digest = Cursors::digest(&search, search_type.name(), &caller_key);
    let after_id = match &body.cursor {
        Some(c) => state.cursors.open(c, &digest)?,
        None => 0,
    };
    let served = rows_served(state, &grant).await?;
    quota_allows(&grant, served, 1)?;
    Ok(Plan {
        grant,
        request,
        search,
        format,
        page_size: page_size as usize,
        after_id,
        count: body.count,
        digest,
        served,
    })
}

/// PMT ranges are searched within a tehsil or union council (DESIGN.md's
/// table); Power users may also search a whole district (docs/search.md).
fn check_pmt_level(
    area: Option<store::registry::Area>,
    role: policy::Role,
) -> Result<(), ApiError> {
    use store::registry::Area;
    match (area, role) {
        (Some(Area::Tehsil(_) | Area::UnionCouncil(_)), _)
        | (Some(Area::District(_)), policy::Role::Power) => Ok(()),
        _ => Err(ApiError::BadRequest(
            "a PMT range is searched within a tehsil or union council (Power users: also a district); name one in area".into(),
        )),
    }
}

/// The named units and every unit above them.
fn units_with_ancestors(
    conn: &mut store::DbConn,
    mut codes: Vec<i32>,
) -> Result<Vec<Unit>, store::StoreError> {
    let mut units: Vec<Unit> = Vec::new();
    for _ in 0..4 {
        codes.retain(|c| !units.iter().any(|u| u.0 == *c));
        if codes.is_empty() {
            break;
        }
        let found = store::search::geo_units(conn, &codes)?;
        codes = found.iter().filter_map(|u| u.parent_code).collect();
        units.extend(found.into_iter().map(|u| (u.code, u.level, u.parent_code)));
    }
    Ok(units)
}

/// Matching households this caller may see (all, or its Basic sample), after `after_id`.
fn count_visible(
    state: &AppState,
    search: &Search,
    request: &policy::Request,
    after_id: i64,
) -> Result<u64, ApiError> {
    let view = decide(state, request)?;
    let mut conn = state.pool.get().map_err(store::StoreError::from)?;
    if !view.is_sampled() && after_id == 0 {
        let n = store::search::count(&mut conn, search)?;
        return Ok(u64::try_from(n).unwrap_or(0));
    }
    let mut scan = ScanState::streaming(after_id);
    let mut n = 0u64;
    while scan.more() {
        // One id page at a time: `want` 1 reads exactly one.
        scan.fill(&mut conn, &view, search, 1, SCAN)?;
        n += scan.queued.len() as u64;
        scan.queued.clear();
    }
    Ok(n)
}

/// Shape `records` into `out` as JSON objects (separated by `sep`) or CSV lines.
fn shape_into(
    view: &policy::View<'_>,
    records: &store::search::Records,
    format: Format,
    out: &mut Vec<u8>,
) -> u64 {
    let mut rows = 0;
    records.each(|r| {
        let household = policy::Household::new(r.id, &r.household)
            .with_members(r.members, None)
            .with_payments(r.payments)
            .with_flags(r.flags);
        let Some(shaped) = view.shape(household) else {
            return;
        };
        match format {
            Format::Csv => shaped.write_csv(out),
            Format::Ndjson => {
                shaped.write_json(out);
                out.push(b'\n');
            }
            Format::Page => {
                out.push(b',');
                shaped.write_json(out);
            }
        }
        rows += 1;
    });
    rows
}

/// One JSON page.
async fn page(
    state: &web::Data<AppState>,
    plan: &Plan,
    audit: &mut Audit,
) -> Result<HttpResponse, ApiError> {
    let view_limit = decide(state, &plan.request)?.row_limit();
    let want = plan
        .page_size
        .min(usize::try_from(view_limit).unwrap_or(usize::MAX));
    let (body, rows, last_id, more) = {
        let state = state.clone();
        let (search, request, after, format) = (
            plan.search.clone(),
            plan.request.clone(),
            plan.after_id,
            plan.format,
        );
        web::block(move || -> Result<_, ApiError> {
            let view = decide(&state, &request)?;
            let mut conn = state.pool.get().map_err(store::StoreError::from)?;
            // One id more than the page, to know whether another page follows.
            let step = if view.is_sampled() {
                SCAN
            } else {
                i64::try_from(want).unwrap_or(SCAN) + 1
            };
            let mut scan = ScanState::after(after);
            scan.fill(&mut conn, &view, &search, want + 1, step)?;
            let ids = scan.take(want);
            let more = scan.more();
            let records = store::search::records(&mut conn, &ids)?;
            let mut body = Vec::with_capacity(ids.len() * 1024 + 256);
            let rows = shape_into(&view, &records, format, &mut body);
            Ok((body, rows, ids.last().copied(), more))
        })
        .await??
    };
    quota_allows(&plan.grant, plan.served, rows)?;
    let total = if plan.count {
        let state = state.clone();
        let (search, request) = (plan.search.clone(), plan.request.clone());
        Some(web::block(move || count_visible(&state, &search, &request, 0)).await??)
    } else {
        None
    };
    let next = match (more, last_id) {
        (true, Some(id)) => Some(state.cursors.issue(id, &plan.digest)),
        _ => None,
    };
    audit.rows(i64::try_from(rows).unwrap_or(i64::MAX));
    let mut out = Vec::with_capacity(body.len() + 256);
    out.extend_from_slice(b"{\"search_type\":\"");
    out.extend_from_slice(plan.request.search_type.name().as_bytes());
    out.extend_from_slice(b"\",\"households\":[");
    out.extend_from_slice(body.get(1..).unwrap_or_default());
    out.extend_from_slice(b"],\"next_cursor\":");
    match next {
        Some(c) => {
            out.push(b'"');
            out.extend_from_slice(c.as_bytes());
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
    if let Some(t) = total {
        out.extend_from_slice(format!(",\"total\":{t}").as_bytes());
    }
    out.push(b'}');
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(out))
}

/// A streamed export in progress.
///
/// Ids come in id order from one scan; chunks of them are read and shaped
/// on the blocking pool, [`READERS`] at a time, while the chunk before them
/// is logged and sent, and are sent in order.
struct Export {
    req: HttpRequest,
    state: web::Data<AppState>,
    plan: Arc<Plan>,
    template: Arc<Audit>,
    /// Visible ids not yet handed to a reader.
    scan: ScanState,
    /// Chunks being read, oldest first.
    reads: VecDeque<actix_web::rt::task::JoinHandle<Result<Chunk, ApiError>>>,
    /// Chunk reads started.
    started: u32,
    /// Ids handed to readers: never more than `limit`.
    taken: u64,
    part: u32,
    limit: u64,
    done: bool,
    /// Rows of a chunk whose record is committed (or being committed) but
    /// that was not yet handed to the connection.
    pending: u64,
}

impl Export {
    fn start(
        req: HttpRequest,
        state: web::Data<AppState>,
        plan: Plan,
        audit: Audit,
        limit: u64,
    ) -> Pin<Box<dyn Stream<Item = Result<Bytes, ApiError>>>> {
        let export = Export {
            req,
            state,
            scan: ScanState::streaming(plan.after_id),
            reads: VecDeque::new(),
            started: 0,
            taken: 0,
            plan: Arc::new(plan),
            template: Arc::new(audit),
            part: 0,
            limit,
            done: false,
            pending: 0,
        };
        Box::pin(futures_util::stream::unfold(export, |mut e| async move {
            match e.next_chunk().await {
                Ok(Some(bytes)) => Some((Ok(bytes), e)),
                Ok(None) => None,
                Err(err) => {
                    tracing::error!(error = %err, "export stopped");
                    e.done = true;
                    Some((Err(err), e))
                }
            }
        }))
    }

    /// Start chunk reads until [`READERS`] are in flight, the limit is
    /// handed out or the scan is done. The first read is always started
    /// (an empty result still gets its record, and CSV its header).
    async fn start_reads(&mut self) -> Result<(), ApiError> {
        while self.reads.len() < READERS && (self.taken < self.limit || self.started == 0) {
            let want = usize::try_from(self.limit - self.taken)
                .unwrap_or(usize::MAX)
                .min(CHUNK);
            if self.scan.queued.len() < want && !self.scan.exhausted {
                // Next page of ids, off the async worker (once per ID_PAGE).
                let (state, plan) = (self.state.clone(), self.plan.clone());
                let mut scan = std::mem::replace(&mut self.scan, ScanState::after(0));
                self.scan = web::block(move || -> Result<ScanState, ApiError> {
                    let view = decide(&state, &plan.request)?;
                    let mut conn = state.pool.get().map_err(store::StoreError::from)?;
                    scan.fill(&mut conn, &view, &plan.search, want, ID_PAGE)?;
                    Ok(scan)
                })
                .await??;
            }
            let ids = self.scan.take(want);
            if ids.is_empty() && self.started > 0 {
                break;
            }
            self.taken += ids.len() as u64;
            let first = self.started == 0;
            self.started += 1;
            let (state, plan) = (self.state.clone(), self.plan.clone());
            self.reads
                .push_back(actix_web::rt::task::spawn_blocking(move || {
                    read_chunk(&state, &plan, &ids, first)
                }));
            if !self.scan.more() {
                break;
            }
        }
        Ok(())
    }

    /// The next chunk, logged; `None` at the end. Later chunks are read
    /// while this one's record commits and it is sent.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, ApiError> {
        loop {
            if self.done {
                return Ok(None);
            }
            self.start_reads().await?;
            let Some(handle) = self.reads.pop_front() else {
                self.done = true;
                return Ok(None);
            };
            let chunk = handle.await.map_err(|_| ApiError::Unavailable)??;
            self.start_reads().await?;
            let rows = chunk.rows;
            if rows == 0 && self.part > 0 {
                continue;
            }
            // Log ahead: the chunk leaves only once its record is committed.
            self.pending = rows;
            let mut record = (*self.template).clone();
            record.parameter("part", self.part.into());
            record.rows(i64::try_from(rows).unwrap_or(i64::MAX));
            let ok = HttpResponse::Ok().finish();
            if let Err(e) = record.finish(&self.req, &self.state, Ok(ok)).await {
                self.pending = 0;
                return Err(e);
            }
            self.pending = 0;
            self.part += 1;
            if self.reads.is_empty() && !(self.scan.more() && self.taken < self.limit) {
                self.done = true;
            }
            return Ok(Some(Bytes::from_owner(chunk.bytes)));
        }
    }
}

/// Where a scan stands: visible ids read ahead of the chunks (at most one
/// id page), the last id read, and whether all have been read. A stream
/// reads the ids of a search with conditions in one pass
/// ([`store::search::id_set`]) and takes them from that; a JSON page, or a
/// search the id set does not serve, reads keyset pages of ids.
struct ScanState {
    queued: VecDeque<i64>,
    scanned_to: i64,
    exhausted: bool,
    /// The rest of the matching ids, once read in one pass.
    set: Option<store::search::IdSet>,
    /// Keyset pages only (a JSON page, or no id set for this search).
    paged: bool,
}

impl ScanState {
    /// Keyset pages of ids after `id`.
    fn after(id: i64) -> Self {
        ScanState {
            queued: VecDeque::new(),
            scanned_to: id,
            exhausted: false,
            set: None,
            paged: true,
        }
    }

    /// The ids after `id` for a stream: in one pass where it serves.
    fn streaming(id: i64) -> Self {
        ScanState {
            paged: false,
            ..ScanState::after(id)
        }
    }

    /// Read ids, `step` at a time (from the id set, or one indexed scan
    /// each), until `want` visible ones are queued or every match has been
    /// read.
    fn fill(
        &mut self,
        conn: &mut store::DbConn,
        view: &policy::View<'_>,
        search: &Search,
        want: usize,
        step: i64,
    ) -> Result<(), ApiError> {
        if self.set.is_none() && !self.paged {
            self.set = store::search::id_set(conn, search, self.scanned_to)?;
            self.paged = self.set.is_none();
        }
        while self.queued.len() < want && !self.exhausted {
            let page = if let Some(set) = self.set.as_mut() {
                let page = set.take(usize::try_from(step).unwrap_or(usize::MAX));
                self.exhausted = set.is_empty();
                page
            } else {
                let page = store::search::ids(conn, search, self.scanned_to, step)?;
                self.exhausted = i64::try_from(page.len()).unwrap_or(i64::MAX) < step;
                page
            };
            if let Some(&last) = page.last() {
                self.scanned_to = last;
            }
            self.queued
                .extend(page.into_iter().filter(|id| view.admits(*id)));
        }
        Ok(())
    }

    /// The first `n` queued ids (fewer at the end).
    fn take(&mut self, n: usize) -> Vec<i64> {
        self.queued.drain(..n.min(self.queued.len())).collect()
    }

    /// Whether visible households may follow what was taken.
    fn more(&self) -> bool {
        !self.queued.is_empty() || !self.exhausted
    }
}

/// One chunk, shaped.
struct Chunk {
    bytes: Out,
    rows: u64,
}

/// Spare answer buffers of streamed chunks (`store::spare`): the chunks
/// read ahead, the one being logged and those the connection still holds,
/// for two exports at once.
static OUT: Spare<Vec<u8>> = Spare::new(8);

/// The most an answer buffer may hold and be kept.
const OUT_MOST_KEPT: usize = 16 << 20;

/// A chunk's answer; its buffer goes back to [`OUT`] once the connection
/// has written it (it is the owner of the [`Bytes`] handed over).
struct Out(Vec<u8>);

impl AsRef<[u8]> for Out {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        OUT.give(std::mem::take(&mut self.0), OUT_MOST_KEPT);
    }
}

/// Read and shape the households `ids` (the first chunk of a CSV export
/// starts with the header).
fn read_chunk(state: &AppState, plan: &Plan, ids: &[i64], first: bool) -> Result<Chunk, ApiError> {
    let view = decide(state, &plan.request)?;
    let mut conn = state.pool.get().map_err(store::StoreError::from)?;
    let records = store::search::records(&mut conn, ids)?;
    let mut bytes = Out(OUT.take().unwrap_or_default());
    bytes.0.reserve(ids.len() * 4096 + 1024);
    if first && plan.format == Format::Csv {
        view.write_csv_header(&mut bytes.0);
    }
    let rows = shape_into(&view, &records, plan.format, &mut bytes.0);
    Ok(Chunk { bytes, rows })
}

impl Drop for Export {
    fn drop(&mut self) {
        if self.pending > 0 {
            // The client went away while this chunk's record was being
            // committed: the chunk was never handed over, so take its rows
            // back with a correcting record (status 499, negative rows).
            let mut record = (*self.template).clone();
            record.parameter("part", self.part.into());
            record.parameter(
                "correction",
                "chunk not sent: client closed the connection".into(),
            );
            record.rows(-i64::try_from(self.pending).unwrap_or(i64::MAX));
            record.submit(&self.req, &self.state, 499);
        }
    }
}
