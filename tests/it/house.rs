//! House rules that keep weir easy to change, checked on the source tree itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The pipeline, upstream first. A module may use only modules listed before it
/// (docs/architecture.md): a dependency pointing back up the list is an import cycle in the
/// making.
const LAYERS: &[&str] = &[
    "diagnostics",
    "fsio",
    "project",
    "deps",
    "jinja",
    "parse",
    "graph",
    "sql",
    "compile",
    "engine",
    "run",
    "artifacts",
    "cli",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn modules_depend_only_downstream() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut wrong: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel.iter().next().unwrap().to_string_lossy();
        let top = top.trim_end_matches(".rs").to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let own = rank(&top).unwrap_or_else(|| {
            panic!("src/{top} is not in LAYERS: place the new module in the pipeline")
        });
        let text = std::fs::read_to_string(&file).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if let Some(other) = rank(&name) {
                if other > own {
                    wrong
                        .entry(rel.display().to_string())
                        .or_default()
                        .insert(name);
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "modules reaching back up the pipeline {LAYERS:?}: {wrong:#?}"
    );
}

/// docs/errors.md is the one list of codes (build.rs turns its tables into `Code`); a row whose
/// code nothing in `src/` reports is a stale row.
#[test]
fn every_documented_code_is_used() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let text: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let unused: Vec<&str> = weir::diagnostics::Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !text.contains(&format!("Code::{c}")))
        .collect();
    assert!(
        unused.is_empty(),
        "documented in docs/errors.md but never reported: {unused:?}"
    );
}
