//! The technician's diagnostic bundle: one `.tar.gz` holding the report, the tails of the
//! kiosk's logs, the configuration with secret values removed, the queue and the audit trail
//! without free text, versions and model hashes. Every personal string the outbox holds (the
//! names and document numbers in its records) is scrubbed from every file before packing; images,
//! embeddings, sealed payloads, the officer list and key files are never read into it. It does
//! not run the checks (the caller hands it the report).

use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;
use thiserror::Error;

use super::Report;
use crate::config::Config;
use crate::logs;
use enroll_core::domain::record::RecordBody;
use enroll_core::domain::time::UnixMs;
use enroll_crypto::records::sha256_hex;
use enroll_store::Outbox;

/// The bundle's `manifest.json` schema.
pub const BUNDLE_SCHEMA: &str = "enroll-kiosk.bundle/1";

/// How much of each log file goes in.
pub const LOG_TAIL_BYTES: u64 = 1024 * 1024;

/// What replaces a secret value or a personal string.
pub const REMOVED: &str = "<removed>";

/// The folder every entry sits in inside the archive.
const TOP: &str = "enroll-kiosk-diag";

/// Why the bundle was not written.
#[derive(Debug, Error)]
pub enum BundleError {
    /// The archive could not be written where asked.
    #[error(
        "cannot write the diagnostic bundle to {path}: {source}; choose a folder that exists, is \
         writable and has free space (a USB stick must be mounted)"
    )]
    Write {
        /// The archive asked for.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The report could not be turned into JSON.
    #[error("the diagnostic report cannot be written as JSON: {0}")]
    Report(String),
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleSummary {
    /// The archive.
    pub path: PathBuf,
    /// The files inside, in order.
    pub files: Vec<String>,
    /// The archive's size.
    pub bytes: u64,
    /// How many personal strings (or secret values) were replaced by [`REMOVED`].
    pub removed: usize,
}

/// One file of the bundle, as text.
struct Entry {
    name: String,
    text: String,
}

/// Gathers the bundle's files for `report` (run against `config_path`) and writes them to `out`
/// as a gzip-compressed tar archive (written beside it first, then renamed into place).
pub fn write_bundle(
    config_path: &Path,
    report: &Report,
    out: &Path,
) -> Result<BundleSummary, BundleError> {
    let config = Config::load(config_path).ok();
    let report_json =
        serde_json::to_string_pretty(report).map_err(|e| BundleError::Report(e.to_string()))?;
    let mut entries = vec![Entry {
        name: "diag.json".into(),
        text: report_json,
    }];
    entries.push(Entry {
        name: "versions.json".into(),
        text: versions_json(config.as_ref()),
    });
    entries.extend(config_files(config_path, config.as_ref()));
    let mut personal = Vec::new();
    if let Some(config) = &config {
        entries.extend(log_files(&config.terminal.log_file));
        if let Some(outbox) = existing_outbox(config) {
            personal = personal_strings(&outbox);
            entries.extend(outbox_files(&outbox));
        }
    }
    let mut removed = 0;
    for entry in &mut entries {
        let (text, count) = scrub(&entry.text, &personal);
        entry.text = text;
        removed += count;
    }
    entries.insert(
        0,
        Entry {
            name: "manifest.json".into(),
            text: manifest_json(report, &entries, removed),
        },
    );
    let bytes = pack(&entries, out)?;
    Ok(BundleSummary {
        path: out.to_path_buf(),
        files: entries.into_iter().map(|entry| entry.name).collect(),
        bytes,
        removed,
    })
}

/// The strings that would identify an applicant: each record's name, Latin name and document
/// number, longest first (so a name is removed before a part of it).
fn personal_strings(outbox: &Outbox) -> Vec<String> {
    let mut strings = Vec::new();
    for entry in outbox.list().unwrap_or_default() {
        let Ok(Some((body, _))) = outbox.signed_body(&entry.id) else {
            continue;
        };
        let Ok(record) = RecordBody::from_bytes(&body) else {
            continue;
        };
        // Records of version 3 on name nobody: only the older ones have strings to remove.
        let Some(document) = record.document else {
            continue;
        };
        strings.push(document.document_number);
        strings.push(document.name);
        strings.extend(document.name_latin);
    }
    strings.retain(|s| s.trim().chars().count() >= 2);
    strings.sort_by_key(|s| std::cmp::Reverse(s.len()));
    strings.dedup();
    strings
}

/// `text` with every personal string replaced, then whatever looks like a name or an identity
/// number (see [`scrub_patterns`]), and how many replacements were made.
fn scrub(text: &str, personal: &[String]) -> (String, usize) {
    let mut out = text.to_owned();
    let mut count = 0;
    for needle in personal {
        let found = out.matches(needle.as_str()).count();
        if found > 0 {
            count += found;
            out = out.replace(needle.as_str(), REMOVED);
        }
    }
    let (out, by_pattern) = scrub_patterns(&out);
    (out, count + by_pattern)
}

/// Whether `c` is a CJK ideograph (names on Chinese cards; the kiosk's own texts in the bundle
/// are English).
fn is_ideograph(c: char) -> bool {
    matches!(u32::from(c), 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

/// Whether an ASCII word is shaped like a Chinese identity number: 18 characters, 17 digits and
/// a digit or `X` (GB 11643), or the 15 digits of the first generation.
fn is_identity_number(word: &str) -> bool {
    let bytes = word.as_bytes();
    match bytes.split_last() {
        Some((last, head)) if bytes.len() == 18 => {
            head.iter().all(u8::is_ascii_digit)
                && (last.is_ascii_digit() || matches!(last, b'X' | b'x'))
        }
        _ => bytes.len() == 15 && bytes.iter().all(u8::is_ascii_digit),
    }
}

/// `text` with runs of CJK ideographs and identity-number-shaped words replaced: records from
/// version 3 on name nobody, so the terminal cannot list what to remove; a careless log line
/// still must not carry a name or a number out.
fn scrub_patterns(text: &str) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let run_len = if is_ideograph(c) {
            rest.find(|c: char| !is_ideograph(c)).unwrap_or(rest.len())
        } else if c.is_ascii_alphanumeric() {
            let len = rest
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(rest.len());
            if is_identity_number(rest.get(..len).unwrap_or_default()) {
                len
            } else {
                out.push_str(rest.get(..len).unwrap_or_default());
                rest = rest.get(len..).unwrap_or_default();
                continue;
            }
        } else {
            out.push(c);
            rest = rest.get(c.len_utf8()..).unwrap_or_default();
            continue;
        };
        out.push_str(REMOVED);
        count += 1;
        rest = rest.get(run_len..).unwrap_or_default();
    }
    (out, count)
}

/// Key names whose values are secrets wherever they appear in a configuration file.
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["secret", "password", "token", "pin", "private"]
        .iter()
        .any(|word| key.contains(word))
}

/// A configuration file's text with secret values replaced (line by line, so even a file that
/// does not parse can be read by whoever receives the bundle).
fn redact_config(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let redacted = line
            .split_once('=')
            .filter(|(key, _)| !key.trim_start().starts_with('#') && is_secret_key(key.trim()))
            .map(|(key, _)| format!("{key}= \"{REMOVED}\""));
        out.push_str(redacted.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

fn config_files(config_path: &Path, config: Option<&Config>) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut add = |path: &Path| {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "config".into());
        let text = match std::fs::read_to_string(path) {
            Ok(text) => redact_config(&text),
            Err(error) => format!("# {} could not be read: {error}\n", path.display()),
        };
        entries.push(Entry {
            name: format!("config/{name}"),
            text,
        });
    };
    add(config_path);
    if let Some(config) = config {
        add(&config.face.engine_file);
    }
    entries
}

fn log_files(log_file: &Path) -> Vec<Entry> {
    [logs::previous_file(log_file), log_file.to_path_buf()]
        .iter()
        .filter(|path| path.exists())
        .map(|path| Entry {
            name: format!(
                "logs/{}",
                path.file_name().unwrap_or_default().to_string_lossy()
            ),
            text: logs::tail(path, LOG_TAIL_BYTES)
                .unwrap_or_else(|error| format!("the log could not be read: {error}\n")),
        })
        .collect()
}

fn existing_outbox(config: &Config) -> Option<Outbox> {
    if !config.store.database_path.exists() {
        return None;
    }
    Outbox::open(&config.store.database_path).ok()
}

/// The queue (delivery states and the registry's last error) and the audit trail (ids and action
/// names; the free-text detail, an officer's override reason, is left out).
fn outbox_files(outbox: &Outbox) -> Vec<Entry> {
    let mut queue = String::from(
        "seq\trecord_id\tstate\tcreated_at_unix_ms\tattempts\tnext_attempt_at_unix_ms\tlast_error\n",
    );
    for entry in outbox.list().unwrap_or_default() {
        queue.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            entry.seq,
            entry.id,
            format!("{:?}", entry.state).to_lowercase(),
            entry.created_at_unix_ms,
            entry.attempts,
            entry.next_attempt_at_unix_ms,
            one_line(entry.last_error.as_deref().unwrap_or_default()),
        ));
    }
    let mut audit = String::from("seq\tat_unix_ms\tactor\taction\tsubject\tentry_sha256\n");
    for entry in outbox.audit_entries().unwrap_or_default() {
        audit.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\n",
            entry.seq,
            entry.at_unix_ms,
            one_line(&entry.actor),
            one_line(&entry.action),
            one_line(entry.subject.as_deref().unwrap_or_default()),
            entry.entry_sha256,
        ));
    }
    vec![
        Entry {
            name: "queue.tsv".into(),
            text: queue,
        },
        Entry {
            name: "logs/audit.tsv".into(),
            text: audit,
        },
    ]
}

fn one_line(text: &str) -> String {
    text.replace(['\t', '\n', '\r'], " ")
}

#[derive(Serialize)]
struct Versions {
    kiosk: &'static str,
    diag_schema: &'static str,
    os: Option<String>,
    kernel: Option<String>,
    models: Vec<ModelHash>,
}

#[derive(Serialize)]
struct ModelHash {
    role: &'static str,
    file: String,
    expected_sha256: Option<String>,
    actual_sha256: Option<String>,
}

fn versions_json(config: Option<&Config>) -> String {
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("PRETTY_NAME="))
                .map(|name| name.trim_matches('"').to_owned())
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|text| text.trim().to_owned());
    let models = config
        .map(|config| {
            config
                .face
                .engine
                .models()
                .into_iter()
                .map(|(role, model)| ModelHash {
                    role,
                    file: model.path.display().to_string(),
                    expected_sha256: model.sha256.clone(),
                    actual_sha256: std::fs::read(&model.path)
                        .ok()
                        .map(|bytes| sha256_hex(&bytes)),
                })
                .collect()
        })
        .unwrap_or_default();
    let versions = Versions {
        kiosk: env!("CARGO_PKG_VERSION"),
        diag_schema: super::SCHEMA,
        os,
        kernel,
        models,
    };
    serde_json::to_string_pretty(&versions).unwrap_or_default()
}

#[derive(Serialize)]
struct Manifest<'a> {
    schema: &'static str,
    terminal_id: Option<&'a str>,
    created_at_unix_ms: UnixMs,
    overall: super::Status,
    files: Vec<&'a str>,
    personal_strings_removed: usize,
    never_included: &'static str,
}

fn manifest_json(report: &Report, entries: &[Entry], removed: usize) -> String {
    let manifest = Manifest {
        schema: BUNDLE_SCHEMA,
        terminal_id: report.terminal_id.as_deref(),
        created_at_unix_ms: report.started_at_unix_ms,
        overall: report.overall,
        files: entries.iter().map(|entry| entry.name.as_str()).collect(),
        personal_strings_removed: removed,
        never_included: "names, document numbers, images, embeddings, sealed payloads, the \
                         officer list, key files",
    };
    serde_json::to_string_pretty(&manifest).unwrap_or_default()
}

/// Writes the archive to a temporary file beside `out`, then renames it into place.
fn pack(entries: &[Entry], out: &Path) -> Result<u64, BundleError> {
    let failed = |source: io::Error| BundleError::Write {
        path: out.to_path_buf(),
        source,
    };
    let mut partial_name = out.file_name().unwrap_or_default().to_os_string();
    partial_name.push(".partial");
    let partial = out.with_file_name(partial_name);
    let written = (|| -> io::Result<u64> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&partial)?;
        let mut archive = tar::Builder::new(GzEncoder::new(file, Compression::default()));
        for entry in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(u64::try_from(entry.text.len()).unwrap_or(u64::MAX));
            header.set_mode(0o600);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            archive.append_data(
                &mut header,
                format!("{TOP}/{}", entry.name),
                entry.text.as_bytes(),
            )?;
        }
        let mut file = archive.into_inner()?.finish()?;
        file.flush()?;
        file.sync_all()?;
        Ok(file.metadata()?.len())
    })();
    match written {
        Ok(bytes) => {
            std::fs::rename(&partial, out).map_err(failed)?;
            Ok(bytes)
        }
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            Err(failed(error))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_are_removed_and_everything_else_is_kept() {
        let text = "[registry]\nurl = \"https://r\"\nadmin_token = \"abc\"\n# pin = 1\n";
        assert_eq!(
            redact_config(text),
            "[registry]\nurl = \"https://r\"\nadmin_token = \"<removed>\"\n# pin = 1\n"
        );
    }

    #[test]
    fn a_personal_string_is_removed_wherever_it_appears() {
        let personal = vec!["11010519491231002X".to_owned(), "张三".to_owned()];
        let (text, count) = scrub("read 11010519491231002X for 张三; 张三 ok", &personal);
        assert_eq!(text, "read <removed> for <removed>; <removed> ok");
        assert_eq!(count, 3);
    }

    #[test]
    fn names_in_chinese_and_identity_numbers_are_removed_without_being_known() {
        let (text, count) = scrub(
            "card 11010519491231002X of 李四四 read; 110105491231002 ok; id 2026-12-07 B-1042",
            &[],
        );
        assert_eq!(
            text,
            "card <removed> of <removed> read; <removed> ok; id 2026-12-07 B-1042"
        );
        assert_eq!(count, 3);
    }
}
