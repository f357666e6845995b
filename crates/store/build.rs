//! The migrations are embedded at compile time (`embed_migrations!`), which
//! sees a new migration's directory only if the crate is rebuilt: tell Cargo
//! to rebuild when anything under `migrations/` changes.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
