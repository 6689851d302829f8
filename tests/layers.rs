//! The layering of `docs/architecture.md`, checked from the imports: a module may use what sits
//! at its own layer or below it, never above. Reads every `crate::MODULE` path in the sources
//! (comments, where intra-doc links may point anywhere, are skipped).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Top-level modules, bottom first. Modules on one row form one layer (the engines and the
/// runtime their handlers call into are one).
const LAYERS: &[&[&str]] = &[
    &["base"],
    &["proto"],
    &["http"],
    &["app"],
    &["middleware"],
    &["server"],
    &["metrics"],
    &["connection"],
    &["tls"],
    &["testing"],
    &["engine", "rt", "websocket"],
    &["demo"],
    &["hosting"],
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`src/server/listen.rs` → `server`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_owned())
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut upward = BTreeSet::new();
    let mut checked = 0;
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let Some(own) = rank(&module) else {
            // lib.rs, main.rs: the crate root and the binary sit above everything.
            assert!(
                ["lib", "main"].contains(&module.as_str()),
                "{} is in no layer: add its module to LAYERS",
                file.display()
            );
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for (i, _) in code.match_indices("crate::") {
                let rest = &code[i + "crate::".len()..];
                let used: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                // `crate::Name` (a re-export at the root) names no module.
                let Some(theirs) = rank(&used) else { continue };
                checked += 1;
                if theirs > own {
                    upward.insert(format!(
                        "{}:{}: {module} uses crate::{used}",
                        file.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} imports found: is the scan broken?"
    );
    assert!(
        upward.is_empty(),
        "imports from a higher layer:\n{}",
        upward.into_iter().collect::<Vec<_>>().join("\n")
    );
}
