//! Canonical data contracts of the LGSP: the identifiers that appear on the
//! wire, the stable error codes of problem responses, the JSON Schemas of
//! national data with their validation, and the Rust types that match them.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod identifiers;
pub mod mappings;
pub mod problem;
pub mod records;
pub mod schemas;
pub mod vapex;

pub use identifiers::{AgencyCode, EnterpriseCode, IdentifierError, PersonalId, Slug};
pub use problem::ErrorCode;
pub use schemas::{Contract, ContractError, ContractName, InvalidRequest, Violation};
