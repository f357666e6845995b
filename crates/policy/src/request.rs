//! The inputs of a decision: who asks (role, organisation, client), how
//! (search type), and under which approved data-sharing agreement (grant).
//! All of it deserialises from JSON with `snake_case` names.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The classification of a field, from the registry's data classification
/// exercise. Ordered from least to most sensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Statistical aggregates and reports; no row field is Public.
    Public,
    /// Particulars, address, structure, assets, PMT, beneficiary status, payments, flags.
    Confidential,
    /// Beneficiary CNIC, the structure's coordinates, sensitive survey answers.
    Secret,
}

impl Class {
    /// The name the catalogue uses.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Class::Public => "public",
            Class::Confidential => "confidential",
            Class::Secret => "secret",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The role of the user inside the client organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Secret and confidential data, records in full.
    Power,
    /// Confidential data, no CNICs of other members, no row limit.
    Standard,
    /// Confidential data with identity anonymised, a 1% sample, a row limit.
    Basic,
}

impl Role {
    /// The name used in JSON.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Role::Power => "power",
            Role::Standard => "standard",
            Role::Basic => "basic",
        }
    }
}

/// How the caller searches the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchType {
    /// One household by a member's CNIC.
    Cnic,
    /// Households in an area matching parameters (disability, employment, ...).
    AddressParameters,
    /// Households in a tehsil or union council within a PMT range.
    PmtRangeAddress,
    /// The USC till's lookup: PMT score, survey date and size by CNIC.
    PmtByCnic,
    /// Complete data (every field) of a whole province or the registry: a
    /// separate service, for Power users under a grant the BISP Board approved.
    CompleteExport,
}

impl SearchType {
    /// The name used in JSON.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            SearchType::Cnic => "cnic",
            SearchType::AddressParameters => "address_parameters",
            SearchType::PmtRangeAddress => "pmt_range_address",
            SearchType::PmtByCnic => "pmt_by_cnic",
            SearchType::CompleteExport => "complete_export",
        }
    }
}

/// The kind of client organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrganisationType {
    /// A federal ministry, division or agency.
    FederalGovernment,
    /// A provincial department.
    ProvincialGovernment,
    /// A district or local government.
    LocalGovernment,
    /// An international donor.
    InternationalDonor,
    /// A national non-governmental organisation.
    LocalNgo,
    /// An international non-governmental organisation.
    Ingo,
    /// A bank, store chain or other business.
    PrivateBusiness,
    /// A private person.
    Citizen,
    /// Anything else.
    Other,
}

impl OrganisationType {
    /// The name used in JSON.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            OrganisationType::FederalGovernment => "federal_government",
            OrganisationType::ProvincialGovernment => "provincial_government",
            OrganisationType::LocalGovernment => "local_government",
            OrganisationType::InternationalDonor => "international_donor",
            OrganisationType::LocalNgo => "local_ngo",
            OrganisationType::Ingo => "ingo",
            OrganisationType::PrivateBusiness => "private_business",
            OrganisationType::Citizen => "citizen",
            OrganisationType::Other => "other",
        }
    }

    /// Federal, provincial and local government: the only organisations
    /// Secret data may go to.
    #[must_use]
    pub const fn is_government(self) -> bool {
        matches!(
            self,
            OrganisationType::FederalGovernment
                | OrganisationType::ProvincialGovernment
                | OrganisationType::LocalGovernment
        )
    }
}

/// Whether the organisation may currently be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// May be served.
    Active,
    /// Must be refused.
    Suspended,
}

/// The client organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: OrganisationType,
    /// Whether it may be served.
    pub standing: Standing,
}

/// The user who asks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caller {
    /// The user's role.
    pub role: Role,
    /// The user's organisation.
    pub organisation: Organisation,
    /// The client (organisation system) id; keys pseudonyms and the Basic sample.
    pub client_id: String,
}

/// The forum that approved a data-sharing request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Forum {
    /// Director General NSER.
    DgNser,
    /// Secretary BISP.
    SecretaryBisp,
    /// The BISP Board.
    BispBoard,
}

/// An approved data-sharing agreement.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// The search types the client may use.
    pub search_types: Vec<SearchType>,
    /// The classes of data the client may receive.
    pub classes: Vec<Class>,
    /// What the data is for (recorded, not interpreted).
    pub purpose: String,
    /// The most households one response may carry.
    pub row_quota: u64,
    /// First day the grant is in force.
    pub valid_from: NaiveDate,
    /// Last day the grant is in force (inclusive).
    pub valid_to: NaiveDate,
    /// Who approved it (recorded, not interpreted).
    pub approved_by: Forum,
}

/// One request to decide.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Who asks.
    pub caller: Caller,
    /// How.
    pub search_type: SearchType,
    /// Under which grant.
    pub grant: Grant,
}
