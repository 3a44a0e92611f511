//! The LGSP gateway library: listeners, the request pipeline, the registry
//! snapshot and the store. The `lgsp` binary is a thin shell over it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
pub mod admin;
pub mod apply;
pub mod audit;
pub mod catalogue;
pub mod channels;
pub mod config;
pub mod demo;
pub mod health;
pub mod kpi;
pub mod limits;
pub mod maintenance;
pub mod metrics;
pub mod oauth;
pub mod pipeline;
pub mod problem;
pub mod publication;
pub mod registry;
pub mod reuse;
pub mod server;
pub mod service_health;
pub mod store;
pub mod telemetry;
pub mod traces;
pub mod upstream;
