//! Upstream protocol adapters of the LGSP, and the simulators of the national
//! services that `lgsp mock`, `lgsp demo` and the tests run against.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
/// The NDXP adapter: the national integration platform's token and calls.
pub mod ndxp;
pub mod rest;
pub mod simulators;
pub mod soap;

pub use error::AdapterError;
