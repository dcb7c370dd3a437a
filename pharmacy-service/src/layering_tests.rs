//! Checks that the layers keep to their places (ARCHITECTURE.md, `pharmacy-service/`):
//!
//! - `http/`, `whatsapp/` and `alerts/` call `app/` and name nothing of the storage below it:
//!   not the `db` module, not the `sqlx` crate, not the `App`'s pool (`.pool()`). So every
//!   read, write, access check and audit entry goes through a use-case. The records they show
//!   are named through `app` (its re-exports).
//! - `app/` opens its write transactions with `App::begin` (`BEGIN IMMEDIATE`), never the
//!   pool's deferred `begin()`.
//!
//! A text parse, not the compiler's view. Comments and the contents of string and character
//! literals are blanked first, so neither a `// db::` remark nor a `"https://..."` counts or
//! confuses it. A test module is left out, since test fixtures may build a database directly:
//! an inline `#[cfg(test)] mod name { ... }` (up to its matching brace; the code after it is
//! checked) and the file of an out-of-line `#[cfg(test)] mod name;`. Nothing else is left out:
//! a `#[cfg(test)]` function or `use`, a module named `tests` without `#[cfg(test)]`, or one
//! under another `cfg` are checked like any code.

use std::path::{Path, PathBuf};

/// `text` with comments and the contents of string and character literals replaced by spaces
/// (newlines kept, so lines and offsets stay as they were).
fn blanked(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let ident = |i: usize| i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map_or(b.len(), |n| i + n);
                blank(&mut out, i, end);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                // Block comments nest in Rust.
                let (mut depth, mut j) = (1, i + 2);
                while j < b.len() && depth > 0 {
                    if b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
                        depth += 1;
                        j += 2;
                    } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
                        depth -= 1;
                        j += 2;
                    } else {
                        j += 1;
                    }
                }
                blank(&mut out, i, j);
                i = j;
            }
            b'r' if !ident(i) && matches!(b.get(i + 1), Some(b'"' | b'#')) => {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                if b.get(i + 1 + hashes) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let start = i + 2 + hashes;
                let end = text[start..].find(&close).map_or(b.len(), |n| start + n);
                blank(&mut out, start, end);
                i = end + close.len();
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                blank(&mut out, i + 1, j);
                i = j + 1;
            }
            b'\'' => {
                // A character literal (`'{'`, `'\''`, `'ب'`) or a lifetime (`'a`).
                let len = if b.get(i + 1) == Some(&b'\\') {
                    text[i + 2..].find('\'').map(|n| n + 2)
                } else {
                    text[i + 1..]
                        .chars()
                        .next()
                        .map(char::len_utf8)
                        .filter(|&n| b.get(i + 1 + n) == Some(&b'\''))
                        .map(|n| n + 1)
                };
                match len {
                    Some(n) => {
                        blank(&mut out, i + 1, i + n);
                        i += n + 1;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    String::from_utf8(out).expect("only ASCII bytes were written over whole characters")
}

/// Where the block opened at `open` (a `{`) closes, in blanked code.
fn block_end(code: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in code[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The test modules of blanked `code`: inline ones as byte ranges (attribute to closing
/// brace), out-of-line ones by name.
fn test_modules(code: &str) -> (Vec<(usize, usize)>, Vec<String>) {
    let (mut inline, mut files) = (Vec::new(), Vec::new());
    for (at, attr) in code.match_indices("#[cfg(test)]") {
        let mut rest = &code[at + attr.len()..];
        // Further attributes of the same item (`#[allow(...)]`).
        loop {
            rest = rest.trim_start();
            match rest
                .strip_prefix("#[")
                .and_then(|r| r.find(']').map(|n| &r[n + 1..]))
            {
                Some(after) => rest = after,
                None => break,
            }
        }
        let Some(after_mod) = rest.strip_prefix("mod") else {
            continue;
        };
        if !after_mod.starts_with(char::is_whitespace) {
            continue;
        }
        let after_mod = after_mod.trim_start();
        let name_len = after_mod
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(after_mod.len());
        let (name, tail) = after_mod.split_at(name_len);
        let tail = tail.trim_start();
        if name.is_empty() {
            continue;
        }
        if tail.starts_with(';') {
            files.push(name.to_owned());
        } else if tail.starts_with('{') {
            let open = code.len() - tail.len();
            if let Some(close) = block_end(code, open) {
                inline.push((at, close + 1));
            }
        }
    }
    (inline, files)
}

/// The code of a file as the checks read it: blanked, its inline test modules removed (as
/// spaces, so lines keep their numbers).
fn code_of(text: &str) -> String {
    let code = blanked(text);
    let mut out = code.clone().into_bytes();
    for (from, to) in test_modules(&code).0 {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    }
    String::from_utf8(out).expect("ASCII over ASCII")
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

fn line_of(code: &str, at: usize) -> usize {
    code[..at].matches('\n').count() + 1
}

/// The lines of `code` that name the storage layer: the `sqlx` crate, the `db` module (as
/// `db::...`, `crate::db` or inside a `use crate::{...}` group), or the `App`'s pool.
fn storage_names(code: &str) -> Vec<usize> {
    let mut lines: Vec<usize> = words(code, "sqlx").map(|at| line_of(code, at)).collect();
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
            .map(|at| line_of(code, at)),
    );
    lines.extend(
        words(code, "pool")
            .filter(|&at| code[..at].trim_end().ends_with('.'))
            .map(|at| line_of(code, at)),
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

/// The `.rs` files under `dir`, the files of out-of-line test modules left out.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read the sources") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                walk(&path, files);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    let texts: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).expect("a source file");
            (f, text)
        })
        .collect();
    let mut tests = Vec::new();
    for (file, text) in &texts {
        // `a/mod.rs`'s `mod t;` is `a/t.rs`; `a/b.rs`'s is `a/b/t.rs` (or `.../t/mod.rs`).
        let parent = file.parent().expect("a directory");
        let dir = match file.file_stem().and_then(|s| s.to_str()) {
            Some("mod" | "lib" | "main") => parent.to_path_buf(),
            Some(stem) => parent.join(stem),
            None => continue,
        };
        for name in test_modules(&blanked(text)).1 {
            tests.push(dir.join(format!("{name}.rs")));
            tests.push(dir.join(&name).join("mod.rs"));
        }
    }
    texts
        .into_iter()
        .filter(|(f, _)| !tests.contains(f))
        .collect()
}

/// `file:line` of every place under `dir` that names the storage layer.
fn offences(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for (file, text) in sources(dir) {
        for line in storage_names(&code_of(&text)) {
            found.push(format!("{}:{line}", file.display()));
        }
    }
    found
}

#[test]
fn http_whatsapp_and_alerts_name_nothing_below_app() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for layer in ["http", "whatsapp", "alerts"] {
        let found = offences(&src.join(layer));
        assert!(
            found.is_empty(),
            "{layer}/ names db, sqlx or the pool (call a use-case of app/ instead): {found:#?}"
        );
    }
    // The parse sees what it must: `app/` itself uses `db` and `sqlx`.
    assert!(!offences(&src.join("app")).is_empty());
}

/// A use-case's write transaction is `App::begin` (`BEGIN IMMEDIATE`: the write lock up front,
/// so writers queue on the busy timeout), never the pool's deferred `begin()`.
#[test]
fn use_cases_write_through_begin_immediate() {
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/app");
    let mut found = Vec::new();
    for (file, text) in sources(&app) {
        let code = code_of(&text);
        for (at, _) in code.match_indices(".pool().begin()") {
            found.push(format!("{}:{}", file.display(), line_of(&code, at)));
        }
    }
    assert!(
        found.is_empty(),
        "app/ opens a deferred transaction (use self.begin()): {found:#?}"
    );
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
    assert!(seen("let c = app.pool().acquire().await?;"));
    assert!(seen("let c = self.app\n    .pool()\n    .acquire();"));
    // A string with `//` in it hides nothing after it.
    assert!(seen(r#"let u = "https://x"; db::push::all(c);"#));
    // Comments, literals and other identifiers are not code that names storage.
    assert!(!seen("// db::outbox is below us; sqlx too"));
    assert!(!seen("/* db::outbox /* nested */ sqlx */ let x = 1;"));
    assert!(!seen(r#"let s = "db::outbox and sqlx"; let c = 'd';"#));
    assert!(!seen(r##"let s = r#"db::x "quoted" sqlx"#;"##));
    assert!(!seen(
        "let db_path = dir.join(\"db\"); let sqlx_like = 1; let pool = 2;"
    ));
    assert!(!seen("use crate::app::{App, Db};"));
}

#[test]
fn only_real_test_modules_are_left_out() {
    let seen = |code: &str| !storage_names(&code_of(code)).is_empty();
    // A `#[cfg(test)]` module is left out, to its closing brace, whatever its braces hold.
    assert!(!seen(
        "fn f() {}\n#[cfg(test)]\nmod tests {\n    use sqlx::SqlitePool;\n    let s = \"}\"; let c = '}';\n    fn g() { db::x(); }\n}"
    ));
    assert!(!seen(
        "#[cfg(test)]\n#[allow(clippy::x)]\nmod fixtures { use crate::db; }"
    ));
    // The code after it is checked.
    assert!(seen(
        "#[cfg(test)]\nmod tests {\n    fn t() {}\n}\n\nfn later() { db::tickets::by_id(); }"
    ));
    // Not test modules: a module named `tests` without `#[cfg(test)]`, one under another
    // `cfg`, a `#[cfg(test)]` function or `use`.
    assert!(seen("mod tests {\n    use sqlx::SqlitePool;\n}"));
    assert!(seen("#[cfg(not(test))]\nmod tests { use crate::db; }"));
    assert!(seen(
        "#[cfg(any(test, feature = \"x\"))]\nmod t { use crate::db; }"
    ));
    assert!(seen("#[cfg(test)]\nfn helper() { db::x(); }"));
    assert!(seen("#[cfg(test)]\nuse crate::db;"));
    // An out-of-line test module is named, for its file to be left out.
    let (inline, files) = test_modules(&blanked("#[cfg(test)]\nmod bridge_tests;\nmod real;"));
    assert!(inline.is_empty());
    assert_eq!(files, ["bridge_tests"]);
}
