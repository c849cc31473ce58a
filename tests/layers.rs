//! The module layers of DESIGN.md, checked from the sources: each top-level module of `src/`
//! may name (`crate::x`) only modules below it, so the import graph has no cycle.
//!
//! ```text
//!  server -> net -> shard -> cmd -> persist -> config -> error -> store -> resp -> num -> clock -> slot
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level modules, highest first: a module may use only modules after it.
const LAYERS: &[&str] = &[
    "server", "net", "shard", "cmd", "persist", "config", "error", "store", "resp", "num", "clock",
    "slot",
];

fn top_module(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Which top-level modules each module names, outside its tests.
fn uses() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name.contains("tests") || name == "lib.rs" || name == "main.rs" || name == "test_util.rs"
        {
            continue;
        }
        let from = top_module(&src, &f);
        let text = std::fs::read_to_string(&f).unwrap();
        // Unit tests at the end of a file may use anything.
        let text = text.split("#[cfg(test)]").next().unwrap();
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let to: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if to != from && LAYERS.contains(&to.as_str()) {
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    graph
}

#[test]
fn every_module_uses_only_layers_below_it() {
    let graph = uses();
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut upward = Vec::new();
    for (from, tos) in &graph {
        let Some(r) = rank(from) else {
            panic!("src/{from} is not in LAYERS: place it in a layer");
        };
        for to in tos {
            if rank(to).is_some_and(|t| t <= r) {
                upward.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports against the layering: {upward:?}"
    );
    // The four the transactions issue names, explicitly: no cycle among them.
    for (a, b) in [
        ("cmd", "shard"),
        ("persist", "cmd"),
        ("persist", "shard"),
        ("cmd", "net"),
        ("shard", "net"),
        ("persist", "net"),
    ] {
        assert!(
            !graph.get(a).is_some_and(|t| t.contains(b)),
            "{a} must not use {b}"
        );
    }
}
