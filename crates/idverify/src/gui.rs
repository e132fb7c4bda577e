//! The verifier screen (`idverify gui`, egui): a hotel clerk holds the guest's phone to the
//! webcam (or scans it with a USB scanner, typed as keys or sent over a serial line) and sees
//! green or red with the reason in plain words, the face thumbnail large, the tier badge, the
//! check-in fields, and how old the trust and status lists are. QR codes are decoded on a worker
//! thread; the lists are synced on another whenever the network is there. It keeps no history of
//! who was scanned: only counts, and the last answer until it times out.

use std::io::BufRead as _;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use enroll_credential::verify::VerifierState;
use enroll_devices::camera::{CameraOpener, CameraReport};

use crate::scan::{self, Light, ListAges, Shown};
use crate::state::StateDir;

/// How long an answer (and its face) stays on screen.
pub const SHOWN_FOR_MS: u64 = 20_000;
/// The same code seen again within this time is not checked again.
const SAME_CODE_MS: u64 = 3_000;
/// How often the lists are synced while the screen is open.
pub const SYNC_EVERY_MS: u64 = 10 * 60 * 1000;

/// The CJK font Debian's `fonts-wqy-microhei` installs (scripts/setup.sh): Chinese names and
/// regions are drawn with it.
pub const DEFAULT_CJK_FONT: &str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";

/// Adds a CJK font after egui's own, so Chinese text is drawn as glyphs, not boxes.
pub fn install_cjk_font(ctx: &egui::Context, font: Vec<u8>) {
    let mut fonts = egui::FontDefinitions::default();
    fonts
        .font_data
        .insert("cjk".to_owned(), Arc::new(egui::FontData::from_owned(font)));
    for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
        fonts
            .families
            .entry(family)
            .or_default()
            .push("cjk".to_owned());
    }
    ctx.set_fonts(fonts);
}

/// The wall clock in Unix seconds (the binary reads the system clock; tests pass their own).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Where codes come from and where the lists are kept.
pub struct Inputs {
    pub dir: StateDir,
    /// Opens the webcam on the camera thread.
    pub camera: Option<CameraOpener>,
    /// A serial QR scanner, one code per line.
    pub serial: Option<(PathBuf, u32)>,
    /// CA certificates (PEM) for an https:// registry.
    pub ca_pem: Option<Vec<u8>>,
    /// Sync the lists in the background.
    pub sync: bool,
    pub clock: Clock,
}

/// What the worker threads report.
#[derive(Debug)]
enum Event {
    Shown(Box<Shown>),
    Camera(String),
    Scanner(String),
    Synced(Result<(), String>),
}

/// Answers given since the screen opened (no more than counts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub valid: u32,
    pub not_valid: u32,
    pub cannot_check: u32,
}

/// The verifier screen's state.
pub struct VerifierApp {
    state: Arc<Mutex<Option<VerifierState>>>,
    clock: Clock,
    events: Receiver<Event>,
    sender: Sender<Event>,
    current: Option<(Shown, Instant)>,
    face: Option<egui::TextureHandle>,
    counts: Counts,
    wedge: String,
    camera_status: String,
    scanner_status: Option<String>,
    sync_status: String,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Checks one text against the held lists.
fn check(state: &Mutex<Option<VerifierState>>, text: &str, now_unix_s: i64) -> Shown {
    match state.lock().ok().as_deref() {
        Some(Some(state)) => scan::shown(&state.verify(text, now_unix_s)),
        _ => Shown {
            light: Light::Amber,
            headline: "Cannot check",
            reason: Some(
                "this verifier holds no trust list yet: connect it to the network once \
                 (idverify trust sync URL --root-key FILE)"
                    .to_owned(),
            ),
            tier: None,
            profile: None,
            face_jpeg: Vec::new(),
            fields: Vec::new(),
            warnings: Vec::new(),
        },
    }
}

fn named(name: &str, work: impl FnOnce() + Send + 'static) -> Option<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(work)
        .ok()
}

impl VerifierApp {
    /// Loads the held lists and starts the camera, scanner and sync threads. `repaint` wakes
    /// the screen when a worker has news.
    pub fn start(inputs: Inputs, repaint: Arc<dyn Fn() + Send + Sync>) -> VerifierApp {
        let (sender, events) = std::sync::mpsc::channel();
        let dir = Arc::new(inputs.dir);
        let (loaded, sync_status) = match dir.load() {
            Ok(state) => (state, "lists loaded from this computer".to_owned()),
            Err(error) => (None, format!("{error:#}")),
        };
        let state = Arc::new(Mutex::new(loaded));
        let mut app = VerifierApp {
            state: Arc::clone(&state),
            clock: Arc::clone(&inputs.clock),
            events,
            sender: sender.clone(),
            current: None,
            face: None,
            counts: Counts::default(),
            wedge: String::new(),
            camera_status: "no camera".to_owned(),
            scanner_status: None,
            sync_status,
            threads: Vec::new(),
        };
        let notify = |sender: &Sender<Event>, repaint: &Arc<dyn Fn() + Send + Sync>, event| {
            let _ = sender.send(event);
            repaint();
        };
        if let Some(opener) = inputs.camera {
            app.camera_status = "camera starting".to_owned();
            match enroll_devices::camera::spawn_opening(opener, 1) {
                Ok((frames, camera_thread)) => {
                    app.threads.push(camera_thread);
                    let (state, clock, sender, repaint) = (
                        Arc::clone(&state),
                        Arc::clone(&inputs.clock),
                        sender.clone(),
                        Arc::clone(&repaint),
                    );
                    let decoder = named("qr-decoder", move || {
                        let mut last: Option<(String, Instant)> = None;
                        let mut reported_ready = false;
                        while let Ok(report) = frames.recv() {
                            let frame = match report {
                                CameraReport::Frame(frame) => frame,
                                CameraReport::Error(error) => {
                                    notify(&sender, &repaint, Event::Camera(error.message));
                                    continue;
                                }
                            };
                            if !reported_ready {
                                reported_ready = true;
                                notify(&sender, &repaint, Event::Camera("camera ready".into()));
                            }
                            for text in scan::frame_texts(&frame.image) {
                                let seen_just_now = last.as_ref().is_some_and(|(t, at)| {
                                    *t == text && at.elapsed() < Duration::from_millis(SAME_CODE_MS)
                                });
                                if seen_just_now {
                                    continue;
                                }
                                let shown = check(&state, &text, clock());
                                last = Some((text, Instant::now()));
                                notify(&sender, &repaint, Event::Shown(Box::new(shown)));
                            }
                        }
                    });
                    app.threads.extend(decoder);
                }
                Err(error) => {
                    app.camera_status = format!("the camera thread did not start: {error}")
                }
            }
        }
        if let Some((path, baud)) = inputs.serial {
            app.scanner_status = Some(format!("scanner on {}", path.display()));
            let (state, clock, sender, repaint) = (
                Arc::clone(&state),
                Arc::clone(&inputs.clock),
                sender.clone(),
                Arc::clone(&repaint),
            );
            let reader = named("qr-scanner", move || {
                let port = serialport::new(path.to_string_lossy(), baud)
                    .timeout(Duration::from_secs(3600))
                    .open();
                let port = match port {
                    Ok(port) => port,
                    Err(error) => {
                        let message = format!(
                            "the scanner at {} cannot be opened ({error}); check the cable and \
                             the device name",
                            path.display()
                        );
                        notify(&sender, &repaint, Event::Scanner(message));
                        return;
                    }
                };
                let mut lines = std::io::BufReader::new(port);
                let mut line = String::new();
                loop {
                    line.clear();
                    match lines.read_line(&mut line) {
                        Ok(0) => break,
                        Ok(_) => {
                            if let Some(text) = scan::scanner_text(&line) {
                                let shown = check(&state, &text, clock());
                                notify(&sender, &repaint, Event::Shown(Box::new(shown)));
                            }
                        }
                        Err(error) if error.kind() == std::io::ErrorKind::TimedOut => {}
                        Err(error) => {
                            let message = format!("the scanner stopped sending ({error})");
                            notify(&sender, &repaint, Event::Scanner(message));
                            break;
                        }
                    }
                }
            });
            app.threads.extend(reader);
        }
        if inputs.sync {
            let (state, sender, repaint, dir, ca) = (
                Arc::clone(&state),
                sender.clone(),
                Arc::clone(&repaint),
                Arc::clone(&dir),
                inputs.ca_pem,
            );
            let syncer = named("list-sync", move || {
                loop {
                    let result = sync_lists(&dir, ca.as_deref(), &state);
                    notify(&sender, &repaint, Event::Synced(result));
                    std::thread::sleep(Duration::from_millis(SYNC_EVERY_MS));
                }
            });
            app.threads.extend(syncer);
        }
        app
    }

    /// The answer on screen, if any.
    pub fn current(&self) -> Option<&Shown> {
        self.current.as_ref().map(|(shown, _)| shown)
    }

    /// What the last list sync did (or that the lists came from this computer).
    pub fn sync_status(&self) -> &str {
        &self.sync_status
    }

    /// Takes the workers' news without drawing (a screen that is not shown still counts).
    pub fn poll(&mut self, ctx: &egui::Context) {
        self.take_events(ctx);
    }

    /// Answers given so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// How old the held lists are now.
    pub fn list_ages(&self) -> ListAges {
        let now = (self.clock)();
        match self.state.lock() {
            Ok(state) => scan::list_ages(state.as_ref(), now),
            Err(_) => scan::list_ages(None, now),
        }
    }

    /// Checks text typed by a keyboard-wedge scanner (or a person).
    pub fn check_text(&mut self, raw: &str) {
        if let Some(text) = scan::scanner_text(raw) {
            let shown = check(&self.state, &text, (self.clock)());
            let _ = self.sender.send(Event::Shown(Box::new(shown)));
        }
    }

    fn take_events(&mut self, ctx: &egui::Context) {
        while let Ok(event) = self.events.try_recv() {
            match event {
                Event::Shown(shown) => {
                    match shown.light {
                        Light::Green => self.counts.valid += 1,
                        Light::Red => self.counts.not_valid += 1,
                        Light::Amber => self.counts.cannot_check += 1,
                    }
                    self.face = face_texture(ctx, &shown.face_jpeg);
                    self.current = Some((*shown, Instant::now()));
                }
                Event::Camera(status) => self.camera_status = status,
                Event::Scanner(status) => self.scanner_status = Some(status),
                Event::Synced(Ok(())) => {
                    self.sync_status = format!("lists synced at {}", clock_text((self.clock)()));
                }
                Event::Synced(Err(error)) => {
                    self.sync_status = format!("offline: using the lists held ({error})");
                }
            }
        }
        if let Some((_, at)) = &self.current
            && at.elapsed() > Duration::from_millis(SHOWN_FOR_MS)
        {
            self.current = None;
            self.face = None;
        }
    }

    /// Draws the screen (and takes the workers' news).
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.take_events(&ctx);
        let ages = self.list_ages();
        egui::Panel::top("lists").show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                ui.heading("Verifier");
                ui.separator();
                let hours = |h: Option<i64>| h.map_or("none held".to_owned(), |h| format!("{h} h old"));
                ui.label(format!("Trust list: {}", hours(ages.trust_hours)));
                let status = egui::RichText::new(format!("Status lists: {}", hours(ages.status_hours)));
                ui.label(if ages.status_stale {
                    status.color(egui::Color32::from_rgb(0xd0, 0x70, 0x00)).strong()
                } else {
                    status
                });
                if ages.status_stale {
                    ui.label("(too old: officer-checked IDs cannot be checked until the lists are synced)");
                }
                ui.separator();
                ui.label(&self.sync_status);
            });
        });
        egui::Panel::bottom("inputs").show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                ui.label(format!("Camera: {}", self.camera_status));
                if let Some(scanner) = &self.scanner_status {
                    ui.separator();
                    ui.label(scanner);
                }
                ui.separator();
                ui.label(format!(
                    "Since opening: {} valid, {} not valid, {} not checked",
                    self.counts.valid, self.counts.not_valid, self.counts.cannot_check
                ));
            });
            ui.horizontal(|ui| {
                let label = ui.label("Scanner or typed code:");
                let field = ui
                    .add(
                        egui::TextEdit::singleline(&mut self.wedge)
                            .desired_width(f32::INFINITY)
                            .password(true),
                    )
                    .labelled_by(label.id);
                if field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                    let text = std::mem::take(&mut self.wedge);
                    self.check_text(&text);
                    field.request_focus();
                } else if !field.has_focus() {
                    field.request_focus();
                }
            });
        });
        egui::CentralPanel::default().show(ui, |ui| match &self.current {
            None => {
                ui.vertical_centered(|ui| {
                    ui.add_space(ui.available_height() * 0.3);
                    ui.heading("Hold the guest's QR code in front of the camera");
                });
            }
            Some((shown, _)) => answer_ui(ui, shown, self.face.as_ref()),
        });
        if self.current.is_some() {
            ctx.request_repaint_after(Duration::from_millis(500));
        }
    }
}

impl eframe::App for VerifierApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        VerifierApp::ui(self, ui);
    }
}

fn answer_ui(ui: &mut egui::Ui, shown: &Shown, face: Option<&egui::TextureHandle>) {
    let (fill, ink) = match shown.light {
        Light::Green => (
            egui::Color32::from_rgb(0x1d, 0x7a, 0x46),
            egui::Color32::WHITE,
        ),
        Light::Red => (
            egui::Color32::from_rgb(0xb0, 0x1c, 0x1c),
            egui::Color32::WHITE,
        ),
        Light::Amber => (
            egui::Color32::from_rgb(0xd0, 0x8a, 0x00),
            egui::Color32::BLACK,
        ),
    };
    egui::Frame::new()
        .fill(fill)
        .inner_margin(24.0)
        .corner_radius(12.0)
        .show(ui, |ui| {
            ui.set_min_width(ui.available_width());
            ui.horizontal(|ui| {
                ui.vertical(|ui| {
                    ui.label(
                        egui::RichText::new(shown.headline)
                            .size(56.0)
                            .strong()
                            .color(ink),
                    );
                    if let Some(reason) = &shown.reason {
                        ui.label(egui::RichText::new(reason).size(24.0).color(ink));
                    }
                    if let Some(tier) = shown.tier {
                        ui.add_space(12.0);
                        ui.label(
                            egui::RichText::new(format!(" {tier} "))
                                .size(22.0)
                                .strong()
                                .background_color(egui::Color32::WHITE)
                                .color(fill),
                        );
                    }
                    if let Some(profile) = shown.profile {
                        ui.label(
                            egui::RichText::new(format!("Profile: {profile}"))
                                .size(18.0)
                                .color(ink),
                        );
                    }
                    ui.add_space(12.0);
                    for (label, value) in &shown.fields {
                        ui.label(
                            egui::RichText::new(format!("{label}: {value}"))
                                .size(26.0)
                                .color(ink),
                        );
                    }
                    for warning in &shown.warnings {
                        ui.label(
                            egui::RichText::new(format!("⚠ {warning}"))
                                .size(18.0)
                                .color(ink),
                        );
                    }
                });
                if let Some(face) = face {
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Min), |ui| {
                        ui.add(egui::Image::new(face).fit_to_exact_size(egui::vec2(320.0, 320.0)));
                    });
                }
            });
        });
}

/// The face thumbnail as a texture, scaled up smoothly for the clerk's eyes.
fn face_texture(ctx: &egui::Context, jpeg: &[u8]) -> Option<egui::TextureHandle> {
    if jpeg.is_empty() {
        return None;
    }
    let image = image::load_from_memory(jpeg).ok()?.to_rgba8();
    let size = [image.width() as usize, image.height() as usize];
    let colour = egui::ColorImage::from_rgba_unmultiplied(size, image.as_raw());
    Some(ctx.load_texture("face", colour, egui::TextureOptions::LINEAR))
}

fn clock_text(unix_s: i64) -> String {
    jiff::Timestamp::from_second(unix_s)
        .map(|t| t.strftime("%H:%M UTC").to_string())
        .unwrap_or_default()
}

/// Fetches the trust list and status lists and installs them; the error says what failed.
fn sync_lists(
    dir: &StateDir,
    ca_pem: Option<&[u8]>,
    state: &Mutex<Option<VerifierState>>,
) -> Result<(), String> {
    let url = state
        .lock()
        .ok()
        .and_then(|s| {
            s.as_ref()
                .and_then(|s| s.trust_list().map(|t| t.registry_url.clone()))
        })
        .ok_or("no trust list held to find the registry by")?;
    crate::lists::trust_sync(dir, &url, None, ca_pem).map_err(|e| format!("{e:#}"))?;
    crate::lists::status_sync(dir, ca_pem).map_err(|e| format!("{e:#}"))?;
    let loaded = dir.load().map_err(|e| format!("{e:#}"))?;
    if let Ok(mut held) = state.lock() {
        *held = loaded;
    }
    Ok(())
}
