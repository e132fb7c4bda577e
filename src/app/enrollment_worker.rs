//! The enrollment worker: a named thread that loads the face models (once, in the background, so
//! the window opens at once), checks captures against the card photo and commits records to the
//! outbox, one job at a time. It keeps the last checked capture (the biometrics) to itself until it
//! is committed or wiped; the UI gets only scores and reference numbers. It decides no flow step.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};

use image::RgbImage;

use crate::app::enrollment::{
    Checked, CommitParams, EnrollError, card_photo_image, check as check_capture, commit,
    same_person,
};
use crate::config::Config;
use enroll_core::domain::activation::ActivationCode;
use enroll_core::domain::card_read::CardRead;
use enroll_core::domain::record::RecordId;
use enroll_core::domain::reference::ShortReference;
use enroll_core::domain::time::UnixMs;
use std::str::FromStr as _;

use crate::app::printing::PaperReceipt;
use enroll_core::domain::tier::Tier;
use enroll_crypto::keys;
use enroll_crypto::records::{PreparedSeal, RecordSigner, SealingPublicKey, TerminalSigningKey};
use enroll_face::FaceEngine;
use enroll_face::PackSettings;
use enroll_face::quality::{QualityComponent, QualityReason};
use enroll_store::{GuardLimits, Outbox, RecordState};

/// The face engine once it is loaded, or why it could not be (shared with the live analysis).
#[derive(Clone, Default)]
pub struct EngineSlot(Arc<OnceLock<Result<Arc<FaceEngine>, String>>>);

impl EngineSlot {
    /// The engine, when loading finished and succeeded.
    pub fn engine(&self) -> Option<Arc<FaceEngine>> {
        self.0
            .get()
            .and_then(|loaded| loaded.as_ref().ok().cloned())
    }

    /// Why loading failed, when it did.
    pub fn failure(&self) -> Option<String> {
        self.0
            .get()
            .and_then(|loaded| loaded.as_ref().err().cloned())
    }

    /// Puts an already loaded engine in (tests share one engine between apps).
    pub fn preloaded(engine: Arc<FaceEngine>) -> EngineSlot {
        let slot = EngineSlot::default();
        let _ = slot.0.set(Ok(engine));
        slot
    }

    fn load(&self, settings: &PackSettings) -> Result<Arc<FaceEngine>, String> {
        self.0
            .get_or_init(|| {
                let started = std::time::Instant::now();
                let loaded = FaceEngine::load(settings)
                    .map(Arc::new)
                    .map_err(|error| format!("the face models cannot be loaded: {error}"));
                match &loaded {
                    Ok(_) => tracing::info!(
                        took_ms = started.elapsed().as_millis(),
                        "face models loaded"
                    ),
                    Err(error) => tracing::error!(%error, "face models not loaded"),
                }
                loaded
            })
            .clone()
    }
}

/// Who records an enrollment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Operators {
    /// The officer signed in, if any.
    pub officer_id: Option<String>,
    /// The supervisor who approved an override, if any.
    pub supervisor_id: Option<String>,
    /// The officer's reason for the override (kept in the audit log with the record id).
    pub override_reason: Option<String>,
}

/// Work for the enrollment thread.
pub enum Job {
    /// Check this capture against the card's photo; keeps the result for a commit.
    Check {
        /// The live frame taken.
        capture: RgbImage,
        /// The card read (its photo is compared).
        card: Box<CardRead>,
        /// A frame of the face that did the liveness challenge (just after its blink): it
        /// must be the captured face, or the capture does not count as live.
        challenge_face: Option<RgbImage>,
    },
    /// Seal, sign and commit the last checked capture with this card.
    Commit {
        /// The card read.
        card: Box<CardRead>,
        /// Officer and supervisor.
        operators: Operators,
        /// The liveness challenge run before the check, and the officer's waiver.
        challenge: enroll_core::domain::challenge::ChallengeRecord,
    },
    /// Forget the last checked capture.
    Wipe,
    /// Look records up for the officer desk.
    Records(RecordQuery),
    /// Keep a badge's wrong-PIN count and lockout across restarts.
    KeepPinFailures(enroll_store::PinFailures),
    /// Make the paper receipt of a committed record again (the same codes: they are derived).
    Reprint {
        /// The record id.
        record_id: String,
    },
}

/// Which records the officer desk asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordQuery {
    /// Made at or after this time (today's), newest first.
    Since(UnixMs),
    /// The record with this short reference, whenever it was made.
    Reference(ShortReference),
}

/// How a record's delivery stands, as the desk says it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// In the outbox, not yet acknowledged.
    Waiting,
    /// Acknowledged by the registry.
    Sent,
    /// Refused by the registry, with its reason.
    Rejected { reason: String },
}

/// One record as the officer desk lists it: no names, no document numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeskRecord {
    pub record_id: String,
    pub reference: ShortReference,
    pub created_at_unix_ms: UnixMs,
    pub delivery: Delivery,
}

/// The measurable result of a check (no picture, no embedding).
#[derive(Clone, Debug, PartialEq)]
pub struct CheckSummary {
    /// The cosine score with the card photo; `None` when the card has no usable photo.
    pub score_cosine: Option<f32>,
    /// The threshold used.
    pub threshold_cosine: f32,
    /// Whether the score passed.
    pub is_match: bool,
    /// Whether passive liveness passed (where configured).
    pub live: bool,
    /// The quality components of the capture (for the officer's screen).
    pub components: Vec<QualityComponent>,
    /// The faces the applicant confirms.
    pub photos: ConfirmPhotos,
}

/// The two faces on the confirm screen: the portrait that will be recorded and the card's photo
/// when it decodes. Biometric: `Debug` shows sizes only, and the app drops them with the screen.
#[derive(Clone, PartialEq)]
pub struct ConfirmPhotos {
    pub portrait: Option<RgbImage>,
    pub card: Option<RgbImage>,
}

impl std::fmt::Debug for ConfirmPhotos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let size = |image: &Option<RgbImage>| image.as_ref().map(|i| (i.width(), i.height()));
        f.debug_struct("ConfirmPhotos")
            .field("portrait_px", &size(&self.portrait))
            .field("card_px", &size(&self.card))
            .finish()
    }
}

/// A committed record as the UI shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitSummary {
    /// The record id (the applicant's reference number).
    pub record_id: RecordId,
    /// The applicant's receipt as QR text.
    pub receipt_text: String,
    /// The one-time activation code the receipt shows.
    pub activation_code: ActivationCode,
}

/// What the thread reports.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The face models finished loading (`Err`: why not).
    ModelsLoaded(Result<(), String>),
    /// A check finished (`Err`: why it could not run; no personal data).
    Checked(Result<CheckSummary, String>),
    /// A commit finished (`Err`: why it failed, e.g. a guard or a full disk).
    Committed(Result<CommitSummary, String>),
    /// The records the desk asked for.
    Records {
        query: RecordQuery,
        result: Result<Vec<DeskRecord>, String>,
    },
    /// A receipt to print again.
    Reprinted(Result<PaperReceipt, String>),
}

/// What the thread needs from the configuration.
#[derive(Clone)]
pub struct WorkerSettings {
    engine: PackSettings,
    outbox_path: PathBuf,
    terminal_id: String,
    tier: Tier,
    signing_key_file: PathBuf,
    signing_key_token: Option<enroll_devices::token::Pkcs11Uri>,
    sealing_key_file: PathBuf,
    limits: GuardLimits,
    faults_dir: Option<PathBuf>,
    holder_page_url: String,
}

impl WorkerSettings {
    /// Takes the worker's settings from the configuration.
    pub fn from_config(config: &Config) -> WorkerSettings {
        WorkerSettings {
            engine: config.face.engine.clone(),
            outbox_path: config.store.database_path.clone(),
            terminal_id: config.terminal.id.clone(),
            tier: config.terminal.tier,
            signing_key_file: config.terminal.signing_key_file.clone(),
            signing_key_token: config.terminal.signing_key_token.clone(),
            sealing_key_file: config.registry.sealing_public_key_file.clone(),
            faults_dir: config.faults_dir().map(Path::to_path_buf),
            holder_page_url: config.registry.holder_page_url.clone(),
            limits: GuardLimits {
                min_free_disk_mb: config.store.min_free_disk_mb,
                max_unsent_records: u64::from(config.store.max_unsent_records),
                max_unsent_age_days: u64::from(config.store.max_unsent_age_days),
            },
        }
    }
}

/// The UI's end of the worker.
pub struct EnrollmentWorker {
    jobs: Sender<Job>,
    outcomes: Receiver<Outcome>,
}

struct Resources {
    outbox: Outbox,
    terminal_key: std::sync::Arc<dyn RecordSigner>,
    /// Keys this terminal retired by rotation (its older records' reprints need them).
    retired_keys: Vec<TerminalSigningKey>,
    registry_key: SealingPublicKey,
}

fn open_resources(settings: &WorkerSettings) -> Result<Resources, String> {
    let terminal_key = crate::configured::open_terminal_signer(
        &settings.signing_key_file,
        settings.signing_key_token.as_ref(),
    )
    .map_err(|e| e.to_string())?;
    let registry_key = keys::read_sealing_public(&settings.sealing_key_file)
        .map_err(|e| format!("{e}; configure the registry's sealing key"))?;
    if let Some(parent) = settings
        .outbox_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            format!(
                "cannot create the outbox directory {}: {e}",
                parent.display()
            )
        })?;
    }
    let outbox =
        crate::configured::open_outbox(&settings.outbox_path, settings.faults_dir.as_deref())
            .map_err(|e| e.to_string())?;
    let retired_keys = keys::read_retired_signing_keys(&settings.signing_key_file)
        .map_err(|e| format!("{e}; a retired terminal key is unreadable"))?;
    Ok(Resources {
        outbox,
        terminal_key,
        retired_keys,
        registry_key,
    })
}

/// The worker's resources, opened on first use (an opening error stays until restart).
fn opened<'a>(
    resources: &'a mut Option<Result<Resources, String>>,
    settings: &WorkerSettings,
) -> Result<&'a mut Resources, String> {
    resources
        .get_or_insert_with(|| open_resources(settings))
        .as_mut()
        .map_err(|e| e.clone())
}

fn summary(checked: &Checked, threshold_cosine: f32, card: Option<RgbImage>) -> CheckSummary {
    let live = !checked
        .analysis
        .quality
        .reasons
        .contains(&QualityReason::LivenessFailed);
    CheckSummary {
        score_cosine: checked.decision.as_ref().map(|d| d.score_cosine),
        threshold_cosine,
        is_match: checked.decision.as_ref().is_some_and(|d| d.is_match),
        live,
        components: checked.analysis.quality.components.clone(),
        photos: ConfirmPhotos {
            portrait: image::load_from_memory(checked.portrait.jpeg_bytes())
                .ok()
                .map(|image| image.to_rgb8()),
            card,
        },
    }
}

struct Thread {
    settings: WorkerSettings,
    slot: EngineSlot,
    resources: Option<Result<Resources, String>>,
    last_checked: Option<Checked>,
    /// The HPKE encapsulation for the next record, made while the applicant reviews the check so
    /// the commit runs only the AEAD (single use; dropped with the capture on a wipe).
    prepared_seal: Option<PreparedSeal>,
}

impl Thread {
    fn check(
        &mut self,
        capture: &RgbImage,
        card: &CardRead,
        challenge_face: Option<&RgbImage>,
    ) -> Result<CheckSummary, String> {
        self.last_checked = None;
        let engine = self.slot.load(&self.settings.engine)?;
        let card_photo = card_photo_image(&card.identity.photo).map_err(|e| e.to_string())?;
        let checked =
            check_capture(&engine, capture, card_photo.as_ref()).map_err(|e| e.to_string())?;
        let mut result = summary(&checked, engine.threshold_cosine(), card_photo);
        if let Some(face) = challenge_face
            && !same_person(&engine, capture, &checked, face).map_err(|e| e.to_string())?
        {
            tracing::warn!("the face that did the liveness challenge is not the captured face");
            result.live = false;
        }
        self.last_checked = Some(checked);
        if self.prepared_seal.is_none() {
            // Best effort: a missing key or random source is reported by the commit itself.
            self.prepared_seal = self.prepare_seal().ok();
        }
        Ok(result)
    }

    /// A seal to the registry key for the next record (opens the resources on first use).
    fn prepare_seal(&mut self) -> Result<PreparedSeal, String> {
        let seed = keys::random_seed().map_err(|e| e.to_string())?;
        let resources = opened(&mut self.resources, &self.settings)?;
        PreparedSeal::new(&resources.registry_key, seed).map_err(|e| e.to_string())
    }

    /// Copies the outbox's WAL into its database file when due, once the result is on its way
    /// to the screen.
    fn checkpoint_if_due(&mut self) {
        if let Some(Ok(resources)) = self.resources.as_mut() {
            resources.outbox.checkpoint_if_due_or_log();
        }
    }

    fn commit(
        &mut self,
        card: &CardRead,
        operators: Operators,
        challenge: enroll_core::domain::challenge::ChallengeRecord,
    ) -> Result<CommitSummary, String> {
        let engine = self.slot.load(&self.settings.engine)?;
        let checked = self
            .last_checked
            .take()
            .ok_or_else(|| "no checked capture to record; capture again".to_owned())?;
        let seal = match self.prepared_seal.take() {
            Some(seal) => seal,
            None => self.prepare_seal()?,
        };
        let settings = &self.settings;
        let resources = opened(&mut self.resources, settings)?;
        let actor = match &operators.officer_id {
            Some(officer) => format!("officer:{officer}"),
            None => "applicant".to_owned(),
        };
        let params = CommitParams {
            terminal_id: &settings.terminal_id,
            tier: settings.tier,
            officer_id: operators.officer_id.clone(),
            supervisor_id: operators.supervisor_id.clone(),
            actor: &actor,
            limits: &settings.limits,
            terminal_key: &*resources.terminal_key,
            threshold_cosine: engine.threshold_cosine(),
            models_sha256: engine.models_sha256(),
            model_pack: engine.pack().name(),
            challenge,
        };
        let id_random = keys::random_bytes().map_err(|e| e.to_string())?;
        let enrolled = commit(
            &mut resources.outbox,
            card,
            &checked,
            &params,
            crate::clock::now(),
            id_random,
            seal,
        )
        .map_err(|e: EnrollError| e.to_string())?;
        if let Some(reason) = &operators.override_reason {
            let subject = enrolled.committed.id.to_string();
            let now_ms = crate::clock::now();
            if let Err(error) = resources.outbox.audit(
                now_ms,
                &actor,
                enroll_store::AuditAction::Override,
                Some(&subject),
                Some(reason),
            ) {
                tracing::error!(%error, "the override reason could not be written to the audit log");
            }
        }
        Ok(CommitSummary {
            record_id: enrolled.committed.id,
            receipt_text: enrolled.receipt_text,
            activation_code: enrolled.activation_code,
        })
    }
}

impl Thread {
    fn records(&mut self, query: &RecordQuery) -> Result<Vec<DeskRecord>, String> {
        let resources = opened(&mut self.resources, &self.settings)?;
        let entries = match *query {
            RecordQuery::Since(since) => resources.outbox.list_since(since),
            RecordQuery::Reference(_) => resources.outbox.list(),
        }
        .map_err(|e| e.to_string())?;
        Ok(entries
            .into_iter()
            .filter_map(|entry| {
                let id = RecordId::from_str(&entry.id).ok()?;
                let reference = ShortReference::of(&id);
                if matches!(query, RecordQuery::Reference(wanted) if *wanted != reference) {
                    return None;
                }
                Some(DeskRecord {
                    record_id: entry.id,
                    reference,
                    created_at_unix_ms: entry.created_at_unix_ms,
                    delivery: match entry.state {
                        RecordState::Acknowledged => Delivery::Sent,
                        RecordState::Rejected => Delivery::Rejected {
                            reason: entry.last_error.unwrap_or_default(),
                        },
                        RecordState::Pending | RecordState::Sending => Delivery::Waiting,
                    },
                })
            })
            .collect())
    }

    fn reprint(&mut self, record_id: &str) -> Result<PaperReceipt, String> {
        let resources = opened(&mut self.resources, &self.settings)?;
        let (body, body_sha256) = resources
            .outbox
            .signed_body(record_id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no record {record_id} in this terminal's outbox"))?;
        let keys: Vec<&dyn RecordSigner> = std::iter::once(&*resources.terminal_key)
            .chain(
                resources
                    .retired_keys
                    .iter()
                    .map(|key| key as &dyn RecordSigner),
            )
            .collect();
        crate::app::enrollment::paper_receipt(
            &keys,
            &body,
            &body_sha256,
            &self.settings.holder_page_url,
        )
        .map_err(|e| e.to_string())
    }
}

impl EnrollmentWorker {
    /// Starts the `enrollment` thread; it loads the models into `slot` first (unless they are
    /// there already).
    pub fn spawn(settings: WorkerSettings, slot: EngineSlot) -> std::io::Result<EnrollmentWorker> {
        let (jobs, job_rx) = std::sync::mpsc::channel::<Job>();
        let (outcome_tx, outcomes) = std::sync::mpsc::sync_channel::<Outcome>(8);
        std::thread::Builder::new()
            .name("enrollment".into())
            .spawn(move || {
                let mut thread = Thread {
                    settings,
                    slot,
                    resources: None,
                    last_checked: None,
                    prepared_seal: None,
                };
                let loaded = thread.slot.load(&thread.settings.engine).map(|_| ());
                if !send(&outcome_tx, Outcome::ModelsLoaded(loaded)) {
                    return;
                }
                while let Ok(job) = job_rx.recv() {
                    let (outcome, committed) = match job {
                        Job::Check {
                            capture,
                            card,
                            challenge_face,
                        } => (
                            Outcome::Checked(thread.check(
                                &capture,
                                &card,
                                challenge_face.as_ref(),
                            )),
                            false,
                        ),
                        Job::Commit {
                            card,
                            operators,
                            challenge,
                        } => (
                            Outcome::Committed(thread.commit(&card, operators, challenge)),
                            true,
                        ),
                        Job::Records(query) => {
                            let result = thread.records(&query);
                            (Outcome::Records { query, result }, false)
                        }
                        Job::Reprint { record_id } => {
                            (Outcome::Reprinted(thread.reprint(&record_id)), false)
                        }
                        Job::KeepPinFailures(failures) => {
                            let kept = opened(&mut thread.resources, &thread.settings).and_then(
                                |resources| {
                                    resources
                                        .outbox
                                        .set_pin_failures(&failures)
                                        .map_err(|e| e.to_string())
                                },
                            );
                            if let Err(error) = kept {
                                tracing::error!(%error, "a wrong-PIN count could not be kept");
                            }
                            continue;
                        }
                        Job::Wipe => {
                            thread.last_checked = None;
                            thread.prepared_seal = None;
                            continue;
                        }
                    };
                    if !send(&outcome_tx, outcome) {
                        return;
                    }
                    if committed {
                        thread.checkpoint_if_due();
                    }
                }
            })?;
        Ok(EnrollmentWorker { jobs, outcomes })
    }

    /// Hands a job to the thread (never waits).
    pub fn submit(&self, job: Job) {
        if self.jobs.send(job).is_err() {
            tracing::error!("the enrollment thread has stopped");
        }
    }

    /// The next outcome, if one is waiting.
    pub fn next_outcome(&self) -> Option<Outcome> {
        self.outcomes.try_recv().ok()
    }
}

/// Sends an outcome, waiting while the UI catches up; `false` once the UI is gone.
fn send(sender: &SyncSender<Outcome>, mut outcome: Outcome) -> bool {
    loop {
        match sender.try_send(outcome) {
            Ok(()) => return true,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(back)) => {
                outcome = back;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}
