//! The service catalogue: registering a service from its OpenAPI or WSDL
//! specification, searching what is registered, and describing a service to
//! V-APEX (the descriptor and its conformance lint).

pub mod descriptor;
pub mod import;
pub mod search;
