//! The crate's modules depend on each other without a cycle: each top-level module (a file
//! or folder under `src/`) names the modules it uses through `crate::` paths (directly, or
//! through an item `lib.rs` re-exports), and that graph must be a DAG. Test code (the
//! `#[cfg(test)] mod tests` at the end of a file, and the `*_tests.rs` modules) is left out.
//!
//! A text parse, not the compiler's view: a path spelled `crate::` is all it sees (`super::`
//! inside a folder stays within its module; a top-level file does not use `super::`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

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

fn ident(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The first segment of every path in the use tree that starts `text` (what follows
/// `crate::`): `a::B` gives `a`; `{a::B, C, d::{e, f}}` gives `a`, `C`, `d`.
fn first_segments(text: &str) -> Vec<&str> {
    let Some(inner) = text.strip_prefix('{') else {
        return vec![ident(text)];
    };
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                out.push(ident(inner[start..i].trim_start()));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(ident(inner[start..i].trim_start()));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// The modules `lib.rs` declares (not test-only ones) and the names it re-exports from them.
fn modules_of(lib: &str) -> (BTreeSet<String>, BTreeMap<String, String>) {
    let mut modules = BTreeSet::new();
    let mut test_only = false;
    for line in lib.lines().map(str::trim) {
        let declared = line
            .strip_prefix("pub mod ")
            .or_else(|| line.strip_prefix("pub(crate) mod "))
            .or_else(|| line.strip_prefix("mod "))
            .and_then(|rest| rest.strip_suffix(';'));
        if let Some(name) = declared
            && !test_only
        {
            modules.insert(name.to_owned());
        }
        test_only = line == "#[cfg(test)]";
    }
    let mut exports = BTreeMap::new();
    for statement in lib.split(';') {
        let Some(path) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let module = ident(path);
        if !modules.contains(module) {
            continue;
        }
        let names = path[module.len()..].trim_start_matches("::");
        for name in names.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if !name.is_empty() {
                exports.insert(name.to_owned(), module.to_owned());
            }
        }
    }
    (modules, exports)
}

/// Adds the edges of one file of module `from` to `graph`.
fn add_edges(
    graph: &mut Graph,
    from: &str,
    code: &str,
    modules: &BTreeSet<String>,
    exports: &BTreeMap<String, String>,
) {
    let targets = graph.entry(from.to_owned()).or_default();
    for (at, _) in code.match_indices("crate::") {
        for name in first_segments(&code[at + "crate::".len()..]) {
            let module = if modules.contains(name) {
                Some(name)
            } else {
                exports.get(name).map(String::as_str)
            };
            if let Some(module) = module.filter(|m| *m != from) {
                targets.insert(module.to_owned());
            }
        }
    }
}

fn collect(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The module graph of the crate's sources under `src`.
fn graph_of(src: &Path) -> Graph {
    let lib = code_of(&std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs"));
    let (modules, exports) = modules_of(&lib);
    let mut files = Vec::new();
    collect(src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let relative = file.strip_prefix(src).expect("under src");
        let first = relative.components().next().expect("a component");
        let top = first.as_os_str().to_string_lossy();
        let top = top.strip_suffix(".rs").unwrap_or(&top);
        let test_file = relative.to_string_lossy().ends_with("tests.rs");
        if !modules.contains(top) || test_file {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&file).expect("source"));
        add_edges(&mut graph, top, &code, &modules, &exports);
    }
    graph
}

/// A cycle of `graph` as the modules along it (first = last), if there is one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit<'g>(
        graph: &'g Graph,
        node: &'g str,
        path: &mut Vec<&'g str>,
        done: &mut BTreeSet<&'g str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = path[at..].iter().map(|s| s.to_string()).collect();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(graph, next, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(graph, node, &mut Vec::new(), &mut done))
}

#[test]
fn the_module_graph_has_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph_of(&src);
    assert!(
        graph.get("context").is_some_and(|t| t.contains("store")),
        "the parse sees the context's use of the store: {graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("module cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn every_form_of_path_is_an_edge() {
    let lib = "mod a;\nmod b;\npub mod c;\n#[cfg(test)]\nmod t;\npub use b::{Bee, Buzz};\n";
    let (modules, exports) = modules_of(lib);
    assert_eq!(modules.iter().collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(exports.get("Buzz").map(String::as_str), Some("b"));
    let code = code_of(
        "use crate::{Bee, c::{x, y}};\n// crate::a in a comment\n#[cfg(test)]\nmod tests { use crate::a; }",
    );
    let mut graph = Graph::new();
    add_edges(&mut graph, "a", &code, &modules, &exports);
    let edges: Vec<_> = graph["a"].iter().map(String::as_str).collect();
    assert_eq!(
        edges,
        ["b", "c"],
        "re-exported and nested paths; comments and tests left out"
    );
}

#[test]
fn a_cycle_is_found_and_a_dag_passes() {
    let graph = |edges: &[(&str, &str)]| {
        let mut g = Graph::new();
        for (from, to) in edges {
            g.entry(from.to_string())
                .or_default()
                .insert(to.to_string());
        }
        g
    };
    let dag = graph(&[("a", "b"), ("a", "c"), ("b", "c")]);
    assert_eq!(find_cycle(&dag), None);
    let cyclic = graph(&[("a", "b"), ("b", "c"), ("c", "a")]);
    assert_eq!(
        find_cycle(&cyclic),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}
