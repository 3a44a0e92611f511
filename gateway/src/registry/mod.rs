//! The service registry: the declared entities, the in-memory snapshot the
//! data plane routes on, and the loop that keeps it in step with the store.

pub mod consumers;
pub mod model;
pub mod reload;
pub mod snapshot;
