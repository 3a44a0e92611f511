//! Upstream protocol adapters of the LGSP, and the simulators of the national
//! services that `lgsp mock`, `lgsp demo` and the tests run against.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod adapter;
pub mod error;
/// The NDOP adapter: the National Data Center's platform over mTLS, with signed requests and answers.
pub mod ndop;
/// The NDXP adapter: the national integration platform's token and calls.
pub mod ndxp;
pub mod rest;
pub mod simulators;
pub mod soap;
pub mod specs;
/// The V-APEX publisher: puts service descriptors into the national API catalogue.
pub mod vapex;

pub use adapter::{Adapter, AdapterFuture, CallContext, UpstreamCall};
pub use error::AdapterError;
