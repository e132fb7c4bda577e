//! Architecture invariants Cargo cannot enforce, checked on the workspace's source text and
//! manifests (like rust-analyzer's "tidy" test): which workspace crates each crate may depend on
//! (Cargo enforces the arrows it is given; this keeps the map itself from drifting), a `//!` line
//! on every module, no I/O through `std` in the pure core, no personal data in log statements,
//! named threads, and `unsafe` only in the executor crate. Each rule is also shown to fail on a
//! small bad example, so a green run means something.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Which workspace crates each crate may depend on (`[dependencies]`, not dev-dependencies).
/// Mirrors the crate map in ARCHITECTURE.md; a new crate needs its row here on purpose.
const ALLOWED: &[(&str, &[&str])] = &[
    ("enroll-core", &[]),
    ("enroll-cnn", &[]),
    ("enroll-credential", &[]),
    (
        "enroll-idverify",
        &["enroll-credential", "enroll-devices", "enroll-sim"],
    ),
    ("enroll-crypto", &["enroll-core"]),
    ("enroll-face", &["enroll-core", "enroll-cnn"]),
    ("enroll-devices", &["enroll-core", "enroll-crypto"]),
    ("enroll-store", &["enroll-core", "enroll-crypto"]),
    ("enroll-protocol", &["enroll-core", "enroll-crypto"]),
    (
        "enroll-sync",
        &[
            "enroll-core",
            "enroll-crypto",
            "enroll-store",
            "enroll-protocol",
        ],
    ),
    (
        "enroll-registry",
        &[
            "enroll-core",
            "enroll-crypto",
            "enroll-protocol",
            "enroll-credential",
        ],
    ),
    (
        "enroll-sim",
        &["enroll-core", "enroll-crypto", "enroll-devices"],
    ),
    // The fault suite's tools (tests and scripts/soak.sh): no enroll crate at all.
    ("enroll-faults", &[]),
    (
        "enroll-kiosk",
        &[
            "enroll-core",
            "enroll-crypto",
            "enroll-face",
            "enroll-devices",
            "enroll-store",
            "enroll-protocol",
            "enroll-sync",
            "enroll-sim",
            "enroll-registry",
        ],
    ),
];

/// Outside crates only some workspace crates may depend on: the pure core takes data crates only;
/// the databases belong to their owners; the GUI toolkit to the two screens (the kiosk application
/// and the verifier's).
const OWNED_DEPENDENCIES: &[(&str, &[&str])] = &[
    ("rusqlite", &["enroll-store", "enroll-registry"]),
    ("postgres", &["enroll-registry"]),
    ("egui", &["enroll-kiosk", "enroll-idverify"]),
    ("eframe", &["enroll-kiosk", "enroll-idverify"]),
    ("axum", &["enroll-registry"]),
];

/// The only outside crates the pure core may name.
const CORE_DEPENDENCIES: &[&str] = &["serde", "serde_json", "thiserror"];

/// Text that must not appear in the pure core: the I/O that `std` offers to every crate.
const FORBIDDEN_IN_CORE: &[&str] = &[
    "std::fs",
    "std::net",
    "std::thread",
    "std::process",
    "std::env",
    "SystemTime",
    "Instant::now",
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

/// The one crate allowed `unsafe` code.
const UNSAFE_CRATE: &str = "crates/cnn";

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A crate of the workspace: its folder (relative to the root) and its manifest.
struct Crate {
    dir: PathBuf,
    manifest: toml::Table,
}

impl Crate {
    fn name(&self) -> &str {
        self.manifest["package"]["name"].as_str().unwrap()
    }

    /// The names in `[dependencies]` (not dev- or build-dependencies).
    fn dependencies(&self) -> BTreeSet<String> {
        self.manifest
            .get("dependencies")
            .and_then(|d| d.as_table())
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default()
    }
}

fn crates() -> Vec<Crate> {
    let root = workspace_root();
    let mut dirs = vec![PathBuf::new()];
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        dirs.push(
            entry
                .unwrap()
                .path()
                .strip_prefix(&root)
                .unwrap()
                .to_path_buf(),
        );
    }
    dirs.sort();
    dirs.into_iter()
        .map(|dir| Crate {
            manifest: toml::from_str(
                &std::fs::read_to_string(root.join(&dir).join("Cargo.toml")).unwrap(),
            )
            .unwrap(),
            dir,
        })
        .collect()
}

struct Source {
    /// Relative to the workspace root, e.g. `crates/core/src/domain/mrz.rs`.
    path: PathBuf,
    text: String,
}

/// Every Rust source file of every crate's `src/`.
fn sources() -> Vec<Source> {
    let root = workspace_root();
    let mut files = Vec::new();
    for krate in crates() {
        collect(&root.join(&krate.dir).join("src"), &mut files);
    }
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

/// The code of a file without its `#[cfg(test)]` module and without comments.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, line)| !line.trim_start().starts_with("#[cfg(test)]"))
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .map(|(index, line)| (index + 1, line))
}

fn crate_violations(name: &str, dependencies: &BTreeSet<String>) -> Vec<String> {
    let Some((_, allowed)) = ALLOWED.iter().find(|(crate_name, _)| *crate_name == name) else {
        return vec![format!(
            "crate `{name}` has no row in ALLOWED (tests/kiosk/architecture.rs) and ARCHITECTURE.md"
        )];
    };
    let mut found = Vec::new();
    for dependency in dependencies {
        if dependency.starts_with("enroll-") && !allowed.contains(&dependency.as_str()) {
            found.push(format!("`{name}` must not depend on `{dependency}`"));
        }
        if let Some((_, owners)) = OWNED_DEPENDENCIES.iter().find(|(d, _)| d == dependency)
            && !owners.contains(&name)
        {
            found.push(format!(
                "`{name}` must not depend on `{dependency}` (only {owners:?} may)"
            ));
        }
        if name == "enroll-core" && !CORE_DEPENDENCIES.contains(&dependency.as_str()) {
            found.push(format!(
                "the pure core must not depend on `{dependency}` (data crates only: {CORE_DEPENDENCIES:?})"
            ));
        }
    }
    found
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
    // The pure crates: the core, and the virtual ID's credential (the verifier's decisions).
    if !(path.starts_with("crates/core") || path.starts_with("crates/credential/src")) {
        return Vec::new();
    }
    let mut found = Vec::new();
    for (number, line) in code_lines(text) {
        for token in FORBIDDEN_IN_CORE {
            if line.contains(token) {
                found.push(format!(
                    "{}:{number}: a pure crate must not name `{token}`",
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

/// Threads started without a name (`thread::spawn`, or a `Builder` with no `.name(` within the
/// next three lines): a named thread is what a technician sees in `top -H` and in a panic message.
fn unnamed_threads(path: &Path, text: &str) -> Vec<String> {
    let lines: Vec<(usize, &str)> = code_lines(text).collect();
    let mut found = Vec::new();
    for (index, (number, line)) in lines.iter().enumerate() {
        let bare_spawn = line.contains("thread::spawn(");
        let unnamed_builder = line.contains("thread::Builder::new()")
            && !lines[index..lines.len().min(index + 4)]
                .iter()
                .any(|(_, l)| l.contains(".name("));
        if bare_spawn || unnamed_builder {
            found.push(format!(
                "{}:{number}: name the thread: std::thread::Builder::new().name(..).spawn(..)",
                path.display()
            ));
        }
    }
    found
}

/// Lines of `text` that open an `unsafe` block or allow `unsafe_code`: none outside the executor
/// crate, and there only in `exec.rs`, each block preceded (within five lines) by the feature
/// check that makes the call sound.
fn unsafe_violations(path: &Path, text: &str) -> Vec<String> {
    let in_executor = path.starts_with(UNSAFE_CRATE);
    let justification =
        (path == Path::new("crates/cnn/src/exec.rs")).then_some("is_x86_feature_detected!");
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
        if !in_executor || justification.is_none() || (opens_unsafe && !justified) {
            violations.push(format!("{}:{}: {}", path.display(), index + 1, line.trim()));
        }
    }
    violations
}

/// A crate root (`lib.rs` or `main.rs`) of a crate other than the executor that does not forbid
/// `unsafe` code itself.
fn root_without_forbid(path: &Path, text: &str) -> Option<String> {
    let is_root = path.ends_with("src/lib.rs") || path.ends_with("src/main.rs");
    (is_root && !path.starts_with(UNSAFE_CRATE) && !text.contains("#![forbid(unsafe_code)]")).then(
        || {
            format!(
                "{}: a crate root must say #![forbid(unsafe_code)] (only {UNSAFE_CRATE} may hold unsafe)",
                path.display()
            )
        },
    )
}

#[test]
fn crates_depend_only_on_the_crates_the_map_allows() {
    let mut violations = Vec::new();
    for krate in crates() {
        violations.extend(crate_violations(krate.name(), &krate.dependencies()));
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn every_crate_but_the_executor_inherits_the_workspace_lints() {
    for krate in crates() {
        let inherits = krate
            .manifest
            .get("lints")
            .and_then(|l| l.get("workspace"))
            .and_then(|w| w.as_bool())
            == Some(true);
        assert_eq!(
            inherits,
            krate.dir != Path::new(UNSAFE_CRATE),
            "{}: [lints] workspace = true everywhere but the executor crate",
            krate.dir.display()
        );
    }
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
fn every_thread_has_a_name() {
    let violations: Vec<String> = sources()
        .iter()
        .flat_map(|source| unnamed_threads(&source.path, &source.text))
        .collect();
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn unsafe_code_lives_only_in_the_executor_dispatch_each_block_justified() {
    let all = sources();
    let violations: Vec<String> = all
        .iter()
        .flat_map(|source| unsafe_violations(&source.path, &source.text))
        .chain(
            all.iter()
                .filter_map(|source| root_without_forbid(&source.path, &source.text)),
        )
        .collect();
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_architecture_document_lists_every_crate() {
    let document = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md")).unwrap();
    for krate in crates() {
        assert!(
            document.contains(&format!("`{}`", krate.name())),
            "ARCHITECTURE.md does not mention `{}`",
            krate.name()
        );
    }
}

// The rules themselves, on small bad examples.

#[test]
fn a_wrong_arrow_an_owned_dependency_and_an_io_crate_in_the_core_are_caught() {
    let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        crate_violations("enroll-registry", &names(&["enroll-devices"])),
        ["`enroll-registry` must not depend on `enroll-devices`"]
    );
    assert_eq!(
        crate_violations("enroll-sync", &names(&["rusqlite"])).len(),
        1
    );
    assert_eq!(crate_violations("enroll-core", &names(&["tokio"])).len(), 1);
    assert!(crate_violations("enroll-core", &names(&["serde", "thiserror"])).is_empty());
    assert_eq!(
        crate_violations("enroll-gadgets", &BTreeSet::new()).len(),
        1
    );
}

#[test]
fn a_module_without_a_doc_line_is_caught() {
    assert!(missing_module_doc(Path::new("src/ui/x.rs"), "use egui;\n").is_some());
    assert!(missing_module_doc(Path::new("src/ui/x.rs"), "\n//! Owns x.\n").is_none());
}

#[test]
fn io_in_the_core_is_caught_but_not_in_its_tests() {
    let bad = "//! x\nfn f() { std::fs::read(\"a\"); }\n#[cfg(test)]\nmod tests { fn g() { std::fs::read(\"b\"); } }\n";
    assert_eq!(
        core_violations(Path::new("crates/core/src/domain/x.rs"), bad).len(),
        1
    );
    assert_eq!(
        core_violations(Path::new("crates/credential/src/verify.rs"), bad).len(),
        1
    );
    assert!(core_violations(Path::new("crates/store/src/x.rs"), bad).is_empty());
}

#[test]
fn logging_a_name_is_caught() {
    let bad = "//! x\nfn f() {\n    tracing::info!(\n        name = %holder.name,\n        \"read\"\n    );\n}\n";
    assert!(!logged_personal_data(Path::new("crates/devices/src/x.rs"), bad).is_empty());
    let good = "//! x\nfn f() { tracing::info!(record_id = %id, \"committed\"); }\n";
    assert!(logged_personal_data(Path::new("crates/devices/src/x.rs"), good).is_empty());
}

#[test]
fn an_unnamed_thread_is_caught() {
    let path = Path::new("src/app/x.rs");
    assert_eq!(
        unnamed_threads(path, "//! x\nfn f() { std::thread::spawn(|| ()); }\n").len(),
        1
    );
    let unnamed = "//! x\nfn f() {\n    std::thread::Builder::new()\n        .stack_size(1)\n        .spawn(|| ());\n}\n";
    assert_eq!(unnamed_threads(path, unnamed).len(), 1);
    let named = "//! x\nfn f() {\n    std::thread::Builder::new()\n        .name(\"camera\".into())\n        .spawn(|| ());\n}\n";
    assert!(unnamed_threads(path, named).is_empty());
}

#[test]
fn unsafe_outside_the_executor_or_unchecked_inside_it_is_caught() {
    assert!(
        !unsafe_violations(
            Path::new("crates/store/src/lib.rs"),
            "let p = unsafe { x() };\n"
        )
        .is_empty(),
        "the check must catch unsafe in another crate"
    );
    assert!(
        !unsafe_violations(
            Path::new("crates/cnn/src/exec.rs"),
            "fn f() {\n    unsafe { run() }\n}\n"
        )
        .is_empty(),
        "the check must catch an unchecked call in the dispatch"
    );
    assert!(
        unsafe_violations(
            Path::new("crates/cnn/src/exec.rs"),
            "fn f() {\n    if is_x86_feature_detected!(\"avx2\") {\n        unsafe { run() }\n    }\n}\n"
        )
        .is_empty(),
        "a checked call in the dispatch passes"
    );
    assert!(
        root_without_forbid(Path::new("crates/store/src/lib.rs"), "//! x\npub mod a;\n").is_some()
    );
    assert!(root_without_forbid(Path::new("crates/cnn/src/lib.rs"), "//! x\n").is_none());
}
