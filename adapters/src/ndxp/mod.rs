// Documented where it is declared, in `lib.rs`.

pub mod token;

pub use token::{AccessToken, TokenClient, TokenError, TokenSettings, TokenSource};
