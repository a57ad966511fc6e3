//! Rebuilds the crate when a schema migration changes, because `sqlx::migrate!` embeds the
//! migration files at compile time and cargo would not otherwise notice an edited `.sql` file.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
