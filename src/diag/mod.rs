//! The technician's offline diagnostics: every device, model, store, key and link of this
//! terminal checked through the real modules (the configured devices, the face engine, the
//! outbox, the key files, the sync client), each reported as ok / warn / fail with the value it
//! measured and advice that names the remedy. It is shared by `kiosk diag` and the technician's
//! screen; it draws nothing, starts no demo services and never changes the outbox or the keys.
//!
//! Nothing personal is ever reported: no names, document numbers, images or embeddings (a test
//! frame is written only where the technician asks, and never into a bundle).

pub mod bundle;
mod checks;
mod network;
pub mod verdicts;

use enroll_core::domain::time::UnixMs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::Config;

/// The `--json` schema's name and version; bump the number when a field changes meaning or goes.
pub const SCHEMA: &str = "enroll-kiosk.diag/1";

/// How long the camera check measures the frame rate by default.
pub const CAMERA_SAMPLE_MS: u64 = 3_000;

/// A check's outcome, ordered from good to bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    /// `ok`, `warn` or `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }

    /// The process exit status for a report whose worst check is `self`: 0, 1 or 2.
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warn => 1,
            Status::Fail => 2,
        }
    }
}

/// Which check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckId {
    Config,
    Camera,
    CardReader,
    FaceEngine,
    Storage,
    Queue,
    Crypto,
    Clock,
    Network,
    Audit,
    Printer,
}

impl CheckId {
    /// Every check, in report order.
    pub const ALL: [CheckId; 11] = [
        CheckId::Config,
        CheckId::Camera,
        CheckId::CardReader,
        CheckId::FaceEngine,
        CheckId::Storage,
        CheckId::Queue,
        CheckId::Crypto,
        CheckId::Clock,
        CheckId::Network,
        CheckId::Audit,
        CheckId::Printer,
    ];

    /// The check's name as typed (`kiosk diag card-reader`) and reported.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::Config => "config",
            CheckId::Camera => "camera",
            CheckId::CardReader => "card-reader",
            CheckId::FaceEngine => "face-engine",
            CheckId::Storage => "storage",
            CheckId::Queue => "queue",
            CheckId::Crypto => "crypto",
            CheckId::Clock => "clock",
            CheckId::Network => "network",
            CheckId::Audit => "audit",
            CheckId::Printer => "printer",
        }
    }

    /// The check named `name`.
    pub fn parse(name: &str) -> Option<CheckId> {
        CheckId::ALL.into_iter().find(|id| id.as_str() == name)
    }
}

/// One further measurement of a check (no personal data).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Detail {
    pub name: String,
    pub value: String,
}

/// What one check found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: CheckId,
    pub status: Status,
    /// The measured value, in a few words ("29.9 fps at 640x480").
    pub value: String,
    /// What to do about a warning or failure (absent when ok).
    pub advice: Option<String>,
    /// Further measurements.
    pub details: Vec<Detail>,
    /// How long the check took.
    pub elapsed_ms: u64,
}

impl Finding {
    fn new(check: CheckId, status: Status, value: impl Into<String>) -> Finding {
        Finding {
            check,
            status,
            value: value.into(),
            advice: None,
            details: Vec::new(),
            elapsed_ms: 0,
        }
    }

    fn ok(check: CheckId, value: impl Into<String>) -> Finding {
        Finding::new(check, Status::Ok, value)
    }

    fn problem(
        check: CheckId,
        status: Status,
        value: impl Into<String>,
        advice: impl Into<String>,
    ) -> Finding {
        Finding {
            advice: Some(advice.into()),
            ..Finding::new(check, status, value)
        }
    }

    fn detail(mut self, name: &str, value: impl Into<String>) -> Finding {
        self.details.push(Detail {
            name: name.to_owned(),
            value: value.into(),
        });
        self
    }
}

/// The whole report (`kiosk diag --json` prints it; the schema is [`SCHEMA`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub schema: &'static str,
    /// The program's version.
    pub version: &'static str,
    /// The configuration file checked.
    pub config_file: String,
    /// The terminal, when the configuration loads.
    pub terminal_id: Option<String>,
    /// When the checks ran (the terminal's own clock, Unix ms).
    pub started_at_unix_ms: UnixMs,
    /// The worst status of all checks.
    pub overall: Status,
    pub checks: Vec<Finding>,
}

/// How to run the checks.
#[derive(Clone, Debug)]
pub struct DiagOptions {
    /// The terminal's clock (Unix ms), read by the caller.
    pub now_unix_ms: UnixMs,
    /// How long the camera check measures the frame rate.
    pub camera_sample_ms: u64,
    /// Where to write a test frame from the camera (PNG), if the technician asked for one.
    pub save_frame: Option<PathBuf>,
    /// Run only this check (all when `None`).
    pub only: Option<CheckId>,
}

impl DiagOptions {
    /// Every check, the default camera sample, no test frame.
    pub fn at(now_unix_ms: UnixMs) -> DiagOptions {
        DiagOptions {
            now_unix_ms,
            camera_sample_ms: CAMERA_SAMPLE_MS,
            save_frame: None,
            only: None,
        }
    }

    fn wants(&self, check: CheckId) -> bool {
        self.only.is_none_or(|only| only == check)
    }
}

/// Runs the checks on the configuration file at `config_path`. The slow ones (camera, card
/// reader, face engine) run on their own named threads beside the others.
pub fn run(config_path: &Path, options: &DiagOptions) -> Report {
    let (config_finding, config) = timed(|| checks::config(config_path));
    let mut findings = Vec::new();
    if options.wants(CheckId::Config) {
        findings.push(config_finding);
    }
    if let Some(config) = &config {
        findings.extend(run_with_config(config, options));
    } else {
        for check in CheckId::ALL
            .into_iter()
            .filter(|c| *c != CheckId::Config && options.wants(*c))
        {
            findings.push(Finding::problem(
                check,
                Status::Fail,
                "not run",
                "the configuration does not load; fix it first (see the config check)",
            ));
        }
    }
    findings.sort_by_key(|finding| finding.check);
    let overall = findings
        .iter()
        .map(|finding| finding.status)
        .max()
        .unwrap_or(Status::Ok);
    Report {
        schema: SCHEMA,
        version: env!("CARGO_PKG_VERSION"),
        config_file: config_path.display().to_string(),
        terminal_id: config.as_ref().map(|c| c.terminal.id.clone()),
        started_at_unix_ms: options.now_unix_ms,
        overall,
        checks: findings,
    }
}

fn run_with_config(config: &Config, options: &DiagOptions) -> Vec<Finding> {
    let mut findings = Vec::new();
    std::thread::scope(|scope| {
        let mut parallel = Vec::new();
        let slow: [(&str, CheckId, SlowCheck<'_>); 3] = [
            (
                "camera",
                CheckId::Camera,
                Box::new(|| checks::camera(config, options)),
            ),
            (
                "card",
                CheckId::CardReader,
                Box::new(|| checks::card_reader(config, options)),
            ),
            (
                "face",
                CheckId::FaceEngine,
                Box::new(|| checks::face_engine(config)),
            ),
        ];
        for (name, check, job) in slow {
            if !options.wants(check) {
                continue;
            }
            match std::thread::Builder::new()
                .name(format!("diag-{name}"))
                .spawn_scoped(scope, move || timed_finding(job))
            {
                Ok(handle) => parallel.push((check, handle)),
                Err(error) => findings.push(not_run(check, &error.to_string())),
            }
        }
        let quick: [(CheckId, Box<dyn FnOnce() -> Finding>); 5] = [
            (
                CheckId::Storage,
                Box::new(|| checks::storage(config, options)),
            ),
            (CheckId::Queue, Box::new(|| checks::queue(config, options))),
            (CheckId::Crypto, Box::new(|| checks::crypto(config))),
            (CheckId::Audit, Box::new(|| checks::audit(config))),
            (CheckId::Printer, Box::new(|| checks::printer(config))),
        ];
        for (check, job) in quick {
            if options.wants(check) {
                findings.push(timed_finding(job));
            }
        }
        if options.wants(CheckId::Network) || options.wants(CheckId::Clock) {
            let (network_finding, probe) = timed(|| network::check(config, options.now_unix_ms));
            if options.wants(CheckId::Network) {
                findings.push(network_finding);
            }
            if options.wants(CheckId::Clock) {
                findings.push(timed_finding(|| {
                    checks::clock(config, options, probe.registry_now_unix_ms)
                }));
            }
        }
        for (check, handle) in parallel {
            match handle.join() {
                Ok(finding) => findings.push(finding),
                Err(_) => findings.push(not_run(check, "the check stopped unexpectedly")),
            }
        }
    });
    findings
}

/// The checks every heartbeat reports (`enroll_protocol::heartbeat`): those that open no
/// device and finish in milliseconds on a normal outbox. The camera and the card reader are in
/// use by the kiosk, and the face self-test is too slow to repeat with every sync; a technician
/// runs them with `kiosk diag`.
pub const HEARTBEAT_CHECKS: [CheckId; 4] = [
    CheckId::Storage,
    CheckId::Queue,
    CheckId::Crypto,
    CheckId::Audit,
];

/// Runs [`HEARTBEAT_CHECKS`] on a loaded configuration at `now_unix_ms`: each check's name and
/// state, nothing else (the values and advice stay on the terminal).
pub fn heartbeat_checks(
    config: &Config,
    now_unix_ms: UnixMs,
) -> std::collections::BTreeMap<String, enroll_protocol::heartbeat::CheckState> {
    use enroll_protocol::heartbeat::CheckState;
    let options = DiagOptions::at(now_unix_ms);
    HEARTBEAT_CHECKS
        .into_iter()
        .map(|check| {
            let finding = match check {
                CheckId::Storage => checks::storage(config, &options),
                CheckId::Queue => checks::queue(config, &options),
                CheckId::Crypto => checks::crypto(config),
                _ => checks::audit(config),
            };
            let state = match finding.status {
                Status::Ok => CheckState::Ok,
                Status::Warn => CheckState::Warn,
                Status::Fail => CheckState::Fail,
            };
            (check.as_str().to_owned(), state)
        })
        .collect()
}

/// A check that runs on its own thread.
type SlowCheck<'a> = Box<dyn FnOnce() -> Finding + Send + 'a>;

fn not_run(check: CheckId, detail: &str) -> Finding {
    Finding::problem(
        check,
        Status::Fail,
        "not run",
        format!("{detail}; run `kiosk diag {}` again", check.as_str()),
    )
}

fn timed<T>(job: impl FnOnce() -> (Finding, T)) -> (Finding, T) {
    let started = Instant::now();
    let (mut finding, value) = job();
    finding.elapsed_ms = elapsed_ms(started);
    (finding, value)
}

fn timed_finding(job: impl FnOnce() -> Finding) -> Finding {
    timed(|| (job(), ())).0
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The report as the table `kiosk diag` prints: one line per check (name, status, value), the
/// advice under a warning or failure, and the overall status.
pub fn table(report: &Report) -> String {
    let mut out = format!(
        "diagnostics of {} ({})\n",
        report
            .terminal_id
            .as_deref()
            .unwrap_or("an unconfigured terminal"),
        report.config_file
    );
    for finding in &report.checks {
        out.push_str(&format!(
            "{:<12} {:<5} {}\n",
            finding.check.as_str(),
            finding.status.as_str().to_uppercase(),
            finding.value
        ));
        if let Some(advice) = &finding.advice {
            out.push_str(&format!("{:<18} -> {advice}\n", ""));
        }
    }
    out.push_str(&format!("overall: {}\n", report.overall.as_str()));
    out
}

/// Waits no longer than this for a device that may hang (a frozen camera driver).
fn device_deadline(sample_ms: u64) -> Duration {
    Duration::from_millis(sample_ms.saturating_add(2_000))
}
