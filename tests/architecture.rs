//! Architecture invariants, checked on the source text (like rust-analyzer's "tidy" test): the
//! dependency arrows between top-level modules, a `//!` line on every module, no I/O or GUI toolkit
//! in the pure core, and no personal data in log statements. Each rule is also shown to fail on a
//! small bad example, so a green run means something.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Which top-level modules each module may use (`crate::<module>`). Mirrors ARCHITECTURE.md.
/// Modules not listed here do not exist yet; adding one means adding its row (and a line in
/// ARCHITECTURE.md) on purpose.
const ALLOWED: &[(&str, &[&str])] = &[
    ("domain", &[]),
    ("flows", &["domain"]),
    ("ui", &["flows", "domain"]),
    ("faults", &[]),
    ("config", &["domain", "face", "faults"]),
    ("devices", &["domain", "crypto", "faults"]),
    ("face", &["domain"]),
    ("crypto", &["domain"]),
    ("store", &["domain", "crypto"]),
    ("keys", &["domain", "crypto"]),
    ("officers", &["domain"]),
    ("logs", &[]),
    ("registry", &["domain", "crypto"]),
    ("sync", &["domain", "crypto", "store", "registry"]),
    (
        "configured",
        &[
            "domain", "config", "devices", "keys", "registry", "store", "sync", "faults",
        ],
    ),
    (
        "diag",
        &[
            "domain",
            "config",
            "configured",
            "devices",
            "face",
            "crypto",
            "keys",
            "store",
            "sync",
            "registry",
            "officers",
            "logs",
            "faults",
        ],
    ),
    (
        "app",
        &[
            "ui",
            "flows",
            "domain",
            "config",
            "configured",
            "devices",
            "face",
            "crypto",
            "keys",
            "store",
            "sync",
            "registry",
            "diag",
            "officers",
            "faults",
        ],
    ),
];

/// Text that must not appear in the pure core (`domain`, `flows`): I/O, clocks, threads, toolkits.
const FORBIDDEN_IN_CORE: &[&str] = &[
    "std::fs",
    "std::net",
    "std::thread",
    "std::process",
    "SystemTime",
    "Instant::now",
    "egui",
    "eframe",
    "rusqlite",
    "tokio",
    "serialport",
    "pcsc",
    "reqwest",
];

/// Field names of personal data that must never be logged.
const PERSONAL_FIELDS: &[&str] = &[
    "name",
    "document_number",
    "birth",
    "address",
    "portrait",
    "photo",
    "embedding",
    "mrz",
];

struct Source {
    path: PathBuf,
    text: String,
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files
        .into_iter()
        .map(|path| Source {
            text: std::fs::read_to_string(&path).unwrap(),
            path: path.strip_prefix(&root).unwrap().to_path_buf(),
        })
        .collect()
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The top-level module a file belongs to (`None` for lib.rs, main.rs, main.rs's private
/// `cli_*.rs` modules and bin/: the binaries' edge, which may use anything).
fn module_of(path: &Path) -> Option<String> {
    let first = path.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "main.rs" | "bin" => None,
        cli if cli.starts_with("cli_") && cli.ends_with(".rs") => None,
        other => Some(other.trim_end_matches(".rs").to_owned()),
    }
}

/// The code of a file without its `#[cfg(test)]` module and without comments.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, line)| !line.trim_start().starts_with("#[cfg(test)]"))
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .map(|(index, line)| (index + 1, line))
}

/// Every `crate::<module>` a file names, with the line.
fn crate_uses(text: &str) -> Vec<(usize, String)> {
    let mut uses = Vec::new();
    for (number, line) in code_lines(text) {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                uses.push((number, name));
            }
            rest = after;
        }
    }
    uses
}

fn arrow_violations(path: &Path, text: &str) -> Vec<String> {
    let Some(module) = module_of(path) else {
        return Vec::new();
    };
    let Some((_, allowed)) = ALLOWED.iter().find(|(name, _)| *name == module) else {
        return vec![format!(
            "{}: module `{module}` has no row in ALLOWED (tests/architecture.rs) and ARCHITECTURE.md",
            path.display()
        )];
    };
    crate_uses(text)
        .into_iter()
        .filter(|(_, used)| *used != module && !allowed.contains(&used.as_str()))
        .map(|(line, used)| {
            format!(
                "{}:{line}: `{module}` must not use `crate::{used}`",
                path.display()
            )
        })
        .collect()
}

fn missing_module_doc(path: &Path, text: &str) -> Option<String> {
    let first = text.lines().find(|line| !line.trim().is_empty())?;
    (!first.starts_with("//!")).then(|| {
        format!(
            "{}: first line must be a `//!` saying what the module owns",
            path.display()
        )
    })
}

fn core_violations(path: &Path, text: &str) -> Vec<String> {
    let core = matches!(module_of(path).as_deref(), Some("domain" | "flows"));
    if !core {
        return Vec::new();
    }
    let mut found = Vec::new();
    for (number, line) in code_lines(text) {
        for token in FORBIDDEN_IN_CORE {
            if line.contains(token) {
                found.push(format!(
                    "{}:{number}: the pure core must not name `{token}`",
                    path.display()
                ));
            }
        }
    }
    found
}

fn logged_personal_data(path: &Path, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_log = false;
    for (number, line) in code_lines(text) {
        let trimmed = line.trim_start();
        if [
            "tracing::",
            "info!(",
            "warn!(",
            "error!(",
            "debug!(",
            "trace!(",
        ]
        .iter()
        .any(|start| trimmed.starts_with(start))
        {
            in_log = true;
        }
        if in_log {
            for field in PERSONAL_FIELDS {
                let named = trimmed.starts_with(&format!("{field} ="))
                    || trimmed.starts_with(&format!("{field},"))
                    || trimmed.contains(&format!(".{field}"))
                    || trimmed.contains(&format!("%{field}"))
                    || trimmed.contains(&format!("?{field}"));
                if named {
                    found.push(format!(
                        "{}:{number}: a log statement names personal data `{field}`",
                        path.display()
                    ));
                }
            }
        }
        if trimmed.ends_with(");") {
            in_log = false;
        }
    }
    found
}

#[test]
fn dependency_arrows_follow_the_layering() {
    let violations: Vec<String> = sources()
        .iter()
        .flat_map(|source| arrow_violations(&source.path, &source.text))
        .collect();
    assert!(
        violations.is_empty(),
        "wrong dependency arrows:\n{}",
        violations.join("\n")
    );
}

/// Files outside the two database owners (`store`, the kiosk's outbox; `registry`, whose
/// storage has a SQLite backend) that name the SQLite crate.
fn sqlite_outside_store(path: &Path, text: &str) -> Option<String> {
    let in_store = matches!(module_of(path).as_deref(), Some("store" | "registry"));
    let names_it = code_lines(text).any(|(_, line)| line.contains("rusqlite"));
    (names_it && !in_store).then(|| {
        format!(
            "{}: only `store` and `registry` may name rusqlite (they own the databases)",
            path.display()
        )
    })
}

#[test]
fn only_the_store_names_the_database_crate() {
    let violations: Vec<String> = sources()
        .iter()
        .filter_map(|source| sqlite_outside_store(&source.path, &source.text))
        .collect();
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    assert!(
        sqlite_outside_store(Path::new("app/mod.rs"), "use rusqlite::Connection;\n").is_some(),
        "the check must catch a use outside store"
    );
}

#[test]
fn every_module_says_what_it_owns() {
    let missing: Vec<String> = sources()
        .iter()
        .filter_map(|source| missing_module_doc(&source.path, &source.text))
        .collect();
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn the_pure_core_does_no_io() {
    let violations: Vec<String> = sources()
        .iter()
        .flat_map(|source| core_violations(&source.path, &source.text))
        .collect();
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn no_log_statement_names_personal_data() {
    let violations: Vec<String> = sources()
        .iter()
        .flat_map(|source| logged_personal_data(&source.path, &source.text))
        .collect();
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_architecture_document_lists_every_module() {
    let document =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
            .unwrap();
    let modules: BTreeSet<String> = sources()
        .iter()
        .filter_map(|s| module_of(&s.path))
        .collect();
    for module in modules {
        assert!(
            document.contains(&format!("`{module}`")),
            "ARCHITECTURE.md does not mention `{module}`"
        );
    }
}

// The rules themselves, on small bad examples.

#[test]
fn a_domain_file_that_uses_the_ui_is_caught() {
    let bad = "//! x\nuse crate::ui::theme::Theme;\n";
    let violations = arrow_violations(Path::new("domain/x.rs"), bad);
    assert_eq!(
        violations,
        ["domain/x.rs:2: `domain` must not use `crate::ui`"]
    );
}

#[test]
fn a_flow_that_uses_the_app_through_a_path_is_caught() {
    let bad = "//! x\nfn f() { crate::app::run(); }\n";
    assert_eq!(arrow_violations(Path::new("flows/a.rs"), bad).len(), 1);
    let good = "//! x\nuse crate::domain::language::Language;\n";
    assert!(arrow_violations(Path::new("flows/a.rs"), good).is_empty());
}

#[test]
fn a_module_with_no_row_is_caught() {
    let violations = arrow_violations(Path::new("gadgets/mod.rs"), "//! x\n");
    assert_eq!(violations.len(), 1);
}

#[test]
fn a_module_without_a_doc_line_is_caught() {
    assert!(missing_module_doc(Path::new("ui/x.rs"), "use egui;\n").is_some());
    assert!(missing_module_doc(Path::new("ui/x.rs"), "\n//! Owns x.\n").is_none());
}

#[test]
fn io_in_the_core_is_caught_but_not_in_its_tests() {
    let bad = "//! x\nfn f() { std::fs::read(\"a\"); }\n#[cfg(test)]\nmod tests { fn g() { std::fs::read(\"b\"); } }\n";
    assert_eq!(core_violations(Path::new("domain/x.rs"), bad).len(), 1);
    assert!(core_violations(Path::new("store/x.rs"), bad).is_empty());
}

#[test]
fn logging_a_name_is_caught() {
    let bad = "//! x\nfn f() {\n    tracing::info!(\n        name = %holder.name,\n        \"read\"\n    );\n}\n";
    assert!(!logged_personal_data(Path::new("devices/x.rs"), bad).is_empty());
    let good = "//! x\nfn f() { tracing::info!(record_id = %id, \"committed\"); }\n";
    assert!(logged_personal_data(Path::new("devices/x.rs"), good).is_empty());
}

/// Lines of `text` that open an `unsafe` block or allow `unsafe_code`, outside the two places
/// that need it: `face/cnn/exec.rs`, where an `unsafe` block must be preceded (within five lines)
/// by the feature check, and `store/wal_vfs.rs` (SQLite's C VFS interface), where it must be
/// preceded (within five lines) by a `// SAFETY:` comment.
fn unsafe_outside_dispatch(path: &Path, text: &str) -> Vec<String> {
    let justification = if path == Path::new("face/cnn/exec.rs") {
        Some("is_x86_feature_detected!")
    } else if path == Path::new("store/wal_vfs.rs") {
        Some("// SAFETY:")
    } else {
        None
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut violations = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let opens_unsafe = code.contains("unsafe {");
        let declares_unsafe = code.contains("unsafe fn") || code.contains("unsafe extern");
        let allows = code.contains("allow(unsafe_code)");
        if !(opens_unsafe || declares_unsafe || allows) {
            continue;
        }
        let justified = justification.is_some_and(|needle| {
            lines[index.saturating_sub(5)..=index]
                .iter()
                .any(|l| l.contains(needle))
        });
        if justification.is_none() || (opens_unsafe && !justified) {
            violations.push(format!("{}:{}: {}", path.display(), index + 1, line.trim()));
        }
    }
    violations
}

#[test]
fn unsafe_code_lives_only_in_the_simd_dispatch_and_the_wal_vfs_each_block_justified() {
    let violations: Vec<String> = sources()
        .iter()
        .flat_map(|source| unsafe_outside_dispatch(&source.path, &source.text))
        .collect();
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    assert!(
        !unsafe_outside_dispatch(Path::new("store/mod.rs"), "let p = unsafe { x() };\n").is_empty(),
        "the check must catch unsafe elsewhere"
    );
    assert!(
        !unsafe_outside_dispatch(
            Path::new("face/cnn/exec.rs"),
            "fn f() {\n    unsafe { run() }\n}\n"
        )
        .is_empty(),
        "the check must catch an unchecked call in the dispatch"
    );
    assert!(
        !unsafe_outside_dispatch(
            Path::new("store/wal_vfs.rs"),
            "fn f() {\n    let n = 1;\n    unsafe { write() }\n}\n"
        )
        .is_empty(),
        "the check must catch an unjustified block in the VFS"
    );
    assert!(
        unsafe_outside_dispatch(
            Path::new("store/wal_vfs.rs"),
            "fn f() {\n    // SAFETY: the file is open.\n    unsafe { write() }\n}\n"
        )
        .is_empty(),
        "a justified block in the VFS passes"
    );
}
