//! A compiled view: per field Show / Mask / Withhold, which members and which
//! households, and how many; and, compiled from that, the list of fields a
//! shaped record carries (`shape.rs` applies it).

use std::fmt;
use std::ops::Range;
use std::sync::OnceLock;

use serde::Serialize;

use crate::catalogue::JsonKey;
use crate::decision::Policy;
use crate::explain::{Cause, Causes, Reason};
use crate::field::{Entity, Record};
use crate::mask::{ClientKey, MaskKind};
use crate::request::{OrganisationType, Request, Role, SearchType};
use crate::shape::{Household, Shaped};

/// What a view does with one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "effect", content = "mask", rename_all = "snake_case")]
pub enum Effect {
    /// The value as stored.
    Show,
    /// The value as stored for the member whose CNIC was searched; left out
    /// for every other member.
    SearchedMemberOnly,
    /// The field keeps its key; the value goes through the mask.
    Mask(MaskKind),
    /// The field is left out.
    Withhold,
}

/// Which members of a household a view includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberSelection {
    /// Every member.
    All,
    /// Only the member whose CNIC was searched (Basic CNIC search); none when
    /// the caller does not say which one that is.
    SearchedOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) effect: Effect,
    pub(crate) causes: Causes,
}

/// What one caller may see of the registry for one search: the output of
/// [`Policy::decide`].
pub struct View<'p> {
    policy: &'p Policy,
    role: Role,
    organisation: OrganisationType,
    search_type: SearchType,
    /// Parallel to the catalogue's entries.
    rules: Vec<Rule>,
    /// The fields a shaped record may carry, grouped by entity in
    /// `Entity::ALL` order (`op_ranges`), in the catalogue's order.
    ops: Vec<Op<'p>>,
    op_ranges: [Range<usize>; 4],
    members: MemberSelection,
    sampled: bool,
    row_limit: u64,
    client_id: String,
    /// The client's pseudonym and sample keys, derived (four HMAC
    /// computations) the first time shaping or the sample needs them: the
    /// till's view, which only reads effects, never does.
    key: OnceLock<ClientKey>,
}

impl fmt::Debug for View<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("View")
            .field("role", &self.role)
            .field("search_type", &self.search_type)
            .field("members", &self.members)
            .field("sampled", &self.sampled)
            .field("row_limit", &self.row_limit)
            .finish_non_exhaustive()
    }
}

impl<'p> View<'p> {
    pub(crate) fn new(
        policy: &'p Policy,
        request: &Request,
        rules: Vec<Rule>,
        members: MemberSelection,
        sampled: bool,
        row_limit: u64,
    ) -> View<'p> {
        let catalogue = policy.catalogue();
        let mut ops = Vec::new();
        let mut op_ranges: [Range<usize>; 4] = Default::default();
        for entity in Entity::ALL {
            let range = catalogue.range(entity);
            let start = ops.len();
            for (field, i) in range.enumerate() {
                let (Some(entry), Some(rule), Some(json_key)) = (
                    catalogue.entries().get(i),
                    rules.get(i),
                    catalogue.json_key(i),
                ) else {
                    continue;
                };
                // `omit` is a mask that withholds; the decision never asks
                // for it, and if it did the field would stay out.
                if matches!(rule.effect, Effect::Withhold | Effect::Mask(MaskKind::Omit)) {
                    continue;
                }
                ops.push(Op {
                    field,
                    name: entry.spec.name,
                    json_key,
                    effect: rule.effect,
                });
            }
            op_ranges[entity.index()] = start..ops.len();
        }
        View {
            policy,
            role: request.caller.role,
            organisation: request.caller.organisation.kind,
            search_type: request.search_type,
            rules,
            ops,
            op_ranges,
            members,
            sampled,
            row_limit,
            client_id: request.caller.client_id.clone(),
            key: OnceLock::new(),
        }
    }

    /// What the view does with a field; `None` for a field the catalogue
    /// does not know.
    #[must_use]
    pub fn effect(&self, entity: Entity, field: &str) -> Option<Effect> {
        let range = self.policy.catalogue().range(entity);
        let start = range.start;
        let entries = self.policy.catalogue().entries().get(range)?;
        let i = entries.iter().position(|e| e.spec.name == field)?;
        self.rules.get(start + i).map(|r| r.effect)
    }

    /// The most households a response may carry: the grant's quota, capped by
    /// the role's limit ([`BASIC_ROW_LIMIT`](crate::BASIC_ROW_LIMIT) for Basic).
    #[must_use]
    pub fn row_limit(&self) -> u64 {
        self.row_limit
    }

    /// Which members a shaped household includes.
    #[must_use]
    pub fn members(&self) -> MemberSelection {
        self.members
    }

    /// Whether the view serves only this client's 1% sample of households
    /// (Basic list searches).
    #[must_use]
    pub fn is_sampled(&self) -> bool {
        self.sampled
    }

    /// Whether the household may be served at all. Always true unless the
    /// view is sampled; then true for about 1% of households, the same ones
    /// for this client whatever it searches, so no sequence of queries
    /// reveals more than that 1% of the registry.
    #[must_use]
    pub fn admits(&self, household_id: i64) -> bool {
        !self.sampled || self.client_key().in_sample(household_id)
    }

    /// The household as this view lets the caller see it, ready to write
    /// as JSON with [`Shaped::write_json`] (or to serialise with serde):
    /// `{"household": {..}, "members": [..], "payments": [..], "flags": [..]}`,
    /// leaving out any entity with no visible field. `None` when the
    /// household is not in the caller's sample.
    #[must_use]
    pub fn shape<'a, H, M, P, F>(
        &'a self,
        household: Household<'a, H, M, P, F>,
    ) -> Option<Shaped<'a, H, M, P, F>>
    where
        H: Record + ?Sized,
        M: Record,
        P: Record,
        F: Record,
    {
        self.admits(household.id())
            .then(|| Shaped::new(self, household))
    }

    /// For every field that is masked, withheld or shown only for the searched
    /// member: what happens and why.
    #[must_use]
    pub fn explain(&self) -> Vec<Reason> {
        self.policy
            .catalogue()
            .entries()
            .iter()
            .zip(&self.rules)
            .filter(|(_, rule)| rule.effect != Effect::Show)
            .map(|(entry, rule)| {
                let mut causes = Vec::new();
                if rule.causes.has(Causes::GRANT) {
                    causes.push(Cause::Grant);
                }
                if rule.causes.has(Causes::ROLE) {
                    causes.push(Cause::Role { role: self.role });
                }
                if rule.causes.has(Causes::ORGANISATION) {
                    causes.push(Cause::Organisation {
                        organisation: self.organisation,
                    });
                }
                if rule.causes.has(Causes::SEARCH_SHAPE) {
                    causes.push(Cause::SearchShape {
                        role: self.role,
                        search_type: self.search_type,
                    });
                }
                Reason {
                    entity: entry.spec.entity,
                    field: entry.spec.name,
                    class: entry.class,
                    effect: rule.effect,
                    causes,
                }
            })
            .collect()
    }

    /// The fields a shaped record of `entity` may carry; empty when the
    /// entity has no visible field.
    pub(crate) fn ops(&self, entity: Entity) -> &[Op<'p>] {
        self.ops
            .get(self.op_ranges[entity.index()].clone())
            .unwrap_or_default()
    }

    pub(crate) fn client_key(&self) -> &ClientKey {
        self.key
            .get_or_init(|| self.policy.pseudonymiser().for_client(&self.client_id))
    }
}

/// One field a shaped record may carry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Op<'p> {
    /// The [`Record`] index.
    pub(crate) field: usize,
    /// The key, for serde.
    pub(crate) name: &'static str,
    /// The key as JSON text, `,"name":`.
    pub(crate) json_key: &'p JsonKey,
    /// Never `Withhold` or `Mask(Omit)`.
    pub(crate) effect: Effect,
}
