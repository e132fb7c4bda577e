//! The officer terminal: feeds the officer flow with what the officer typed and pressed, with the
//! card reader's reads, the checks and commits of the enrollment worker and the PIN checks (each
//! Argon2id check on its own named thread), and carries out the flow's effects on the shared
//! devices. The rules are the flow's; this file only wires them.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};

use super::badge_worker::BadgeWorker;
use super::enrollment_worker::ConfirmPhotos;
use super::enrollment_worker::{Delivery, DeskRecord, Job, Operators, Outcome, RecordQuery};
use super::mrz_worker::{MrzScanWorker, Scan};
use super::{DeskFrame, KioskApp, PhotoTextures};
use crate::config::MrzScannerConfig;
use crate::officers::OfficerList;
use crate::ui::i18n::Msg;
use crate::ui::officer::{
    CheckFigures, ComponentLine, DecisionEvidence, DeskLine, Found, OfficerForm, OfficerIntent,
    OfficerView, QueueLine, ScannerLine, officer_ui,
};
use enroll_core::domain::card_read::AccessKey;
use enroll_core::domain::mrz::{MrzAccessKey, MrzError};
use enroll_core::domain::reference::ShortReference;
use enroll_core::flows::applicant::{CardEvent, CardProblem};
use enroll_core::flows::officer::{
    self, CheckOutcome, Decision, OfficerEffect, OfficerEvent, OfficerNotice, OfficerState,
    OfficerUi, PinPurpose, Screen,
};
use enroll_core::flows::officer_auth::{AuthNotice, PinOutcome, Session};
use enroll_store::GuardRefusal;

/// A PIN check's answer.
struct PinResult {
    purpose: PinPurpose,
    badge: String,
    outcome: PinOutcome,
}

/// The officer terminal's own state beside the flow's.
#[derive(Default)]
pub(super) struct OfficerDesk {
    state: OfficerState,
    form: OfficerForm,
    notice: Option<OfficerNotice>,
    pin_check: Option<Receiver<PinResult>>,
    /// The badge reader, when one is configured.
    badges: Option<BadgeWorker>,
    /// The MRZ line scanner, when one is configured.
    scanner: Option<MrzScanWorker>,
    /// What the scanner last said.
    scanner_line: Option<ScannerLine>,
    check: Option<CheckFigures>,
    components: Vec<ComponentLine>,
    /// The faces of the last check, until the decision screen uploads them.
    photos: Option<ConfirmPhotos>,
    /// Their textures, while the decision (or its override) is open.
    photo_textures: Option<PhotoTextures>,
    /// Whether the officer asked to see the whole document number.
    reveal_number: bool,
    /// Today's records at this terminal, newest first.
    today: Vec<DeskLine>,
    /// When today's records were last asked for (they are asked again every few seconds while
    /// the dashboard shows).
    today_asked_at: Option<std::time::Instant>,
    /// The search's answer.
    found: Option<Found>,
    /// Why today's records could not be listed, as last logged.
    today_problem: Option<String>,
    card_problem: Option<CardProblem>,
    /// What is wrong with the typed MRZ details (which field, never the value).
    mrz_problem: Option<String>,
    access_key: AccessKey,
}

impl OfficerDesk {
    /// The flow state (tests).
    pub(super) fn state(&self) -> &OfficerState {
        &self.state
    }

    /// Whether anything about an applicant is held here.
    pub(super) fn holds_applicant_data(&self) -> bool {
        self.state.holds_applicant_data()
            || self.check.is_some()
            || !self.components.is_empty()
            || self.photos.is_some()
            || self.photo_textures.is_some()
            || !self.form.document_number.is_empty()
            || !self.form.reason.is_empty()
            || !matches!(self.access_key, AccessKey::None)
    }
}

/// Checks `pin` for `badge` on a `pin-check` thread (Argon2id is slow on purpose).
fn spawn_pin_check(
    officers: &Arc<OfficerList>,
    purpose: PinPurpose,
    badge: String,
    pin: String,
) -> Option<Receiver<PinResult>> {
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    let officers = Arc::clone(officers);
    let spawned = std::thread::Builder::new()
        .name("pin-check".into())
        .spawn(move || {
            let outcome = officers.check_pin(&badge, &pin);
            drop(pin);
            let _ = sender.send(PinResult {
                purpose,
                badge,
                outcome,
            });
        });
    match spawned {
        Ok(_) => Some(receiver),
        Err(error) => {
            tracing::error!(%error, "the PIN check thread cannot start");
            None
        }
    }
}

impl OfficerDesk {
    /// A desk at the sign-in screen, watching `badge_reader` for badges and `mrz_scanner` for
    /// data pages when they are configured.
    pub(super) fn new(
        badge_reader: Option<String>,
        mrz_scanner: Option<MrzScannerConfig>,
    ) -> OfficerDesk {
        let badges = badge_reader.and_then(|name| match BadgeWorker::spawn(name) {
            Ok(worker) => Some(worker),
            Err(error) => {
                tracing::error!(%error, "the badge reader thread cannot start; badges are typed");
                None
            }
        });
        let scanner = mrz_scanner.and_then(|MrzScannerConfig { port, baud }| {
            match MrzScanWorker::spawn(port, baud) {
                Ok(worker) => Some(worker),
                Err(error) => {
                    tracing::error!(%error, "the MRZ scanner thread cannot start; MRZs are typed");
                    None
                }
            }
        });
        OfficerDesk {
            scanner_line: scanner.as_ref().map(|_| ScannerLine::Ready),
            badges,
            scanner,
            ..OfficerDesk::default()
        }
    }

    /// Takes the wrong-PIN counters kept from before a restart.
    pub(super) fn restore_failures(
        &mut self,
        failures: std::collections::BTreeMap<
            String,
            enroll_core::flows::officer_auth::BadgeFailures,
        >,
    ) {
        self.state.auth.failures = failures;
    }

    /// A data page scanned while the card screen shows fills the MRZ fields and gives the access
    /// key to read the chip with; scans at other screens are dropped (they would belong to no
    /// one).
    fn take_scans(&mut self) -> Option<AccessKey> {
        let worker = self.scanner.as_ref()?;
        let mut key = None;
        while let Some(scan) = worker.next_scan() {
            let reading = self.state.screen == Screen::ReadCard;
            match scan {
                Scan::Key(scanned) if reading => {
                    self.form.document_number = scanned.document_number().to_owned();
                    self.form.birth_date = scanned.birth().to_yymmdd();
                    self.form.expiry_date = scanned.expiry().to_yymmdd();
                    self.mrz_problem = None;
                    self.card_problem = None;
                    self.scanner_line = Some(ScannerLine::Scanned);
                    key = Some(AccessKey::Mrz(scanned));
                }
                Scan::Unreadable if reading => self.scanner_line = Some(ScannerLine::Unreadable),
                Scan::Key(_) | Scan::Unreadable => {}
                Scan::ScannerDown => self.scanner_line = Some(ScannerLine::Down),
                Scan::ScannerUp => self.scanner_line = Some(ScannerLine::Ready),
            }
        }
        if let Some(key) = &key {
            self.access_key = key.clone();
        }
        key
    }

    /// A badge placed on the reader fills the badge field of the screen that asks for one.
    fn take_badges(&mut self) {
        let Some(worker) = &self.badges else {
            return;
        };
        while let Some(badge) = worker.next_badge() {
            match self.state.screen {
                Screen::SignIn => self.form.badge = badge,
                Screen::Override => self.form.supervisor_badge = badge,
                _ => {}
            }
        }
    }
}

impl OfficerDesk {
    /// What the decision screen shows, while it is open.
    fn evidence(&self) -> Option<DecisionEvidence> {
        if self.state.screen != Screen::Decision {
            return None;
        }
        Some(DecisionEvidence::of(
            self.state.card.as_deref()?,
            self.check?,
            &self.components,
            self.reveal_number,
        ))
    }

    /// The decision's faces, uploaded once when the decision opens; dropped with the decision
    /// (they stay while the override screen is open, since Back returns to them).
    fn photos_view(&mut self, ctx: &egui::Context) -> Option<crate::ui::PhotosView> {
        match self.state.screen {
            Screen::Decision => {
                if self.photo_textures.is_none() {
                    let photos = self.photos.take()?;
                    self.photo_textures = PhotoTextures::upload(ctx, &photos, "decision");
                }
                self.photo_textures.as_ref().map(PhotoTextures::view)
            }
            Screen::Override | Screen::Checking | Screen::Locked => None,
            _ => {
                self.photos = None;
                self.photo_textures = None;
                None
            }
        }
    }
}

impl KioskApp {
    /// What the officer's decision screen shows (card data, figures), while it shows it.
    pub fn officer_decision(&self) -> Option<DecisionEvidence> {
        self.officer.as_ref().and_then(OfficerDesk::evidence)
    }

    /// The sizes of the faces the decision screen shows (live capture, card), while it does.
    pub fn officer_photo_sizes(&self) -> Option<([usize; 2], Option<[usize; 2]>)> {
        let desk = self.officer.as_ref()?;
        desk.photo_textures.as_ref().map(PhotoTextures::sizes)
    }

    /// The officer flow's state, on an officer terminal.
    pub fn officer_state(&self) -> Option<&OfficerState> {
        self.officer.as_ref().map(OfficerDesk::state)
    }

    /// The last notice shown to the officer.
    pub fn officer_notice(&self) -> Option<&OfficerNotice> {
        self.officer.as_ref().and_then(|desk| desk.notice.as_ref())
    }

    /// One frame of the officer terminal; returns the window's effects.
    pub(super) fn officer_frame(&mut self, ui: &mut egui::Ui, mut desk: OfficerDesk) -> DeskFrame {
        let now_ms = self.now_ms();
        let reports = self.collect_reports(ui.ctx());
        desk.take_badges();
        if let Some(key) = desk.take_scans() {
            self.stop_card();
            self.watch_card(key);
        }
        let mut events = Vec::new();
        for event in reports.card {
            match event {
                CardEvent::Read(card) => events.push(OfficerEvent::CardRead { card, now_ms }),
                CardEvent::Failed(problem) => desk.card_problem = Some(problem),
                CardEvent::Present | CardEvent::Removed => {}
            }
        }
        if reports.camera_failed {
            events.push(OfficerEvent::CameraFailed { now_ms });
        }
        if reports.new_analysis
            && let Some(report) = &self.live.report
        {
            desk.components = crate::ui::officer::component_lines(&report.components);
            if desk.state.screen == Screen::Challenge {
                events.push(OfficerEvent::Frame {
                    observation: enroll_core::domain::challenge::Observation {
                        at_ms: now_ms,
                        ..report.observation
                    },
                });
            }
        }
        for outcome in reports.outcomes {
            match outcome {
                Outcome::ModelsLoaded(_) => {}
                Outcome::Checked(Ok(summary)) => {
                    desk.check = Some(CheckFigures {
                        score_cosine: summary.score_cosine,
                        threshold_cosine: summary.threshold_cosine,
                        is_match: summary.is_match,
                        live: summary.live,
                    });
                    desk.components = crate::ui::officer::component_lines(&summary.components);
                    desk.photos = Some(summary.photos);
                    desk.photo_textures = None;
                    events.push(OfficerEvent::Checked {
                        outcome: CheckOutcome {
                            score_cosine: summary.score_cosine.unwrap_or(f32::NAN),
                            is_match: summary.is_match,
                            live: summary.live,
                        },
                        now_ms,
                    });
                }
                Outcome::Checked(Err(_)) => events.push(OfficerEvent::CheckFailed { now_ms }),
                Outcome::Committed(Ok(committed)) => events.push(OfficerEvent::Saved {
                    reference: ShortReference::of(&committed.record_id).grouped(),
                    activation_code: committed.activation_code.grouped(),
                    now_ms,
                }),
                Outcome::Committed(Err(reason)) => {
                    events.push(OfficerEvent::SaveFailed { reason, now_ms });
                }
                Outcome::Records {
                    query: RecordQuery::Since(_),
                    result,
                } => match result {
                    Ok(records) => {
                        desk.today = records.iter().map(desk_line).collect();
                        desk.today_problem = None;
                    }
                    // Asked every few seconds: said once, not every time.
                    Err(error) => {
                        if desk.today_problem.as_ref() != Some(&error) {
                            tracing::warn!(%error, "today's records cannot be listed");
                        }
                        desk.today_problem = Some(error);
                    }
                },
                Outcome::Records {
                    query: RecordQuery::Reference(_),
                    result,
                } => {
                    desk.found = Some(match result {
                        Ok(records) => records
                            .first()
                            .map_or(Found::Nothing, |record| Found::Record(desk_line(record))),
                        Err(error) => Found::Failed(error),
                    });
                }
                Outcome::Reprinted(_) => {}
            }
        }
        if let Some(receiver) = &desk.pin_check {
            match receiver.try_recv() {
                Ok(result) => {
                    desk.pin_check = None;
                    events.push(OfficerEvent::PinChecked {
                        purpose: result.purpose,
                        badge: result.badge,
                        outcome: result.outcome,
                        now_ms,
                    });
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => desk.pin_check = None,
            }
        }
        events.push(OfficerEvent::Tick { now_ms });
        for event in events {
            self.officer_step(&mut desk, event);
        }
        self.refresh_today(&mut desk);

        let camera = self.camera_view();
        let sync = self.services.sync.as_ref().map(|sync| {
            let state = sync.state();
            QueueLine {
                unsent: state.unsent,
                acknowledged: state.acknowledged,
                rejected: state.rejected,
                last_sent_utc: state
                    .last_success_unix_ms
                    .map(crate::ui::officer::utc_hh_mm),
                online: state.online,
                last_error: state.last_error,
                paused: state.guard.map(|refusal| match refusal {
                    GuardRefusal::LowDisk { .. } => Msg::OfficerPausedDisk,
                    GuardRefusal::TooManyUnsent { .. } | GuardRefusal::UnsentTooOld { .. } => {
                        Msg::OfficerPausedQueue
                    }
                }),
            }
        });
        let evidence = desk.evidence();
        let printing = self.print_line.clone();
        let photos = desk.photos_view(ui.ctx());
        let view = OfficerView {
            evidence: evidence.as_ref(),
            photos,
            today: &desk.today,
            found: desk.found.as_ref(),
            printing: printing.as_ref(),
            printer: self.services.printer.is_some(),
            state: &desk.state,
            catalog: &self.catalog,
            language: self.settings.flow.default_language,
            theme: &self.theme,
            camera,
            components: &desk.components,
            check: desk.check,
            notice: desk.notice.as_ref(),
            sync: sync.as_ref(),
            officers_configured: self
                .services
                .officers
                .as_ref()
                .is_some_and(|list| !list.entries().is_empty()),
            card_problem: desk.card_problem,
            mrz_problem: desk.mrz_problem.as_deref(),
            camera_problem: self.live.camera_error.as_deref(),
            chip_reader: self.settings.chip_reader,
            scanner: desk.scanner_line,
            checking_pin: desk.pin_check.is_some(),
        };
        let intent = officer_ui(ui, &view, &mut desk.form);
        if desk.state.screen == Screen::SignIn {
            self.demo_badges_ui(ui, self.settings.flow.default_language);
        }
        let service = desk.state.screen == Screen::SignIn
            && crate::ui::technician::service_button(
                ui,
                &self.catalog,
                self.settings.flow.default_language,
                &self.theme,
            );
        if let Some(intent) = intent {
            self.officer_intent(&mut desk, intent);
        }

        let busy = self.live.camera.is_some()
            || self.card_worker.is_some()
            || desk.pin_check.is_some()
            || matches!(desk.state.screen, Screen::Checking | Screen::Saving);
        self.officer = Some(desk);
        if service {
            self.open_technician();
        }
        DeskFrame {
            effects: Vec::new(),
            busy,
        }
    }

    fn officer_intent(&mut self, desk: &mut OfficerDesk, intent: OfficerIntent) {
        let now_ms = self.now_ms();
        let Some(officers) = self.services.officers.clone() else {
            return;
        };
        let check_pin = |desk: &mut OfficerDesk, purpose, badge: String, pin: String| {
            if badge.is_empty() || pin.is_empty() {
                return;
            }
            if let Err(until_ms) = desk.state.auth.may_try(&badge, now_ms) {
                tracing::warn!("sign-in refused: the badge is locked after repeated wrong PINs");
                desk.notice = Some(OfficerNotice::Auth(AuthNotice::BadgeLocked { until_ms }));
                return;
            }
            // The answer to an earlier attempt no longer applies.
            desk.notice = None;
            desk.pin_check = spawn_pin_check(&officers, purpose, badge, pin);
        };
        match intent {
            OfficerIntent::ToggleNumber => desk.reveal_number = !desk.reveal_number,
            OfficerIntent::Find => match ShortReference::parse(&desk.form.search) {
                Ok(reference) => {
                    desk.found = None;
                    if let Some(worker) = &self.services.enrollment {
                        worker.submit(Job::Records(RecordQuery::Reference(reference)));
                    }
                }
                Err(_) => desk.found = Some(Found::NotAReference),
            },
            OfficerIntent::Reprint { record_id } => {
                if let Some(worker) = &self.services.enrollment {
                    worker.submit(Job::Reprint { record_id });
                }
            }
            OfficerIntent::Flow(ui_intent) => {
                self.officer_step(
                    desk,
                    OfficerEvent::Ui {
                        intent: ui_intent,
                        now_ms,
                    },
                );
            }
            OfficerIntent::SignIn => {
                let badge = desk.form.badge.trim().to_owned();
                let pin = std::mem::take(&mut desk.form.pin);
                check_pin(desk, PinPurpose::SignIn, badge, pin);
            }
            OfficerIntent::Unlock => {
                let badge = match &desk.state.auth.session {
                    Session::Locked { badge, .. } => badge.clone(),
                    _ => desk.form.badge.trim().to_owned(),
                };
                let pin = std::mem::take(&mut desk.form.pin);
                check_pin(desk, PinPurpose::SignIn, badge, pin);
            }
            OfficerIntent::SupervisorApproves => {
                let reason = desk.form.reason.clone();
                self.officer_step(
                    desk,
                    OfficerEvent::Ui {
                        intent: OfficerUi::OverrideReason(reason),
                        now_ms,
                    },
                );
                let badge = desk.form.supervisor_badge.trim().to_owned();
                let pin = std::mem::take(&mut desk.form.supervisor_pin);
                check_pin(desk, PinPurpose::Supervisor, badge, pin);
            }
            OfficerIntent::ReadWithMrz => {
                let typed = format!(
                    "{},{},{}",
                    desk.form.document_number, desk.form.birth_date, desk.form.expiry_date
                );
                match MrzAccessKey::parse_typed(&typed) {
                    Ok(key) => {
                        desk.access_key = AccessKey::Mrz(key);
                        desk.card_problem = None;
                        desk.mrz_problem = None;
                        self.stop_card();
                        self.watch_card(desk.access_key.clone());
                    }
                    Err(MrzError::TypedKey { problem }) => {
                        desk.mrz_problem = Some(problem.to_owned());
                    }
                    Err(error) => desk.mrz_problem = Some(error.to_string()),
                }
            }
        }
    }

    /// Asks for today's records while the dashboard shows: on arrival, after a record is saved,
    /// and every few seconds (so waiting records turn to sent).
    fn refresh_today(&mut self, desk: &mut OfficerDesk) {
        const REFRESH_MS: u128 = 3_000;
        if desk.state.screen != Screen::Dashboard {
            desk.today_asked_at = None;
            return;
        }
        if desk
            .today_asked_at
            .is_some_and(|at| at.elapsed().as_millis() < REFRESH_MS)
        {
            return;
        }
        let Some(worker) = &self.services.enrollment else {
            return;
        };
        // Today, in UTC (the desk's times are UTC too).
        const DAY_MS: i64 = 86_400_000;
        let midnight_ms = crate::clock::now().as_i64().div_euclid(DAY_MS) * DAY_MS;
        worker.submit(Job::Records(RecordQuery::Since(
            enroll_core::domain::time::UnixMs(midnight_ms),
        )));
        desk.today_asked_at = Some(std::time::Instant::now());
    }

    fn officer_step(&mut self, desk: &mut OfficerDesk, event: OfficerEvent) {
        let read_card = matches!(event, OfficerEvent::CardRead { .. });
        let pin_badge = match &event {
            OfficerEvent::PinChecked { badge, .. } => Some(badge.clone()),
            _ => None,
        };
        let settings = officer::OfficerSettings {
            auth: self.settings.auth,
            challenge: self.settings.flow.challenge,
        };
        let (next, effects, notice) = officer::step(desk.state.clone(), event, &settings);
        self.prompt_changed(desk.state.prompt(), next.prompt());
        if next.screen != desk.state.screen {
            tracing::info!(from = ?desk.state.screen, to = ?next.screen, "officer screen changed");
            if next.screen == Screen::SignIn {
                // The next officer sees nothing of this one's desk.
                desk.today.clear();
                desk.found = None;
                desk.form.search.clear();
            }
            // A notice belongs to the screen it was given on (a saved record's stays).
            if !matches!(desk.notice, Some(OfficerNotice::Saved { .. })) || notice.is_some() {
                desk.notice = None;
            }
        }
        match &notice {
            Some(OfficerNotice::Auth(AuthNotice::BadgeLocked { .. })) => {
                tracing::warn!("sign-in refused: the badge is locked after repeated wrong PINs");
            }
            Some(OfficerNotice::Auth(AuthNotice::WrongPin { attempts_left })) => {
                tracing::info!(attempts_left, "sign-in refused: wrong PIN or unknown badge");
            }
            _ => {}
        }
        if let Some(notice) = notice {
            desk.notice = Some(notice);
        }
        desk.state = next;
        if let Some(badge) = pin_badge {
            self.keep_pin_failures(&badge, &desk.state.auth);
        }
        if read_card {
            // The card has done its part: free the reader.
            self.stop_card();
        }
        // Effects that cannot start become events stepped after the whole list (see carry_out).
        let mut follow_ups = Vec::new();
        for effect in effects {
            match effect {
                OfficerEffect::WatchCard => {
                    desk.card_problem = None;
                    desk.mrz_problem = None;
                    self.watch_card(desk.access_key.clone());
                }
                OfficerEffect::StartCamera => self.start_camera(),
                OfficerEffect::StopCamera => self.live.stop(),
                OfficerEffect::CaptureAndCheck => {
                    if !self.capture_and_check(desk.state.card.clone()) {
                        follow_ups.push(OfficerEvent::CheckFailed {
                            now_ms: self.now_ms(),
                        });
                    }
                }
                OfficerEffect::KeepCapture => self.keep_capture(),
                // Without a side (logged) the challenge cannot start: the screen keeps asking
                // the applicant to look at the camera, and the officer may waive it or reject.
                OfficerEffect::DrawChallengeSide => {
                    if let Some(side) = super::draw_challenge_side() {
                        follow_ups.push(OfficerEvent::ChallengeSide {
                            side,
                            now_ms: self.now_ms(),
                        });
                    }
                }
                OfficerEffect::CheckKeptCapture => {
                    if !self.check_kept_capture(desk.state.card.clone()) {
                        follow_ups.push(OfficerEvent::CheckFailed {
                            now_ms: self.now_ms(),
                        });
                    }
                }
                OfficerEffect::SaveRecord {
                    officer_badge,
                    decision,
                } => {
                    let operators = match decision {
                        Decision::Approved => Operators {
                            officer_id: Some(officer_badge),
                            ..Operators::default()
                        },
                        Decision::Overridden {
                            reason,
                            supervisor_badge,
                        } => Operators {
                            officer_id: Some(officer_badge),
                            supervisor_id: Some(supervisor_badge),
                            override_reason: Some(reason),
                        },
                    };
                    let challenge = desk.state.challenge_record;
                    if !self.save_record(desk.state.card.clone(), operators, challenge) {
                        follow_ups.push(OfficerEvent::SaveFailed {
                            reason: "the outbox is not available on this terminal".into(),
                            now_ms: self.now_ms(),
                        });
                    }
                }
                OfficerEffect::WipeApplicantData => {
                    self.stop_card();
                    self.wipe_applicant_data();
                    desk.form.wipe_applicant();
                    desk.check = None;
                    desk.components.clear();
                    desk.photos = None;
                    desk.photo_textures = None;
                    desk.reveal_number = false;
                    desk.card_problem = None;
                    desk.mrz_problem = None;
                    desk.access_key = AccessKey::None;
                    if matches!(
                        desk.scanner_line,
                        Some(ScannerLine::Scanned | ScannerLine::Unreadable)
                    ) {
                        desk.scanner_line = Some(ScannerLine::Ready);
                    }
                }
            }
        }
        for event in follow_ups {
            self.officer_step(desk, event);
        }
    }
}

/// A record as the desk lists it.
fn desk_line(record: &DeskRecord) -> DeskLine {
    let (state, reason) = match &record.delivery {
        Delivery::Waiting => (Msg::OfficerStateWaiting, None),
        Delivery::Sent => (Msg::OfficerStateSent, None),
        Delivery::Rejected { reason } => (Msg::OfficerStateRejected, Some(reason.clone())),
    };
    DeskLine {
        record_id: record.record_id.clone(),
        reference: record.reference.grouped(),
        time_utc: crate::ui::officer::utc_hh_mm(record.created_at_unix_ms),
        state,
        reason,
    }
}

impl KioskApp {
    /// Today's records as the officer desk lists them (tests).
    pub fn officer_today(&self) -> Option<&[DeskLine]> {
        self.officer.as_ref().map(|desk| desk.today.as_slice())
    }

    /// The desk search's answer (tests).
    pub fn officer_found(&self) -> Option<&Found> {
        self.officer.as_ref().and_then(|desk| desk.found.as_ref())
    }
}
