//! The decision: role x search type x organisation x grant -> a compiled
//! [`View`]. DESIGN.md's role x search table is [`treatment`]; the class gate
//! is [`class_gate`]; the most restrictive of the two wins, and whatever is
//! not explicitly shown is withheld.

use chrono::NaiveDate;

use crate::catalogue::{Catalogue, Category};
use crate::explain::Causes;
use crate::field::Entity;
use crate::mask::{MaskKind, Pseudonymiser};
use crate::request::{Class, Forum, Request, Role, SearchType, Standing};
use crate::view::{Effect, MemberSelection, Rule, View};

/// The most households one response to a Basic user may carry.
pub const BASIC_ROW_LIMIT: u64 = 100;

/// Why a request is refused outright (the API answers 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The organisation is suspended.
    #[error("the organisation is suspended")]
    OrganisationSuspended,
    /// Today is before the grant's first day.
    #[error("the grant is not in force until {valid_from}")]
    GrantNotYetValid {
        /// The grant's first day.
        valid_from: NaiveDate,
    },
    /// Today is after the grant's last day.
    #[error("the grant expired after {valid_to}")]
    GrantExpired {
        /// The grant's last day.
        valid_to: NaiveDate,
    },
    /// The grant does not allow this search type.
    #[error("the grant does not allow {} searches", search_type.name())]
    SearchTypeNotGranted {
        /// The search type asked for.
        search_type: SearchType,
    },
    /// A complete-data export needs a grant approved by the BISP Board.
    #[error("complete-data exports need a grant approved by the BISP Board")]
    BoardApprovalRequired,
    /// A complete-data export is for Power users only.
    #[error("complete-data exports are for Power users only")]
    PowerRoleRequired,
    /// Role, organisation and grant together leave no field of any record
    /// visible (e.g. a grant covering only Public data asks for rows).
    #[error("nothing the grant covers can be shown for this search")]
    NothingVisible,
}

/// The catalogue and the server secret: everything needed to decide and shape.
#[derive(Debug, Clone)]
pub struct Policy {
    catalogue: Catalogue,
    pseudonymiser: Pseudonymiser,
}

impl Policy {
    /// Puts together a loaded catalogue and the keyed pseudonymiser.
    #[must_use]
    pub fn new(catalogue: Catalogue, pseudonymiser: Pseudonymiser) -> Policy {
        Policy {
            catalogue,
            pseudonymiser,
        }
    }

    /// The catalogue in force.
    #[must_use]
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// Decides what the request may see, as of `today`.
    pub fn decide(&self, request: &Request, today: NaiveDate) -> Result<View<'_>, Refusal> {
        let (caller, grant, search) = (&request.caller, &request.grant, request.search_type);
        if caller.organisation.standing != Standing::Active {
            return Err(Refusal::OrganisationSuspended);
        }
        if today < grant.valid_from {
            return Err(Refusal::GrantNotYetValid {
                valid_from: grant.valid_from,
            });
        }
        if today > grant.valid_to {
            return Err(Refusal::GrantExpired {
                valid_to: grant.valid_to,
            });
        }
        if !grant.search_types.contains(&search) {
            return Err(Refusal::SearchTypeNotGranted {
                search_type: search,
            });
        }
        if search == SearchType::CompleteExport {
            if grant.approved_by != Forum::BispBoard {
                return Err(Refusal::BoardApprovalRequired);
            }
            if caller.role != Role::Power {
                return Err(Refusal::PowerRoleRequired);
            }
        }

        let gate = |class: Class| class_gate(request, class);
        let gates = [
            gate(Class::Public),
            gate(Class::Confidential),
            gate(Class::Secret),
        ];
        let rules: Vec<Rule> = self
            .catalogue
            .entries()
            .iter()
            .map(|entry| {
                let blocked = gates[entry.class as usize];
                let shape = match treatment(caller.role, search, entry.spec.entity, entry.category)
                {
                    Treatment::Show => Effect::Show,
                    Treatment::SearchedMemberOnly if entry.spec.entity == Entity::Member => {
                        Effect::SearchedMemberOnly
                    }
                    Treatment::Deidentify if entry.mask != MaskKind::Omit => {
                        Effect::Mask(entry.mask)
                    }
                    _ => Effect::Withhold,
                };
                let shaped = if shape == Effect::Show {
                    Causes::NONE
                } else {
                    Causes::SEARCH_SHAPE
                };
                if blocked.is_empty() {
                    Rule {
                        effect: shape,
                        causes: shaped,
                    }
                } else if shape == Effect::Withhold {
                    Rule {
                        effect: Effect::Withhold,
                        causes: blocked.with(shaped),
                    }
                } else {
                    Rule {
                        effect: Effect::Withhold,
                        causes: blocked,
                    }
                }
            })
            .collect();
        if rules.iter().all(|r| r.effect == Effect::Withhold) {
            return Err(Refusal::NothingVisible);
        }

        let basic = caller.role == Role::Basic;
        let list = matches!(
            search,
            SearchType::AddressParameters
                | SearchType::PmtRangeAddress
                | SearchType::CompleteExport
        );
        let role_limit = basic.then_some(BASIC_ROW_LIMIT);
        Ok(View::new(
            self,
            request,
            rules,
            if basic && search == SearchType::Cnic {
                MemberSelection::SearchedOnly
            } else {
                MemberSelection::All
            },
            basic && list,
            role_limit.map_or(grant.row_quota, |l| l.min(grant.row_quota)),
        ))
    }

    pub(crate) fn pseudonymiser(&self) -> &Pseudonymiser {
        &self.pseudonymiser
    }
}

/// What keeps fields of `class` from the caller, whatever the search: the
/// grant must cover the class, and Secret goes only to Power users of
/// government organisations.
fn class_gate(request: &Request, class: Class) -> Causes {
    let mut causes = Causes::NONE;
    if !request.grant.classes.contains(&class) {
        causes = causes.with(Causes::GRANT);
    }
    if class == Class::Secret {
        if request.caller.role != Role::Power {
            causes = causes.with(Causes::ROLE);
        }
        if !request.caller.organisation.kind.is_government() {
            causes = causes.with(Causes::ORGANISATION);
        }
    }
    causes
}

/// What a search shape does with a category of field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Treatment {
    /// As stored.
    Show,
    /// As stored for the member whose CNIC was searched; withheld for others.
    SearchedMemberOnly,
    /// Through the field's catalogue mask.
    Deidentify,
    /// Not at all.
    Withhold,
}

/// DESIGN.md's role x search table, per category (and, where a cell treats
/// one category differently by record, per entity): one arm per cell, each
/// listing what it shows or masks; everything else is withheld.
/// docs/policy.md explains the reading of each cell.
fn treatment(role: Role, search: SearchType, entity: Entity, category: Category) -> Treatment {
    use Category as C;
    use Entity as E;
    use SearchType as S;
    use Treatment::{Deidentify, SearchedMemberOnly, Show, Withhold};

    match (search, role) {
        // The till: PMT score, survey date and household size, whoever asks.
        (S::PmtByCnic, _) => match category {
            C::Pmt => Show,
            _ => Withhold,
        },
        // Power: everything, in full (Secret still has to pass the class gate).
        (_, Role::Power) => Show,
        // Complete data is for Power users only (refused before this table
        // is read); were it asked, nothing would show.
        (S::CompleteExport, Role::Standard | Role::Basic) => Withhold,
        // Standard by CNIC: head and members with names, address, assets,
        // PMT; the CNIC of the searched member only; age as the birth year.
        (S::Cnic, Role::Standard) => match category {
            C::Key
            | C::Name
            | C::Guardian
            | C::Person
            | C::Area
            | C::Address
            | C::Assets
            | C::Pmt => Show,
            C::Cnic => SearchedMemberOnly,
            C::Age => Deidentify,
            _ => Withhold,
        },
        // Standard lists: names, gender, relation, age, address.
        (S::AddressParameters, Role::Standard) => match category {
            C::Key | C::Name | C::Guardian | C::Person | C::Area | C::Address => Show,
            C::Age => Deidentify,
            _ => Withhold,
        },
        // ... and the PMT as a band when the search was by PMT range.
        (S::PmtRangeAddress, Role::Standard) => match category {
            C::Key | C::Name | C::Guardian | C::Person | C::Area | C::Address => Show,
            C::Age | C::Pmt => Deidentify,
            _ => Withhold,
        },
        // Basic by CNIC: name, address and PMT of the searched member only
        // (the member selection keeps just that member); never a CNIC, nor
        // the guardian's name (another person's).
        (S::Cnic, Role::Basic) => match category {
            C::Name | C::Area | C::Address | C::Pmt => Show,
            _ => Withhold,
        },
        // Basic lists (a 1% sample): the Standard list shape with the
        // household id and names as pseudonyms and the address line
        // redacted. Only the household's own id is pseudonymised: the keys of
        // other records (a member's id and household_id, and those of
        // payments and flags) are withheld, since the household pseudonym
        // and `line_no` already identify a member within the response, and
        // each further identifier could be linked across responses.
        (S::AddressParameters, Role::Basic) => match (entity, category) {
            (_, C::Person | C::Area) => Show,
            (E::Household, C::Key) | (_, C::Name | C::Guardian | C::Age | C::Address) => Deidentify,
            _ => Withhold,
        },
        (S::PmtRangeAddress, Role::Basic) => match (entity, category) {
            (_, C::Person | C::Area) => Show,
            (E::Household, C::Key) | (_, C::Name | C::Guardian | C::Age | C::Address | C::Pmt) => {
                Deidentify
            }
            _ => Withhold,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_never_gets_cnic_or_contact_in_any_search() {
        for search in [
            SearchType::Cnic,
            SearchType::AddressParameters,
            SearchType::PmtRangeAddress,
            SearchType::PmtByCnic,
            SearchType::CompleteExport,
        ] {
            for entity in Entity::ALL {
                for category in [Category::Cnic, Category::Contact] {
                    assert_eq!(
                        treatment(Role::Basic, search, entity, category),
                        Treatment::Withhold
                    );
                }
            }
        }
    }

    #[test]
    fn basic_gets_no_key_but_the_household_pseudonym() {
        for search in [
            SearchType::Cnic,
            SearchType::AddressParameters,
            SearchType::PmtRangeAddress,
            SearchType::PmtByCnic,
            SearchType::CompleteExport,
        ] {
            for entity in Entity::ALL {
                let expected = if entity == Entity::Household
                    && matches!(
                        search,
                        SearchType::AddressParameters | SearchType::PmtRangeAddress
                    ) {
                    Treatment::Deidentify
                } else {
                    Treatment::Withhold
                };
                assert_eq!(
                    treatment(Role::Basic, search, entity, Category::Key),
                    expected,
                    "{entity} key, {} search",
                    search.name()
                );
            }
        }
    }

    #[test]
    fn till_shows_only_pmt_whoever_asks() {
        for role in [Role::Power, Role::Standard, Role::Basic] {
            for category in Category::ALL {
                let expected = if category == Category::Pmt {
                    Treatment::Show
                } else {
                    Treatment::Withhold
                };
                for entity in Entity::ALL {
                    assert_eq!(
                        treatment(role, SearchType::PmtByCnic, entity, category),
                        expected
                    );
                }
            }
        }
    }
}
