//! `idverify`: a verifier's command line for virtual ID QR codes. It syncs the trust list (pinned
//! to the registry's offline root) and the status lists while a network is there, then checks
//! tokens from text or from an image with no network at all. Exit codes: 0 valid, 1 invalid (with
//! the reason), 2 could not check. The checks themselves are `enroll_credential::verify`.

#![forbid(unsafe_code)]

use enroll_idverify::{gui, lists, state};

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use enroll_credential::keys::cti_hash;
use enroll_credential::{Outcome, TokenClaims, qr, token};

use state::StateDir;

/// Checks virtual ID QR codes offline.
#[derive(Parser)]
#[command(name = "idverify", version, about, long_about = None, arg_required_else_help = true)]
struct Cli {
    /// Where the pinned root, the lists and the log are kept
    /// (default: $XDG_STATE_HOME/idverify or ~/.local/state/idverify)
    #[arg(long, value_name = "DIR", global = true, env = "IDVERIFY_STATE")]
    state: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The trust list of issuing keys
    #[command(subcommand)]
    Trust(TrustCommand),
    /// The revocation lists
    #[command(subcommand)]
    Status(StatusCommand),
    /// Check a token: its text, `-` for standard input, or an image file (PNG or JPEG) with its QR
    Verify {
        /// Token text, `-`, or an image file
        token: String,
        /// Check as of this time (RFC 3339, e.g. 2026-12-07T10:00:00+08:00) instead of now
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
        /// Print JSON
        #[arg(long)]
        json: bool,
        /// Write the token's face thumbnail (JPEG) here, to compare with the person
        #[arg(long, value_name = "FILE")]
        face_out: Option<PathBuf>,
    },
    /// Open the verifier screen: codes from a webcam, a USB scanner (typed or serial), checked
    /// against the held lists, which are synced in the background when the network is there
    Gui {
        /// The V4L2 webcam's index (/dev/videoN)
        #[arg(long, value_name = "N", conflicts_with = "camera_files")]
        camera: Option<u32>,
        /// Play the images of a directory as the camera (no webcam: demos and tests)
        #[arg(long, value_name = "DIR")]
        camera_files: Option<PathBuf>,
        /// A serial QR scanner's device (one code per line)
        #[arg(long, value_name = "DEVICE")]
        scanner: Option<PathBuf>,
        /// The serial scanner's speed
        #[arg(long, value_name = "BAUD", default_value_t = 9600)]
        scanner_baud: u32,
        /// CA certificates (PEM) for an https:// registry
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
        /// Do not sync the lists (use only those held)
        #[arg(long)]
        no_sync: bool,
        /// Open in a window instead of full screen
        #[arg(long)]
        windowed: bool,
        /// A font with Chinese characters, for names and regions
        #[arg(long, value_name = "FILE", default_value = gui::DEFAULT_CJK_FONT)]
        cjk_font: PathBuf,
    },
    /// Show what a token says and how it is built, without deciding whether it is valid
    Inspect {
        /// Token text, `-`, or an image file
        token: String,
    },
}

#[derive(Subcommand)]
enum TrustCommand {
    /// Fetch the trust list from a registry and keep it if the pinned root signed it
    Sync {
        /// The registry's base URL
        url: String,
        /// The root public key to pin (needed the first time; trust-root.pub)
        #[arg(long, value_name = "FILE")]
        root_key: Option<PathBuf>,
        /// CA certificates (PEM) for an https:// registry
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum StatusCommand {
    /// Fetch every status list from the registry the trust list names
    Sync {
        /// CA certificates (PEM) for an https:// registry
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
    },
}

/// The exit code of a failure to check (usage errors share it, as clap's do).
const CANNOT_CHECK: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = StateDir::locate(cli.state).and_then(|dir| match cli.command {
        Command::Trust(TrustCommand::Sync {
            url,
            root_key,
            ca_file,
        }) => trust_sync(&dir, &url, root_key.as_deref(), ca_file.as_deref()),
        Command::Status(StatusCommand::Sync { ca_file }) => status_sync(&dir, ca_file.as_deref()),
        Command::Verify {
            token,
            now,
            json,
            face_out,
        } => verify(&dir, &token, now.as_deref(), json, face_out.as_deref()),
        Command::Inspect { token } => inspect(&token),
        Command::Gui {
            camera,
            camera_files,
            scanner,
            scanner_baud,
            ca_file,
            no_sync,
            windowed,
            cjk_font,
        } => {
            let camera: Option<enroll_devices::camera::CameraOpener> = match (camera, camera_files)
            {
                (_, Some(dir)) => Some(Box::new(move || {
                    enroll_sim::file_camera::FileCamera::open(&dir, 1280, 720, 10)
                        .map(|c| Box::new(c) as Box<dyn enroll_devices::camera::Camera>)
                })),
                (Some(index), None) => Some(Box::new(move || {
                    enroll_devices::camera::v4l2::V4l2Camera::open(index, 1280, 720, 15)
                        .map(|c| Box::new(c) as Box<dyn enroll_devices::camera::Camera>)
                })),
                (None, None) => None,
            };
            read_ca(ca_file.as_deref()).and_then(|ca_pem| {
                gui_command(
                    gui::Inputs {
                        dir,
                        camera,
                        serial: scanner.map(|path| (path, scanner_baud)),
                        ca_pem,
                        sync: !no_sync,
                        clock: std::sync::Arc::new(|| jiff::Timestamp::now().as_second()),
                    },
                    windowed,
                    &cjk_font,
                )
            })
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "idverify: {error:#}");
            ExitCode::from(CANNOT_CHECK)
        }
    }
}

fn gui_command(inputs: gui::Inputs, windowed: bool, cjk_font: &Path) -> anyhow::Result<ExitCode> {
    let font = match std::fs::read(cjk_font) {
        Ok(bytes) => Some(bytes),
        Err(error) => {
            writeln!(
                std::io::stderr(),
                "idverify: cannot read the CJK font {} ({error}): Chinese names will show as \
                 boxes; install fonts-wqy-microhei or give --cjk-font FILE",
                cjk_font.display()
            )?;
            None
        }
    };
    let viewport = egui::ViewportBuilder::default()
        .with_title("idverify")
        .with_app_id("idverify")
        .with_inner_size([1280.0, 800.0])
        .with_fullscreen(!windowed);
    let options = eframe::NativeOptions {
        viewport,
        ..Default::default()
    };
    eframe::run_native(
        "idverify",
        options,
        Box::new(move |cc| {
            let ctx = cc.egui_ctx.clone();
            if let Some(font) = font {
                gui::install_cjk_font(&ctx, font);
            }
            let repaint = std::sync::Arc::new(move || ctx.request_repaint());
            Ok(Box::new(gui::VerifierApp::start(inputs, repaint)))
        }),
    )
    .map_err(|error| anyhow::anyhow!("the verifier screen cannot open: {error}"))?;
    Ok(ExitCode::SUCCESS)
}

fn read_ca(ca_file: Option<&Path>) -> anyhow::Result<Option<Vec<u8>>> {
    ca_file
        .map(|path| {
            std::fs::read(path).with_context(|| format!("cannot read --ca-file {}", path.display()))
        })
        .transpose()
}

fn trust_sync(
    dir: &StateDir,
    url: &str,
    root_key: Option<&Path>,
    ca_file: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let list = lists::trust_sync(dir, url, root_key, read_ca(ca_file)?.as_deref())?;
    writeln!(
        std::io::stdout(),
        "trust list {} kept: {} keys; status lists at {}",
        list.sequence,
        list.keys.len(),
        list.registry_url
    )?;
    Ok(ExitCode::SUCCESS)
}

fn status_sync(dir: &StateDir, ca_file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let kept = lists::status_sync(dir, read_ca(ca_file)?.as_deref())?;
    writeln!(std::io::stdout(), "{kept} status list(s) kept")?;
    Ok(ExitCode::SUCCESS)
}

/// The token texts an argument holds: an image's QR codes, standard input, or the text itself.
fn token_texts(argument: &str) -> anyhow::Result<Vec<String>> {
    if argument == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        return Ok(vec![text.trim().to_owned()]);
    }
    let path = Path::new(argument);
    if path.is_file() {
        let image = image::open(path)
            .with_context(|| format!("{} is not a readable PNG or JPEG image", path.display()))?
            .to_luma8();
        let grey = qr::GreyImage {
            width: image.width() as usize,
            height: image.height() as usize,
            pixels: image.into_raw(),
        };
        let found = qr::decode(&grey);
        if found.is_empty() {
            bail!(
                "no QR code could be read in {}: hold the code flat, filling a third of the picture",
                path.display()
            );
        }
        return Ok(found);
    }
    Ok(vec![argument.to_owned()])
}

fn now_unix_s(now: Option<&str>) -> anyhow::Result<i64> {
    match now {
        Some(text) => Ok(text
            .parse::<jiff::Timestamp>()
            .with_context(|| format!("--now {text} is not an RFC 3339 time"))?
            .as_second()),
        None => Ok(jiff::Timestamp::now().as_second()),
    }
}

fn time_text(unix_s: i64) -> String {
    jiff::Timestamp::from_second(unix_s)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| unix_s.to_string())
}

fn claims_json(claims: &TokenClaims) -> serde_json::Value {
    let identity = &claims.identity;
    serde_json::json!({
        "tier": identity.tier.as_str(),
        "profile": identity.profile.as_str(),
        "handle": identity.handle,
        "age_over_18": identity.age_over_18,
        "full_name": identity.full_name,
        "birth_yyyymmdd": identity.birth_yyyymmdd,
        "sex": identity.sex,
        "region": identity.region,
        "face_jpeg_bytes": identity.face_jpeg.len(),
        "valid_from": time_text(claims.not_before_unix_s),
        "valid_until": time_text(claims.expires_unix_s),
        "issuer": claims.issuer,
    })
}

fn verify(
    dir: &StateDir,
    argument: &str,
    now: Option<&str>,
    json: bool,
    face_out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let now = now_unix_s(now)?;
    let texts = token_texts(argument)?;
    let state = dir.load()?.context(
        "no trust list is held: run `idverify trust sync URL --root-key FILE` and `idverify status sync`",
    )?;
    let text = texts.first().map(String::as_str).unwrap_or_default();
    let verdict = state.verify(text, now);
    let (outcome, reason, code) = match verdict.outcome {
        Outcome::Valid => ("valid", None, ExitCode::SUCCESS),
        Outcome::Invalid(reason) => ("invalid", Some(reason), ExitCode::from(1)),
        Outcome::CannotCheck(reason) => {
            ("cannot-check", Some(reason), ExitCode::from(CANNOT_CHECK))
        }
    };
    dir.log(&serde_json::json!({
        "at": time_text(verdict.checked_at_unix_s),
        "outcome": outcome,
        "reason": reason.map(|r| r.code()),
        "cti_sha256_prefix": verdict.cti_hash,
    }))?;
    if let (Some(path), Some(claims)) = (face_out, &verdict.claims)
        && verdict.outcome == Outcome::Valid
    {
        std::fs::write(path, &claims.identity.face_jpeg)
            .with_context(|| format!("cannot write --face-out {}", path.display()))?;
    }
    let mut stdout = std::io::stdout();
    if json {
        let value = serde_json::json!({
            "outcome": outcome,
            "reason": reason.map(|r| r.code()),
            "message": reason.map(|r| r.to_string()),
            "warnings": verdict.warnings.iter().map(enroll_idverify::scan::warning_text).collect::<Vec<_>>(),
            "checked_at": time_text(verdict.checked_at_unix_s),
            "token": (verdict.outcome == Outcome::Valid)
                .then(|| verdict.claims.as_ref().map(claims_json))
                .flatten(),
        });
        writeln!(stdout, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(code);
    }
    match (verdict.outcome, &verdict.claims) {
        (Outcome::Valid, Some(claims)) => {
            let id = &claims.identity;
            writeln!(
                stdout,
                "VALID: {} tier, {} profile",
                id.tier.as_str(),
                id.profile.as_str()
            )?;
            if let Some(name) = &id.full_name {
                writeln!(stdout, "  name        {name}")?;
            }
            if let Some(birth) = &id.birth_yyyymmdd {
                writeln!(stdout, "  born        {birth}")?;
            }
            if let Some(region) = &id.region {
                writeln!(stdout, "  region      {region}")?;
            }
            writeln!(
                stdout,
                "  age >= 18   {}",
                if id.age_over_18 { "yes" } else { "no" }
            )?;
            writeln!(
                stdout,
                "  valid       {} to {}",
                time_text(claims.not_before_unix_s),
                time_text(claims.expires_unix_s)
            )?;
            writeln!(stdout, "  handle      {}", id.handle)?;
            writeln!(
                stdout,
                "Compare the face in the code with the person before accepting it{}.",
                face_out
                    .map(|p| format!(" (written to {})", p.display()))
                    .unwrap_or_default()
            )?;
        }
        (_, _) => {
            let label = if outcome == "invalid" {
                "INVALID"
            } else {
                "CANNOT CHECK"
            };
            let reason = reason.map(|r| format!("{r} ({})", r.code()));
            writeln!(stdout, "{label}: {}", reason.unwrap_or_default())?;
        }
    }
    for warning in &verdict.warnings {
        writeln!(
            stdout,
            "warning: {}",
            enroll_idverify::scan::warning_text(warning)
        )?;
    }
    Ok(code)
}

fn inspect(argument: &str) -> anyhow::Result<ExitCode> {
    let texts = token_texts(argument)?;
    let text = texts.first().map(String::as_str).unwrap_or_default();
    let mut stdout = std::io::stdout();
    writeln!(stdout, "base45 characters  {}", text.len())?;
    if let Some(version) = qr::version(text, qr::Medium::Screen) {
        writeln!(stdout, "QR version         {version}-M (screen)")?;
    }
    match token::open(text) {
        Ok((unverified, claims)) => {
            writeln!(stdout, "signed by kid      {}", unverified.kid)?;
            writeln!(stdout, "cti hash           {}", cti_hash(&claims.cti))?;
            writeln!(
                stdout,
                "status             {}",
                claims
                    .status
                    .as_ref()
                    .map(|s| format!("{} bit {}", s.uri, s.index))
                    .unwrap_or_else(|| "none".into())
            )?;
            writeln!(
                stdout,
                "claims (not verified)\n{}",
                serde_json::to_string_pretty(&claims_json(&claims))?
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            writeln!(stdout, "not readable: {reason} ({})", reason.code())?;
            Ok(ExitCode::from(1))
        }
    }
}
