// Documented where it is declared, in `lib.rs`.

pub mod adapter;
pub mod token;

pub use adapter::{NdxpAdapter, NdxpPayload, NdxpProvince};
pub use token::{AccessToken, TokenClient, TokenError, TokenSettings, TokenSource};
