//! Credentials, tokens and TLS for consumer systems (being written).
