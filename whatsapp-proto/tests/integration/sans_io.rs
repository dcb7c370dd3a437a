//! Architecture invariant: whatsapp-proto performs no IO and never reads the clock or OS entropy.

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

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_clock_entropy_or_io_calls_in_the_source() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 10);
    let banned = [
        "SystemTime::now",
        "Instant::now",
        "OsRng",
        "thread_rng",
        "std::net",
        "std::fs",
        "std::process",
        "std::thread",
        "std::env",
    ];
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source");
        // Test modules may use what they like; only the library code is held to the rule.
        let library = text.split("#[cfg(test)]").next().unwrap_or_default();
        // Comments may name what production callers pass in; code may not use it.
        let code: String = library
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for word in banned {
            assert!(!code.contains(word), "{} uses {word}", file.display());
        }
    }
}
