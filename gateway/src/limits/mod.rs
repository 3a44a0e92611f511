//! Rate limits, quotas and priority classes (being written).
