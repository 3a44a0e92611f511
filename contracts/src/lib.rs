//! Canonical data contracts of the LGSP: the identifiers that appear on the wire,
//! the stable error codes of problem responses, and (as later issues add them)
//! the JSON Schemas of national data.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod identifiers;
pub mod problem;

pub use identifiers::{AgencyCode, EnterpriseCode, IdentifierError, PersonalId, Slug};
pub use problem::ErrorCode;
