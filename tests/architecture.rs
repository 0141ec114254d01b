//! The module edges of `src/` agree with the allowed list in docs/architecture.md.
//!
//! Every `crate::` path in the code (a `use`, a `use crate::{…}` group, a path in an
//! expression, a macro's `$crate::`) is an edge from the top-level module of its file to the
//! top-level module it names. The test fails on an edge the doc does not allow, and on an
//! allowed edge the code no longer has, so that the doc and the code cannot drift apart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Edges = BTreeMap<String, BTreeSet<String>>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file under `src/` belongs to; `None` for the crate roots.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_string())
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The modules named right after each `crate::`, including every member of a
/// `crate::{a::x, b}` group (nested groups name no new top-level module).
fn targets(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        // `hookgate_crate::` or `mycrate::` are not this crate.
        if before.is_some_and(|c| is_ident_char(c) && c != '$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut member = String::new();
            let mut members = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => members.push(std::mem::take(&mut member)),
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if depth >= 1 && !(c == ',' && depth == 1) {
                    member.push(c);
                }
            }
            members.push(member);
            for m in members {
                let name: String = m
                    .trim_start()
                    .chars()
                    .take_while(|&c| is_ident_char(c))
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest.chars().take_while(|&c| is_ident_char(c)).collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// The edges the code has: top-level module → the other top-level modules it names.
fn code_edges() -> Edges {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges = Edges::new();
    for file in files {
        let Some(from) = module_of(&src, &file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        // Comments (doc links included) are not dependencies.
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .map(|l| format!("{l}\n"))
            .collect();
        for to in targets(&code) {
            if to != from && to != "self" {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    edges
}

/// The allowed edges: the lines `from -> to to …` of the ```` ```edges ```` block of
/// docs/architecture.md.
fn doc_edges() -> Edges {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let block = doc
        .split("```edges\n")
        .nth(1)
        .expect("docs/architecture.md has an ```edges block")
        .split("```")
        .next()
        .unwrap();
    let mut edges = Edges::new();
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        let (from, to) = line
            .split_once("->")
            .unwrap_or_else(|| panic!("not `from -> to …`: {line:?}"));
        let set = edges.entry(from.trim().to_string()).or_default();
        set.extend(to.split_whitespace().map(str::to_string));
    }
    edges
}

fn pairs(edges: &Edges) -> BTreeSet<(String, String)> {
    edges
        .iter()
        .flat_map(|(from, tos)| tos.iter().map(move |to| (from.clone(), to.clone())))
        .collect()
}

#[test]
fn every_module_edge_is_one_the_architecture_doc_allows() {
    let code = pairs(&code_edges());
    let doc = pairs(&doc_edges());
    let unlisted: Vec<String> = code
        .difference(&doc)
        .map(|(f, t)| format!("{f} -> {t}"))
        .collect();
    let unused: Vec<String> = doc
        .difference(&code)
        .map(|(f, t)| format!("{f} -> {t}"))
        .collect();
    assert!(
        unlisted.is_empty(),
        "edges the code has and docs/architecture.md does not allow: {unlisted:#?}"
    );
    assert!(
        unused.is_empty(),
        "edges docs/architecture.md lists that the code no longer has (remove them): {unused:#?}"
    );
}

#[test]
fn the_edge_reader_sees_groups_paths_and_macro_paths() {
    let code = "use crate::{api::AppState, store::{Store, RunRow}, wake};\n\
                let x = crate::domain::time::now_ms();\n\
                $crate::store::compress::pack(b);\n\
                use othercrate::x;";
    let found: Vec<String> = targets(code).into_iter().collect();
    assert_eq!(found, ["api", "domain", "store", "wake"]);
}
