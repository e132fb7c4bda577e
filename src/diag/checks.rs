//! The checks themselves: each opens or reads the real thing through its own module (the
//! configuration loader, the configured devices, the face engine, the outbox, the key files) and
//! turns what it measured into a [`Finding`] with [`super::verdicts`]. The registry link is
//! [`super::network`]'s.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Instant;

use image::RgbImage;

use super::verdicts::{self, ReceiptTimes, Verdict, duration_words};
use super::{CheckId, DiagOptions, Finding, Status, device_deadline};
use crate::config::{CameraSource, CardReaderConfig, Config, MrzScannerConfig};
use crate::configured::{ConfiguredDevices, Devices};
use enroll_core::domain::card_read::AccessKey;
use enroll_core::domain::time::UnixMs;
use enroll_crypto::keys;
use enroll_devices::camera::{self, CameraReport, v4l2};
use enroll_devices::card::Presence;
use enroll_devices::card::mrz_scanner::MrzScanner;
use enroll_face::{FaceEngine, FaceMatcher};
use enroll_store::{GuardLimits, GuardRefusal, Outbox, StoreError};

// `kiosk diag` is an edge: its findings name files and devices, never people.

/// A public-domain portrait the face engine is tested on: NASA's photograph of astronaut Eileen
/// Collins (scikit-image 0.26 `data/astronaut.png`, saved as JPEG; see assets/selftest/README.md).
const SELF_TEST_JPEG: &[u8] = include_bytes!("../../assets/selftest/astronaut.jpg");
/// The same face, mirrored and at 80 % size, must score at least this, and at least the pack's
/// threshold (measured: 0.965 faceplugin).
const SELF_TEST_MIN_COSINE: f32 = 0.80;

fn from_verdict(check: CheckId, verdict: Verdict) -> Finding {
    Finding {
        advice: verdict.advice,
        ..Finding::new(check, verdict.status, verdict.value)
    }
}

/// Loads and validates the configuration; says which file each part came from.
pub fn config(path: &Path) -> (Finding, Option<Config>) {
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(error) => {
            let finding = Finding::problem(
                CheckId::Config,
                Status::Fail,
                format!("{} does not load", path.display()),
                format!("{error}; fix the file (`kiosk config check` lists every problem)"),
            );
            return (finding, None);
        }
    };
    let keys = config.keys_in_file().map(|keys| keys.len()).unwrap_or(0);
    let mut finding = Finding::ok(
        CheckId::Config,
        format!("valid: {} ({keys} keys set there)", path.display()),
    )
    .detail("terminal", config.terminal.id.clone())
    .detail("tier", config.terminal.tier.as_str())
    .detail(
        "settings [terminal] .. [sync]",
        format!(
            "{} (keys not in the file take their documented defaults)",
            path.display()
        ),
    )
    .detail(
        "face models and thresholds",
        config.face.engine_file.display().to_string(),
    )
    .detail(
        "officers",
        config.terminal.officers_file.display().to_string(),
    );
    if config.terminal.tier == enroll_core::domain::tier::Tier::Officer
        && !config.terminal.officers_file.exists()
    {
        finding = Finding {
            status: Status::Warn,
            advice: Some(format!(
                "no officer list at {}: nobody can sign in; add officers with `kiosk officer add`",
                config.terminal.officers_file.display()
            )),
            ..finding
        };
    }
    (finding, Some(config))
}

fn devices(config: &Config, options: &DiagOptions) -> ConfiguredDevices {
    let now = options.now_unix_ms;
    ConfiguredDevices::new(config, Arc::new(move || now))
}

/// Lists the cameras, opens the configured one and measures its frame rate.
pub fn camera(config: &Config, options: &DiagOptions) -> Finding {
    let mut listed = Vec::new();
    let source = match &config.camera.source {
        CameraSource::V4l2 { device_index } => {
            match v4l2::list_cameras() {
                Ok(cameras) => listed = cameras,
                Err(error) => tracing::warn!(%error, "cameras not listed"),
            }
            format!("v4l2 {}", v4l2::device_path(*device_index).display())
        }
        CameraSource::Files { frames_dir } => format!("files {}", frames_dir.display()),
    };
    let devices = Arc::new(devices(config, options));
    let open: camera::CameraOpener = Box::new(move || devices.open_camera());
    let receiver = match camera::spawn_opening(open, 4) {
        Ok((receiver, _thread)) => receiver,
        Err(error) => {
            return Finding::problem(
                CheckId::Camera,
                Status::Fail,
                "not measured",
                format!("the camera thread cannot start: {error}"),
            );
        }
    };
    let started = Instant::now();
    let deadline = started + device_deadline(options.camera_sample_ms);
    let sample = std::time::Duration::from_millis(options.camera_sample_ms);
    let mut frames = 0u64;
    let mut first_at = None;
    let mut last_at = None;
    let mut last_frame = None;
    let mut problem = None;
    let mut stalled = false;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match receiver.recv_timeout(left) {
            Ok(CameraReport::Frame(frame)) => {
                let at = frame.captured_at;
                let first = *first_at.get_or_insert(at);
                frames += 1;
                last_at = Some(at);
                last_frame = Some(frame);
                if at.duration_since(first) >= sample {
                    break;
                }
            }
            Ok(CameraReport::Error(error)) => {
                let fatal = error.kind != camera::CameraErrorKind::BadFrame;
                stalled = error.kind == camera::CameraErrorKind::Stalled;
                problem = Some(error.message);
                if fatal {
                    break;
                }
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
        }
    }
    drop(receiver);
    let fps = match (first_at, last_at) {
        (Some(first), Some(last)) if frames > 1 => {
            (frames - 1) as f64 / last.duration_since(first).as_secs_f64().max(1e-3)
        }
        _ => 0.0,
    };
    let mut finding = match (&problem, frames) {
        (Some(message), 0) => Finding::problem(
            CheckId::Camera,
            Status::Fail,
            if stalled {
                "opens but gives no picture"
            } else {
                "does not open"
            },
            message.clone(),
        ),
        _ => from_verdict(
            CheckId::Camera,
            verdicts::camera(
                frames,
                fps,
                config.camera.frame_rate_fps,
                options.camera_sample_ms,
            ),
        ),
    };
    finding = finding.detail("source", source);
    if matches!(config.camera.source, CameraSource::V4l2 { .. }) {
        let names: Vec<String> = listed
            .iter()
            .map(|c| match c.index {
                Some(index) => format!("/dev/video{index} {}", c.name),
                None => c.name.clone(),
            })
            .collect();
        finding = finding.detail(
            "cameras found",
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join("; ")
            },
        );
    }
    if let Some(frame) = &last_frame {
        finding = finding.detail(
            "frame size",
            format!("{}x{}", frame.image.width(), frame.image.height()),
        );
    }
    if let (Some(path), Some(frame)) = (&options.save_frame, &last_frame) {
        let saved = match frame.image.save(path) {
            Ok(()) => path.display().to_string(),
            Err(error) => format!("not written to {}: {error}", path.display()),
        };
        finding = finding.detail("test frame", saved);
    }
    if let Some(message) = problem.filter(|_| frames > 0) {
        finding = finding.detail("last problem", message);
    }
    finding
}

/// Opens the card reader, asks for a card, and reports the reader's identity (SAM id, ATR).
pub fn card_reader(config: &Config, options: &DiagOptions) -> Finding {
    let devices = devices(config, options);
    let backend = match &config.card_reader {
        CardReaderConfig::SamSerial { port, .. } => format!("SAM reader on {}", port.display()),
        CardReaderConfig::SamEmulator { link_path, .. } => {
            format!("SAM emulator on {}", link_path.display())
        }
        CardReaderConfig::Pcsc { reader_name, .. } => format!(
            "PC/SC {}",
            reader_name.as_deref().unwrap_or("(first reader)")
        ),
    };
    let mut reader = match devices.open_card_reader() {
        Ok(reader) => reader,
        Err(error) => {
            return Finding::problem(
                CheckId::CardReader,
                Status::Fail,
                format!("{backend}: does not open"),
                error.to_string(),
            );
        }
    };
    let presence = match reader.presence() {
        Ok(presence) => presence,
        Err(error) => {
            return Finding::problem(
                CheckId::CardReader,
                Status::Fail,
                format!("{backend}: does not answer"),
                error.to_string(),
            );
        }
    };
    let info = reader.info();
    let card = match presence {
        Presence::NoCard => "no card",
        Presence::CardPresent => "a card is on the reader",
        Presence::MustRemove => "a card already read is on the reader",
    };
    let scanner = match &config.card_reader {
        CardReaderConfig::Pcsc {
            mrz_scanner: Some(MrzScannerConfig { port, baud }),
            ..
        } => Some(MrzScanner::open(port.clone(), *baud).map(|_| port.display().to_string())),
        _ => None,
    };
    // A card on a SAM reader is read once (and forgotten) to show the whole path works; chips
    // need an access key, so PC/SC readers stop at the ATR.
    let sam = matches!(
        config.card_reader,
        CardReaderConfig::SamSerial { .. } | CardReaderConfig::SamEmulator { .. }
    );
    let test_read = (sam && presence == Presence::CardPresent).then(|| {
        let started = Instant::now();
        reader
            .read(&AccessKey::None)
            .map(|_| started.elapsed().as_millis())
    });
    let value = format!("{backend}: answers, {card}");
    let mut finding = match &test_read {
        Some(Err(error)) => Finding::problem(
            CheckId::CardReader,
            Status::Warn,
            format!("{value}, but the test read failed"),
            format!(
                "{error}; if every card fails, clean the reader's contacts or replace the reader"
            ),
        ),
        _ => match &scanner {
            Some(Err(error)) => Finding::problem(
                CheckId::CardReader,
                Status::Warn,
                format!("{value}; the MRZ scanner does not open"),
                error.to_string(),
            ),
            _ => Finding::ok(CheckId::CardReader, value),
        },
    };
    if let Some(Ok(read_ms)) = test_read {
        finding = finding.detail("test read", format!("the card was read in {read_ms} ms"));
    }
    if let Some(Ok(port)) = scanner {
        finding = finding.detail("MRZ scanner", format!("{port} opens"));
    }
    finding = finding
        .detail("backend", info.backend)
        .detail("device", info.device);
    if let Some(sam_id) = info.sam_id {
        finding = finding.detail("SAM id", sam_id);
    }
    if let Some(atr) = info.atr_hex {
        finding = finding.detail("ATR", atr);
    }
    finding
}

/// Loads the models (their SHA-256 checked against the engine file) and runs the self-test.
pub fn face_engine(config: &Config) -> Finding {
    let started = Instant::now();
    let engine = match FaceEngine::load(&config.face.engine) {
        Ok(engine) => engine,
        Err(error) => {
            return Finding::problem(
                CheckId::FaceEngine,
                Status::Fail,
                "models do not load",
                format!("{error}; run scripts/setup.sh to fetch the pinned models"),
            );
        }
    };
    let load_ms = started.elapsed().as_millis();
    let mut finding = match self_test(&engine) {
        Ok((score, timings)) => {
            // A pack whose threshold is higher than the floor must at least match the face.
            let min_cosine = SELF_TEST_MIN_COSINE.max(engine.threshold_cosine());
            let value = format!(
                "models verified; self-test score {score:.3} (expected at least \
                 {min_cosine:.2}, threshold {:.3})",
                engine.threshold_cosine()
            );
            let finding = if score >= min_cosine {
                Finding::ok(CheckId::FaceEngine, value)
            } else {
                Finding::problem(
                    CheckId::FaceEngine,
                    Status::Fail,
                    value,
                    "the engine gives wrong scores on a known face: reinstall the models \
                     (scripts/setup.sh) and the engine file",
                )
            };
            finding.detail(
                "time per stage",
                format!(
                    "detect {:.1} ms, landmarks {:.1} ms, align {:.1} ms, embed {:.1} ms, \
                     total {:.1} ms",
                    timings.detect_ms,
                    timings.landmarks_ms,
                    timings.align_ms,
                    timings.embed_ms,
                    timings.total_ms
                ),
            )
        }
        Err(problem) => Finding::problem(
            CheckId::FaceEngine,
            Status::Fail,
            "self-test failed",
            format!("{problem}; reinstall the models (scripts/setup.sh)"),
        ),
    };
    let manifest = engine.pack().manifest();
    finding = finding.detail(
        "model pack",
        format!(
            "{} ({}; `kiosk face packs` lists the installed ones)",
            manifest.name,
            manifest.licences.join(", ")
        ),
    );
    finding = finding.detail("load time", format!("{load_ms} ms"));
    for (role, sha256) in engine.models_sha256() {
        finding = finding.detail(&format!("model {role}"), format!("sha256 {sha256}"));
    }
    finding
}

fn self_test(engine: &FaceEngine) -> Result<(f32, enroll_face::StageTimings), String> {
    let picture = image::load_from_memory(SELF_TEST_JPEG)
        .map_err(|e| format!("the bundled self-test picture does not decode: {e}"))?
        .to_rgb8();
    let mirrored = image::imageops::flip_horizontal(&picture);
    let smaller: RgbImage = image::imageops::resize(
        &mirrored,
        picture.width() * 4 / 5,
        picture.height() * 4 / 5,
        image::imageops::FilterType::Triangle,
    );
    let (a, timings) = engine
        .embed_still_timed(&picture)
        .map_err(|e| format!("no face found in the self-test picture: {e}"))?;
    let (b, _) = engine
        .embed_still_timed(&smaller)
        .map_err(|e| format!("no face found in the mirrored self-test picture: {e}"))?;
    let decision = engine.compare(&a, &b).map_err(|e| e.to_string())?;
    Ok((decision.score_cosine, timings))
}

/// The outbox, if it exists (the checks never create one).
fn existing_outbox(config: &Config) -> Result<Option<Outbox>, StoreError> {
    if !config.store.database_path.exists() {
        return Ok(None);
    }
    crate::configured::open_outbox(&config.store.database_path, config.faults_dir()).map(Some)
}

fn limits(config: &Config) -> GuardLimits {
    GuardLimits {
        min_free_disk_mb: config.store.min_free_disk_mb,
        max_unsent_records: u64::from(config.store.max_unsent_records),
        max_unsent_age_days: u64::from(config.store.max_unsent_age_days),
    }
}

fn store_failure(check: CheckId, error: &StoreError) -> Finding {
    Finding::problem(
        check,
        Status::Fail,
        "the outbox cannot be used",
        error.to_string(),
    )
}

/// The outbox file: integrity, write-ahead log, free disk against the guard's floor.
pub fn storage(config: &Config, options: &DiagOptions) -> Finding {
    let path = config.store.database_path.display().to_string();
    let outbox = match existing_outbox(config) {
        Ok(Some(outbox)) => outbox,
        Ok(None) => {
            return Finding::ok(
                CheckId::Storage,
                "no outbox yet (the kiosk creates it when it starts)",
            )
            .detail("file", path);
        }
        Err(error) => return store_failure(CheckId::Storage, &error),
    };
    if let Err(error) = outbox.integrity_check() {
        return store_failure(CheckId::Storage, &error).detail("file", path);
    }
    let free_mb = match outbox.free_disk_bytes() {
        Ok(bytes) => bytes / (1024 * 1024),
        Err(error) => return store_failure(CheckId::Storage, &error),
    };
    let wal = outbox.wal_bytes();
    let floor_mb = config.store.min_free_disk_mb;
    // The outbox's own guard decides whether enrollments pause for the disk.
    let finding = match outbox.check_guards(options.now_unix_ms, &limits(config)) {
        Err(StoreError::Refused(refusal @ GuardRefusal::LowDisk { .. })) => Finding::problem(
            CheckId::Storage,
            Status::Fail,
            format!("{free_mb} MB free (floor {floor_mb} MB)"),
            refusal.to_string(),
        ),
        _ => from_verdict(CheckId::Storage, verdicts::storage(free_mb, floor_mb, wal)),
    };
    finding
        .detail("file", path)
        .detail("integrity", "ok")
        .detail("write-ahead log", format!("{wal} bytes"))
}

/// The queue: unsent, rejected, the oldest unsent's age, the last delivery problem.
pub fn queue(config: &Config, options: &DiagOptions) -> Finding {
    let outbox = match existing_outbox(config) {
        Ok(Some(outbox)) => outbox,
        Ok(None) => return Finding::ok(CheckId::Queue, "empty (no outbox yet)"),
        Err(error) => return store_failure(CheckId::Queue, &error),
    };
    let status = match outbox.status() {
        Ok(status) => status,
        Err(error) => return store_failure(CheckId::Queue, &error),
    };
    let unsent = status.pending + status.sending;
    let age = status
        .oldest_unsent_created_at_unix_ms
        .map(|created| options.now_unix_ms - created);
    let mut finding = match outbox.check_guards(options.now_unix_ms, &limits(config)) {
        Err(StoreError::Refused(refusal @ GuardRefusal::TooManyUnsent { .. }))
        | Err(StoreError::Refused(refusal @ GuardRefusal::UnsentTooOld { .. })) => {
            Finding::problem(
                CheckId::Queue,
                Status::Fail,
                format!("{unsent} unsent, {} rejected", status.rejected),
                refusal.to_string(),
            )
        }
        _ => from_verdict(
            CheckId::Queue,
            verdicts::queue(
                unsent,
                status.rejected,
                age,
                u64::from(config.store.max_unsent_records),
            ),
        ),
    };
    finding = finding.detail("acknowledged", status.acknowledged.to_string());
    if let Some(age) = age {
        finding = finding.detail("oldest unsent", duration_words(age));
    }
    let last_error = outbox.list().ok().and_then(|entries| {
        entries
            .into_iter()
            .filter(|entry| entry.last_error.is_some())
            .max_by_key(|entry| entry.seq)
            .and_then(|entry| entry.last_error)
    });
    if let Some(error) = last_error {
        finding = finding.detail("last delivery problem", error);
    }
    finding
}

/// The key files: present, private ones readable only by their owner, and their fingerprints.
pub fn crypto(config: &Config) -> Finding {
    let mut problems = Vec::new();
    let mut details = Vec::new();
    // The terminal key: a file, or a token that must open with its PIN and hold the key.
    match &config.terminal.signing_key_token {
        Some(uri) => match crate::configured::terminal_signer(config) {
            Ok(signer) => details.push((
                "terminal signing key",
                format!(
                    "in a PKCS#11 token, {uri} (fingerprint {})",
                    signer.public_key().fingerprint()
                ),
            )),
            Err(error) => problems.push(error.to_string()),
        },
        None => match keys::read_signing_key(&config.terminal.signing_key_file) {
            Ok(key) => details.push((
                "terminal signing key",
                format!(
                    "{} (fingerprint {})",
                    config.terminal.signing_key_file.display(),
                    key.public().fingerprint()
                ),
            )),
            Err(error) => problems.push(error.to_string()),
        },
    }
    let key_files = [
        (
            "registry sealing key",
            &config.registry.sealing_public_key_file,
            keys::read_sealing_public(&config.registry.sealing_public_key_file)
                .map(|key| key.fingerprint()),
        ),
        (
            "registry receipt key",
            &config.registry.receipt_public_key_file,
            keys::read_ed25519_public(&config.registry.receipt_public_key_file)
                .map(|key| key.fingerprint()),
        ),
    ];
    for (name, path, fingerprint) in key_files {
        match fingerprint {
            Ok(fingerprint) => details.push((
                name,
                format!("{} (fingerprint {fingerprint})", path.display()),
            )),
            Err(error) => problems.push(error.to_string()),
        }
    }
    if let Some(ca) = &config.registry.tls_ca_file {
        details.push((
            "registry TLS CA",
            if ca.exists() {
                ca.display().to_string()
            } else {
                problems.push(format!(
                    "registry.tls_ca_file {} does not exist; copy the registry's CA certificate there",
                    ca.display()
                ));
                format!("{} (missing)", ca.display())
            },
        ));
    }
    let mut finding = if problems.is_empty() {
        Finding::ok(
            CheckId::Crypto,
            if config.terminal.signing_key_token.is_some() {
                "terminal key in its token, which signs; registry keys present"
            } else {
                "terminal key private to its owner; registry keys present"
            },
        )
    } else {
        Finding::problem(
            CheckId::Crypto,
            Status::Fail,
            format!("{} key problem(s)", problems.len()),
            problems.join("; "),
        )
    };
    for (name, value) in details {
        finding = finding.detail(name, value);
    }
    finding
}

/// The clock against the registry's (`Date` of its answer now, else its last receipt).
pub fn clock(config: &Config, options: &DiagOptions, registry_now: Option<UnixMs>) -> Finding {
    let last_receipt = existing_outbox(config)
        .ok()
        .flatten()
        .and_then(|outbox| outbox.last_receipt().ok().flatten())
        .and_then(|stored| {
            let key = keys::read_ed25519_public(&config.registry.receipt_public_key_file).ok()?;
            let body = enroll_protocol::verify_receipt(
                &stored.receipt,
                &key,
                &stored.record_id,
                &stored.body_sha256,
            )
            .ok()?;
            Some(ReceiptTimes {
                registry_unix_ms: body.received_at_unix_ms,
                stored_unix_ms: stored.stored_at_unix_ms,
            })
        });
    let verdict = verdicts::clock(
        options.now_unix_ms,
        registry_now,
        last_receipt,
        config.sync.clock_skew_warn_min,
    );
    let mut finding = from_verdict(CheckId::Clock, verdict).detail(
        "warns beyond",
        format!(
            "{} min (sync.clock_skew_warn_min)",
            config.sync.clock_skew_warn_min
        ),
    );
    if let Some(date) = options.now_unix_ms.utc_date() {
        finding = finding.detail("terminal date (UTC)", date.to_string());
    }
    finding
}

/// The audit log's hash chain and every record's signature and chain link.
pub fn audit(config: &Config) -> Finding {
    let outbox = match existing_outbox(config) {
        Ok(Some(outbox)) => outbox,
        Ok(None) => return Finding::ok(CheckId::Audit, "nothing recorded yet"),
        Err(error) => return store_failure(CheckId::Audit, &error),
    };
    let entries = match outbox.audit_entries() {
        Ok(entries) => entries,
        Err(error) => return store_failure(CheckId::Audit, &error),
    };
    let mut problems = enroll_store::audit::verify_entries(&entries);
    let records = match crate::configured::terminal_signer(config) {
        Ok(key) => match outbox.verify_records_with(
            &std::iter::once(key.public_key())
                .chain(
                    keys::read_retired_signing_keys(&config.terminal.signing_key_file)
                        .unwrap_or_default()
                        .iter()
                        .map(|key| key.public()),
                )
                .collect::<Vec<_>>(),
        ) {
            Ok(report) => {
                problems.extend(
                    report
                        .problems
                        .iter()
                        .map(|p| format!("record {}: {}", p.seq, p.problem)),
                );
                Some(report.records)
            }
            Err(error) => return store_failure(CheckId::Audit, &error),
        },
        Err(_) => None,
    };
    let value = format!(
        "{} audit entries{}",
        entries.len(),
        records
            .map(|n| format!(", {n} records"))
            .unwrap_or_default()
    );
    if problems.is_empty() {
        Finding::ok(CheckId::Audit, format!("{value}: the chains hold"))
    } else {
        let first = problems.first().cloned().unwrap_or_default();
        Finding::problem(
            CheckId::Audit,
            Status::Fail,
            format!("{value}: {} problem(s)", problems.len()),
            format!(
                "the log or records were changed outside the kiosk ({first}); keep the file \
                 for investigation and write a diagnostic bundle"
            ),
        )
    }
}

/// The receipt printer: answers with its paper status, or why not. None configured is fine
/// (receipts are then shown on screen only).
pub fn printer(config: &Config) -> Finding {
    use enroll_devices::printer::{PaperStatus, SerialReceiptPrinter};
    let Some(printer) = &config.printer else {
        return Finding::ok(
            CheckId::Printer,
            "none configured (receipts are shown on screen only)",
        );
    };
    let device = SerialReceiptPrinter::new(&printer.port, printer.baud);
    match device.status() {
        Ok(PaperStatus::Loaded) => Finding::ok(
            CheckId::Printer,
            format!("{} answers: paper loaded", printer.port.display()),
        ),
        Ok(PaperStatus::NearEnd) => Finding::problem(
            CheckId::Printer,
            Status::Warn,
            format!(
                "{} answers: the paper roll is nearly used up",
                printer.port.display()
            ),
            "load a new roll soon",
        ),
        Err(error) => Finding::problem(
            CheckId::Printer,
            Status::Fail,
            format!("{} does not print", printer.port.display()),
            format!("{error}; enrollments go on without paper receipts"),
        ),
    }
}
