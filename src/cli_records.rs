//! The record commands: `kiosk keygen`, `kiosk enroll`, `kiosk queue status|list|verify` and
//! `kiosk audit verify`. They read files, the clock and the OS random source, call the library
//! and print ids and states, never personal data.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;

use enroll_core::domain::card_read::CardRead;
use enroll_core::domain::document::Photo;
use enroll_crypto::keys;
use enroll_crypto::records::{PreparedSeal, RecordSigner, TerminalSigningKey};
use enroll_face::{FaceEngine, decode_image};
use enroll_kiosk::app::enrollment::{CommitParams, card_photo_image, check, commit};
use enroll_kiosk::config::Config;
use enroll_store::{GuardLimits, Outbox};

/// `kiosk queue …`
#[derive(Subcommand)]
pub enum QueueCommand {
    /// Counts by delivery state, the oldest unsent record, payload bytes held
    Status {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Every record's id, state, attempts and next attempt (no personal data)
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// One record by its short reference (XXX-XXX-XXXX, from the receipt) or its id: id,
    /// reference, state, attempts, last error (no personal data)
    Show {
        /// The short reference or the record id
        record: String,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Re-check every signature, hash and chain link; exits 1 on any break
    Verify,
}

/// `kiosk audit …`
#[derive(Subcommand)]
pub enum AuditCommand {
    /// Re-check the audit log's hash chain; exits 1 on any break
    Verify,
}

/// Arguments of `kiosk enroll`.
#[derive(clap::Args)]
pub struct EnrollArgs {
    /// The card read: exactly the JSON `kiosk card read --json` prints
    #[arg(long, value_name = "JSON")]
    document: PathBuf,
    /// The live capture of the applicant (JPEG, PNG or BMP); the stored portrait is cropped from it
    #[arg(long, value_name = "IMG")]
    portrait: PathBuf,
    /// The card's photo as an image file [default: the photo inside --document]
    #[arg(long, value_name = "IMG")]
    card_photo: Option<PathBuf>,
    /// The officer running the enrollment (officer terminals)
    #[arg(long, value_name = "ID")]
    officer: Option<String>,
    /// A supervisor who approves; needed to record a face that does not match the card
    #[arg(long, value_name = "ID")]
    supervisor: Option<String>,
    /// Write N records of the same enrollment, each printed after its commit (load and crash tests)
    #[arg(long, default_value_t = 1, value_name = "N")]
    count: u64,
}

pub(crate) fn load_config(config_path: Option<&Path>) -> anyhow::Result<Config> {
    let path = Config::resolve_path(config_path);
    Config::load(&path).with_context(|| format!("cannot load the configuration {}", path.display()))
}

fn open_outbox(config: &Config) -> anyhow::Result<Outbox> {
    let path = &config.store.database_path;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the outbox directory {}", parent.display()))?;
    }
    Ok(Outbox::open(path)?)
}

/// `kiosk keygen --out DIR`
pub fn keygen(out: &Path) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let (private_path, public_path) = keys::pair_paths(out, "terminal-signing");
    keys::ensure_absent(&[&private_path, &public_path])?;
    let key = TerminalSigningKey::from_seed(keys::random_seed()?);
    keys::write_new(&private_path, &key.to_pem(), true)?;
    keys::write_new(&public_path, &key.public().to_pem(), false)?;
    let mut stdout = std::io::stdout();
    writeln!(
        stdout,
        "terminal signing key written to {} (mode 0600)",
        private_path.display()
    )?;
    writeln!(stdout, "public key ({}):", public_path.display())?;
    write!(stdout, "{}", key.public().to_pem())?;
    writeln!(
        stdout,
        "fingerprint (SHA-256): {}",
        key.public().fingerprint()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `kiosk keygen --token`: the key pair made inside the token `terminal.signing_key` names; its
/// public half printed (and written to `out`/terminal-signing.pub when given) for the registry.
pub fn keygen_in_token(out: Option<&Path>, config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let uri = config.terminal.signing_key_token.as_ref().with_context(|| {
        format!(
            "{} names no token: set terminal.signing_key = \"pkcs11:token=…;object=…?module-path=…&pin-source=…\"",
            config.source_path.display()
        )
    })?;
    let public = enroll_devices::token::Pkcs11Signer::generate(uri)?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "terminal signing key made inside the token: {uri}")?;
    if let Some(out) = out {
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        let (_, public_path) = keys::pair_paths(out, "terminal-signing");
        keys::write_new(&public_path, &public.to_pem(), false)?;
        writeln!(stdout, "public key written to {}", public_path.display())?;
    }
    write!(stdout, "{}", public.to_pem())?;
    writeln!(stdout, "fingerprint (SHA-256): {}", public.fingerprint())?;
    Ok(ExitCode::SUCCESS)
}

fn read_image(path: &Path) -> anyhow::Result<image::RgbImage> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read image {}", path.display()))?;
    decode_image(&bytes, 8192).with_context(|| format!("image {}", path.display()))
}

fn card_image(card_photo: Option<&Path>, photo: &Photo) -> anyhow::Result<Option<image::RgbImage>> {
    if let Some(path) = card_photo {
        return read_image(path).map(Some);
    }
    card_photo_image(photo).context("the card photo inside --document")
}

/// `kiosk enroll …`
pub fn enroll(args: EnrollArgs, config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    if args.count == 0 {
        bail!("--count must be at least 1");
    }
    let text = std::fs::read_to_string(&args.document)
        .with_context(|| format!("cannot read --document {}", args.document.display()))?;
    let card: CardRead = serde_json::from_str(&text).map_err(|error| {
        anyhow::anyhow!(
            "--document {} is not the JSON of `kiosk card read --json` (line {} column {}: {:?})",
            args.document.display(),
            error.line(),
            error.column(),
            error.classify()
        )
    })?;
    let terminal_key = enroll_kiosk::configured::terminal_signer(&config)?;
    let registry_key = keys::read_sealing_public(&config.registry.sealing_public_key_file)?;

    let engine = FaceEngine::load(&config.face.engine)
        .context("cannot load the face models (run scripts/setup.sh to fetch them)")?;
    let live = read_image(&args.portrait)?;
    let card_photo = card_image(args.card_photo.as_deref(), &card.identity.photo)?;
    let checked = check(&engine, &live, card_photo.as_ref())
        .with_context(|| format!("portrait {}", args.portrait.display()))?;
    if let Some(decision) = &checked.decision
        && !decision.is_match
        && args.supervisor.is_none()
    {
        bail!(
            "the live face does not match the card photo (score {:.3} below the threshold {:.3}); \
             recording it needs a supervisor's approval (--supervisor ID)",
            decision.score_cosine,
            decision.threshold_cosine
        );
    }
    let limits = GuardLimits {
        min_free_disk_mb: config.store.min_free_disk_mb,
        max_unsent_records: u64::from(config.store.max_unsent_records),
        max_unsent_age_days: u64::from(config.store.max_unsent_age_days),
    };
    let actor = match &args.officer {
        Some(officer) => format!("officer:{officer}"),
        None => "applicant".to_owned(),
    };
    let params = CommitParams {
        terminal_id: &config.terminal.id,
        tier: config.terminal.tier,
        officer_id: args.officer.clone(),
        supervisor_id: args.supervisor.clone(),
        actor: &actor,
        limits: &limits,
        terminal_key: &*terminal_key,
        threshold_cosine: engine.threshold_cosine(),
        models_sha256: engine.models_sha256(),
        model_pack: engine.pack().name(),
        challenge: enroll_core::domain::challenge::ChallengeRecord::default(),
    };
    let mut outbox = open_outbox(&config)?;
    let mut stdout = std::io::stdout();
    for _ in 0..args.count {
        let seal = PreparedSeal::new(&registry_key, keys::random_seed()?)?;
        let now_ms = enroll_kiosk::clock::now();
        let enrolled = commit(
            &mut outbox,
            &card,
            &checked,
            &params,
            now_ms,
            keys::random_bytes()?,
            seal,
        )?;
        // Printed only after the commit (and its fsync) returned.
        writeln!(stdout, "{}", enrolled.committed.id)?;
        stdout.flush()?;
        outbox.checkpoint_if_due()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The record id an argument names: an id as it is, or the one record of the outbox whose short
/// reference it is.
fn resolve_record(outbox: &enroll_store::Outbox, argument: &str) -> anyhow::Result<String> {
    use enroll_core::domain::record::RecordId;
    use enroll_core::domain::reference::ShortReference;
    use std::str::FromStr as _;
    if RecordId::from_str(argument.trim()).is_ok() {
        return Ok(argument.trim().to_owned());
    }
    let reference = ShortReference::parse(argument).map_err(|error| {
        anyhow::anyhow!("{argument:?} is neither a record id nor a short reference: {error}")
    })?;
    let matching: Vec<String> = outbox
        .list()?
        .into_iter()
        .map(|entry| entry.id)
        .filter(|id| RecordId::from_str(id).is_ok_and(|id| ShortReference::of(&id) == reference))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!(
            "no record with reference {} in this terminal's outbox",
            reference.grouped()
        ),
        many => bail!(
            "reference {} names {} records here: {}; give the record id",
            reference.grouped(),
            many.len(),
            many.join(", ")
        ),
    }
}

/// `kiosk queue …`
pub fn queue(command: QueueCommand, config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let outbox = open_outbox(&config)?;
    let mut stdout = std::io::stdout();
    match command {
        QueueCommand::Status { json } => {
            let status = outbox.status()?;
            if json {
                writeln!(stdout, "{}", serde_json::to_string_pretty(&status)?)?;
            } else {
                writeln!(
                    stdout,
                    "pending {}, sending {}, acknowledged {}, rejected {}",
                    status.pending, status.sending, status.acknowledged, status.rejected
                )?;
                match status.oldest_unsent_created_at_unix_ms {
                    Some(ms) => writeln!(
                        stdout,
                        "oldest unsent record: {} min old",
                        enroll_kiosk::clock::now().ms_since(ms).max(0) / 60_000
                    )?,
                    None => writeln!(stdout, "nothing waits to be sent")?,
                }
                writeln!(
                    stdout,
                    "sealed payloads held: {} bytes; deleted after retention: {}",
                    status.sealed_payload_bytes, status.payloads_deleted
                )?;
            }
        }
        QueueCommand::List { json } => {
            let entries = outbox.list()?;
            if json {
                writeln!(stdout, "{}", serde_json::to_string_pretty(&entries)?)?;
            } else {
                for e in entries {
                    writeln!(
                        stdout,
                        "{:>6}  {}  {:<12}  attempts {}  {}",
                        e.seq,
                        e.id,
                        serde_json::to_value(e.state)?.as_str().unwrap_or("?"),
                        e.attempts,
                        e.last_error.as_deref().unwrap_or("")
                    )?;
                }
            }
        }
        QueueCommand::Show { record, json } => {
            let id = resolve_record(&outbox, &record)?;
            let entry = outbox
                .list()?
                .into_iter()
                .find(|entry| entry.id == id)
                .with_context(|| format!("no record {id} in this terminal's outbox"))?;
            let reference = id
                .parse::<enroll_core::domain::record::RecordId>()
                .map(|id| enroll_core::domain::reference::ShortReference::of(&id).grouped())
                .unwrap_or_default();
            if json {
                let mut value = serde_json::to_value(&entry)?;
                if let Some(object) = value.as_object_mut() {
                    object.insert("reference".into(), reference.into());
                }
                writeln!(stdout, "{}", serde_json::to_string_pretty(&value)?)?;
            } else {
                writeln!(stdout, "record     {}", entry.id)?;
                writeln!(stdout, "reference  {reference}")?;
                writeln!(
                    stdout,
                    "state      {}",
                    serde_json::to_value(entry.state)?.as_str().unwrap_or("?")
                )?;
                writeln!(stdout, "attempts   {}", entry.attempts)?;
                if let Some(error) = &entry.last_error {
                    writeln!(stdout, "last error {error}")?;
                }
            }
        }
        QueueCommand::Verify => {
            // Every key this terminal signed with: records before a rotation name the old one.
            let current = enroll_kiosk::configured::terminal_signer(&config)?;
            let retired = keys::read_retired_signing_keys(&config.terminal.signing_key_file)?;
            let publics: Vec<_> = std::iter::once(current.public_key())
                .chain(retired.iter().map(TerminalSigningKey::public))
                .collect();
            let report = outbox.verify_records_with(&publics)?;
            if report.is_intact() {
                writeln!(
                    stdout,
                    "ok: {} records, every signature and chain link holds",
                    report.records
                )?;
            } else {
                for p in &report.problems {
                    writeln!(stdout, "record {} ({}): {}", p.seq, p.id, p.problem)?;
                }
                writeln!(
                    stdout,
                    "BROKEN: {} problems in {} records",
                    report.problems.len(),
                    report.records
                )?;
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `kiosk audit verify`
pub fn audit(command: AuditCommand, config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify = command;
    let config = load_config(config_path)?;
    let outbox = open_outbox(&config)?;
    let entries = outbox.audit_entries()?;
    let problems = enroll_store::audit::verify_entries(&entries);
    let mut stdout = std::io::stdout();
    if problems.is_empty() {
        writeln!(
            stdout,
            "ok: {} audit entries, the hash chain holds",
            entries.len()
        )?;
        Ok(ExitCode::SUCCESS)
    } else {
        for problem in &problems {
            writeln!(stdout, "{problem}")?;
        }
        writeln!(stdout, "BROKEN: {} problems", problems.len())?;
        Ok(ExitCode::FAILURE)
    }
}

/// Arguments of `kiosk sync`.
#[derive(clap::Args)]
pub struct SyncArgs {
    /// Send every unsent record once, without waiting out retry delays, and exit (exit 1 when
    /// records remain unsent)
    #[arg(long)]
    once: bool,
    /// Send to this registry instead of the configured registry.url
    #[arg(long, value_name = "URL")]
    registry: Option<String>,
}

/// `kiosk sync …`
pub fn sync(args: SyncArgs, config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    use enroll_sync::{http_client, sync_pass};
    let config = load_config(config_path)?;
    let url = args.registry.unwrap_or_else(|| config.registry.url.clone());
    let (settings, tls) = enroll_kiosk::configured::sync_setup(&config, &url)?;
    let mut outbox = open_outbox(&config)?;
    let runtime = enroll_kiosk::runtime::current_thread()?;
    let client = runtime.block_on(async { http_client(tls) });
    let mut random = || {
        keys::random_bytes::<8>()
            .map(u64::from_le_bytes)
            .unwrap_or(0)
    };
    let mut stdout = std::io::stdout();
    if !args.once {
        return sync_forever(outbox, client, settings, runtime);
    }
    // An operator asked for it now: records waiting out a retry delay go too.
    let now_ms = enroll_kiosk::clock::now();
    outbox.make_due(now_ms)?;
    let report = runtime.block_on(sync_pass(
        &mut outbox,
        &client,
        &settings,
        now_ms,
        &mut random,
    ))?;
    writeln!(
        stdout,
        "sent {}, acknowledged {}, rejected {}, to retry {}{}",
        report.sent,
        report.acknowledged,
        report.rejected,
        report.retried,
        report
            .last_error
            .as_deref()
            .map(|e| format!("; last error: {e}"))
            .unwrap_or_default()
    )?;
    // The officer roster and the document-tag key come with every sync; the kept copy stays in
    // force when they cannot be fetched (said, not fatal: records are what the exit code is about).
    if let Some(fleet) = &settings.fleet {
        match runtime.block_on(enroll_sync::refresh_fleet(
            &mut outbox,
            &client,
            &settings,
            fleet,
            enroll_kiosk::clock::now(),
        )) {
            Ok(update) => writeln!(
                stdout,
                "officer roster serial {}{}",
                update.roster_serial,
                if update.roster_changed {
                    " (updated)"
                } else {
                    ""
                }
            )?,
            Err(error) => writeln!(
                stdout,
                "officer roster not refreshed ({error}); the kept copy stays in force"
            )?,
        }
    }
    let status = outbox.status()?;
    Ok(if status.pending + status.sending == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `kiosk sync` without `--once`: the worker loop until Ctrl-C or SIGTERM, printing its state.
fn sync_forever(
    outbox: Outbox,
    client: enroll_sync::HttpClient,
    settings: enroll_sync::SyncSettings,
    runtime: tokio::runtime::Runtime,
) -> anyhow::Result<ExitCode> {
    use enroll_sync::{SyncState, Worker, WorkerTiming};
    let worker = Worker {
        outbox,
        client,
        settings,
        timing: WorkerTiming {
            idle_poll_ms: 2_000,
            probe_ms: 1_000,
        },
        clock: std::sync::Arc::new(enroll_kiosk::clock::now),
        random: Box::new(|| {
            keys::random_bytes::<8>()
                .map(u64::from_le_bytes)
                .unwrap_or(0)
        }),
    };
    let (state_tx, mut state_rx) = tokio::sync::watch::channel(SyncState::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    runtime.block_on(async move {
        let task = tokio::spawn(worker.run(state_tx, stop_rx));
        let mut last_printed = None;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                changed = state_rx.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let state = state_rx.borrow().clone();
                    let line = format!(
                        "unsent {}, {}{}",
                        state.unsent,
                        if state.online { "online" } else { "offline" },
                        state.last_error.as_deref().map(|e| format!("; last error: {e}")).unwrap_or_default()
                    );
                    if last_printed.as_ref() != Some(&line) {
                        let _ = writeln!(std::io::stdout(), "{line}");
                        last_printed = Some(line);
                    }
                }
            }
        }
        let _ = stop_tx.send(true);
        match task.await {
            Ok(result) => result.map_err(anyhow::Error::from),
            Err(error) => Err(anyhow::anyhow!("the sync worker stopped: {error}")),
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
pub enum ReceiptCommand {
    /// Print an applicant's receipt for a record in the outbox (a reprint): the receipt's QR text,
    /// then the one-time activation code and the holder-page link its second QR code holds
    Make {
        /// The record id, or its short reference (XXX-XXX-XXXX)
        record_id: String,
        /// Also write both QR codes as PNG files for printing (receipt.png, activation.png)
        #[arg(long, value_name = "DIR")]
        qr_out: Option<PathBuf>,
    },
    /// Check a receipt's QR text offline against a terminal's public key
    Verify {
        /// The text the QR code holds (EKRCPT1.…)
        text: String,
        /// The terminal's public key [default: the .pub beside terminal.signing_key_file]
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
    },
}

/// Writes `text` as a printable QR code: error correction Q (survives smudges and folds), 8 pixels a
/// module, the 4-module quiet zone.
fn write_qr_png(text: &str, path: &Path) -> anyhow::Result<()> {
    const MODULE_PX: u32 = 8;
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::Q)
        .context("the text does not fit a QR code")?;
    let modules = u32::try_from(code.width()).context("the QR code is too large")?;
    let colors = code.to_colors();
    let side = (modules + 8) * MODULE_PX;
    let image = image::GrayImage::from_fn(side, side, |x, y| {
        let (mx, my) = (x / MODULE_PX, y / MODULE_PX);
        let dark = (4..modules + 4).contains(&mx)
            && (4..modules + 4).contains(&my)
            && colors.get(((my - 4) * modules + (mx - 4)) as usize) == Some(&qrcode::Color::Dark);
        image::Luma([if dark { 0 } else { 255 }])
    });
    image
        .save(path)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// `kiosk receipt …`
pub fn receipt(command: ReceiptCommand, config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    use enroll_core::domain::applicant_receipt::ApplicantReceipt;
    let mut stdout = std::io::stdout();
    match command {
        ReceiptCommand::Make { record_id, qr_out } => {
            let config = load_config(config_path)?;
            let outbox = open_outbox(&config)?;
            let record_id = resolve_record(&outbox, &record_id)?;
            let (body, body_sha256) = outbox
                .signed_body(&record_id)?
                .with_context(|| format!("no record {record_id} in this terminal's outbox"))?;
            // The key that signed the record: the current one, or one retired by rotation.
            let key = enroll_kiosk::configured::terminal_signer(&config)?;
            let retired = keys::read_retired_signing_keys(&config.terminal.signing_key_file)?;
            let signers: Vec<&dyn RecordSigner> = std::iter::once(&*key)
                .chain(retired.iter().map(|key| key as &dyn RecordSigner))
                .collect();
            let paper = enroll_kiosk::app::enrollment::paper_receipt(
                &signers,
                &body,
                &body_sha256,
                &config.registry.holder_page_url,
            )?;
            if let Some(dir) = qr_out {
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                write_qr_png(&paper.receipt_text, &dir.join("receipt.png"))?;
                write_qr_png(&paper.activation_link, &dir.join("activation.png"))?;
            }
            writeln!(
                stdout,
                "{}\nactivation code: {}\nactivation link: {}\nreference: {}",
                paper.receipt_text, paper.activation_code, paper.activation_link, paper.reference
            )?;
            Ok(ExitCode::SUCCESS)
        }
        ReceiptCommand::Verify { text, public_key } => {
            let public_key = match public_key {
                Some(path) => path,
                None => load_config(config_path)?
                    .terminal
                    .signing_key_file
                    .with_extension("pub"),
            };
            let key = keys::read_ed25519_public(&public_key)?;
            let (receipt, signature) = match ApplicantReceipt::parse(&text) {
                Ok(parsed) => parsed,
                Err(error) => {
                    writeln!(stdout, "invalid: {error}")?;
                    return Ok(ExitCode::FAILURE);
                }
            };
            if key.verify(&receipt.signed_bytes(), &signature).is_err() {
                writeln!(
                    stdout,
                    "invalid: the signature does not verify with {} (altered, or from another \
                     terminal)",
                    public_key.display()
                )?;
                return Ok(ExitCode::FAILURE);
            }
            writeln!(
                stdout,
                "valid: record {} from terminal {}, created at unix ms {}, body sha256 {}",
                receipt.record_id,
                receipt.terminal_id,
                receipt.created_at_unix_ms,
                receipt.body_sha256
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
