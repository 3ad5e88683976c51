// `sqlx::migrate!` embeds migrations/ at compile time but cannot tell Cargo
// to watch the directory: without this, a newly added migration would be
// missing from the build until some source file changed.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
