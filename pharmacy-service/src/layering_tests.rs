//! The layers keep to their places: `http/` and `whatsapp/` call `app/` and name nothing of
//! the storage below it (`db`, `sqlx`), so every read, write, access check and audit entry goes
//! through a use-case. The records they show are named through `app` (its re-exports).
//!
//! A text parse, not the compiler's view: line comments and the trailing `#[cfg(test)] mod
//! tests` of a file (test fixtures may build a database directly) are left out.

use std::path::{Path, PathBuf};

/// The text without line comments and without the trailing `#[cfg(test)] mod tests`.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|line| line.split_once("//").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Where `word` stands as a whole identifier in `code`.
fn words<'c>(code: &'c str, word: &'c str) -> impl Iterator<Item = usize> + 'c {
    code.match_indices(word).filter_map(move |(at, _)| {
        let before = code[..at].chars().next_back().is_some_and(is_ident);
        let after = code[at + word.len()..].chars().next().is_some_and(is_ident);
        (!before && !after).then_some(at)
    })
}

/// The lines of `code` that name the storage layer: the `sqlx` crate, or the `db` module (as
/// `db::...`, `crate::db` or inside a `use crate::{...}` group).
fn storage_names(code: &str) -> Vec<usize> {
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let mut lines: Vec<usize> = words(code, "sqlx").map(line_of).collect();
    lines.extend(
        words(code, "db")
            .filter(|&at| {
                let after = &code[at + 2..];
                let before = code[..at].trim_end();
                after.starts_with("::")
                    || before.ends_with("crate::")
                    || before.ends_with("super::")
                    || (before.ends_with(['{', ',']) && in_crate_group(&code[..at]))
            })
            .map(line_of),
    );
    lines.sort_unstable();
    lines.dedup();
    lines
}

/// Whether the text ends inside an open `crate::{` group of a use tree.
fn in_crate_group(text: &str) -> bool {
    let Some(open) = text.rfind("crate::{") else {
        return false;
    };
    let tail = &text[open..];
    tail.matches('{').count() > tail.matches('}').count() && !tail.contains(';')
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read the sources") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// `file:line` of every place under `dir` that names the storage layer.
fn offences(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    collect(dir, &mut files);
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let code = code_of(&std::fs::read_to_string(&file).expect("a source file"));
        for line in storage_names(&code) {
            found.push(format!("{}:{line}", file.display()));
        }
    }
    found
}

#[test]
fn http_and_whatsapp_name_nothing_below_app() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for layer in ["http", "whatsapp"] {
        let found = offences(&src.join(layer));
        assert!(
            found.is_empty(),
            "{layer}/ names db or sqlx (call a use-case of app/ instead): {found:#?}"
        );
    }
    // The parse sees what it must: `app/` itself uses `db` and `sqlx`.
    assert!(!offences(&src.join("app")).is_empty());
}

#[test]
fn every_form_of_naming_storage_is_seen() {
    let seen = |code: &str| !storage_names(&code_of(code)).is_empty();
    assert!(seen("use crate::db::tickets::Ticket;"));
    assert!(seen("use crate::db;"));
    assert!(seen("use crate::{app::App, db};"));
    assert!(seen("use crate::{\n    db,\n    app,\n};"));
    assert!(seen("let x = db::outbox::depth(&mut c);"));
    assert!(seen("fn f(e: &sqlx::Error) {}"));
    assert!(seen("use sqlx::SqlitePool;"));
    assert!(seen("let c = super::db::open(p);"));
    // Comments, other identifiers and test modules are not code that names storage.
    assert!(!seen("// db::outbox is below us; sqlx too"));
    assert!(!seen("let db_path = dir.join(\"db\"); let sqlx_like = 1;"));
    assert!(!seen("use crate::app::{App, Db};"));
    assert!(!seen(
        "fn f() {}\n#[cfg(test)]\nmod tests {\n    use sqlx::SqlitePool;\n}"
    ));
}
