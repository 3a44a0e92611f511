//! Rebuilds the gateway when a migration is added, because `sqlx::migrate!`
//! embeds the migrations folder at compile time.
#![forbid(unsafe_code)]

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
