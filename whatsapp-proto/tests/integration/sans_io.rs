//! Architecture invariant: whatsapp-proto performs no IO and never reads the clock or OS entropy.
//! Calls are refused by clippy (`whatsapp-proto/clippy.toml`); dependencies that would bring a
//! runtime in are refused here.

use std::path::Path;

fn dependency_names(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_deps = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once(['=', '.']) {
            let name = name.trim();
            if !name.is_empty() && !name.starts_with('#') {
                names.push(name.to_owned());
            }
        }
    }
    names
}

#[test]
fn no_runtime_socket_or_database_dependencies() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("manifest");
    let names = dependency_names(&manifest);
    assert!(
        names.iter().any(|n| n == "prost"),
        "the parser found no dependencies: {names:?}"
    );
    for banned in [
        "tokio",
        "tokio-tungstenite",
        "sqlx",
        "axum",
        "reqwest",
        "hyper",
        "getrandom",
        "rand",
        "mio",
    ] {
        assert!(
            !names.iter().any(|n| n == banned),
            "whatsapp-proto depends on {banned}"
        );
    }
}
