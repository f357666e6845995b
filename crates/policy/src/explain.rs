//! Why a field is masked or withheld: computed from a compiled view on
//! request (off the hot path) for the API's `?explain=true` and the access log.

use std::fmt;

use serde::Serialize;

use crate::field::Entity;
use crate::request::{Class, OrganisationType, Role, SearchType};
use crate::view::Effect;

/// Which of the four inputs restrict a field, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Causes(u8);

impl Causes {
    pub(crate) const NONE: Causes = Causes(0);
    pub(crate) const ROLE: Causes = Causes(1);
    pub(crate) const ORGANISATION: Causes = Causes(2);
    pub(crate) const GRANT: Causes = Causes(4);
    pub(crate) const SEARCH_SHAPE: Causes = Causes(8);

    pub(crate) const fn with(self, other: Causes) -> Causes {
        Causes(self.0 | other.0)
    }

    pub(crate) const fn has(self, other: Causes) -> bool {
        self.0 & other.0 == other.0
    }

    pub(crate) const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// One input that made a field masked or withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum Cause {
    /// The field's class is above the role (Secret is for Power users only).
    Role {
        /// The caller's role.
        role: Role,
    },
    /// The field's class does not go to this kind of organisation (Secret
    /// goes to government organisations only).
    Organisation {
        /// The caller's organisation type.
        organisation: OrganisationType,
    },
    /// The grant does not cover the field's class.
    Grant,
    /// The response shape DESIGN.md's table gives this role for this search
    /// type masks or leaves out the field.
    SearchShape {
        /// The caller's role.
        role: Role,
        /// The search type.
        search_type: SearchType,
    },
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Role { role } => write!(f, "the {} role may not see this class", role.name()),
            Cause::Organisation { organisation } => {
                write!(
                    f,
                    "this class does not go to a {} organisation",
                    organisation.name()
                )
            }
            Cause::Grant => f.write_str("the grant does not cover this class"),
            Cause::SearchShape { role, search_type } => write!(
                f,
                "the {} response to a {} search does not show it as stored",
                role.name(),
                search_type.name()
            ),
        }
    }
}

/// Why one field is masked or withheld.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// The field's entity.
    pub entity: Entity,
    /// The field.
    pub field: &'static str,
    /// The field's class.
    pub class: Class,
    /// What the view does with it.
    #[serde(flatten)]
    pub effect: Effect,
    /// Every input that on its own would have masked or withheld it.
    pub causes: Vec<Cause>,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{} ({}) ", self.entity, self.field, self.class)?;
        match self.effect {
            Effect::Show => f.write_str("shown")?,
            Effect::SearchedMemberOnly => f.write_str("shown for the searched member only")?,
            Effect::Mask(kind) => write!(f, "masked ({kind})")?,
            Effect::Withhold => f.write_str("withheld")?,
        }
        for (i, cause) in self.causes.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{cause}")?;
        }
        Ok(())
    }
}
