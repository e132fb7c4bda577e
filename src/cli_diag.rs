//! `kiosk diag`: runs the technician's checks and prints the table or the JSON report; exit
//! status 0 all ok, 1 some warning, 2 some failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use enroll_kiosk::config::Config;
use enroll_kiosk::diag::{self, CheckId, DiagOptions};
#[cfg(feature = "demo")]
use enroll_sim::faults::{Fault, FaultSwitch};

/// Arguments of `kiosk diag`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DiagArgs {
    #[command(subcommand)]
    action: Option<DiagAction>,
    /// Run only this check: config, camera, card-reader, face-engine, storage, queue, crypto,
    /// clock, network or audit
    #[arg(value_name = "CHECK")]
    check: Option<String>,
    /// Print the report as JSON (schema enroll-kiosk.diag/1, see README)
    #[arg(long)]
    json: bool,
    /// Write a test frame from the camera to this PNG file
    #[arg(long, value_name = "FILE")]
    save_frame: Option<PathBuf>,
    /// How long the camera check measures the frame rate, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = diag::CAMERA_SAMPLE_MS)]
    camera_sample_ms: u64,
}

/// `kiosk diag bundle`, `kiosk diag inject`.
#[derive(clap::Subcommand)]
enum DiagAction {
    /// Run every check and write a .tar.gz for the help desk: the report, recent logs, the
    /// configuration without secrets, the queue, versions and model hashes; no personal data
    Bundle {
        /// The archive to write (its folder must exist, e.g. a mounted USB stick)
        #[arg(long, value_name = "FILE.tar.gz")]
        out: PathBuf,
    },
    /// Demo terminals only (`[demo] faults_dir`): make a simulated part fail, for training and
    /// tests, until cleared; without arguments, list the faults that are on
    #[cfg(feature = "demo")]
    Inject {
        /// camera-freeze, reader-gone, card-pulled, disk-full or registry-down
        #[arg(value_name = "FAULT")]
        fault: Option<String>,
        /// Clear FAULT (every fault when none is named) instead of injecting it
        #[arg(long)]
        clear: bool,
    },
}

/// `kiosk diag …`
pub fn run(args: DiagArgs, config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    match &args.action {
        Some(DiagAction::Bundle { out }) => return bundle(out, config_path),
        #[cfg(feature = "demo")]
        Some(DiagAction::Inject { fault, clear }) => {
            return inject(fault.as_deref(), *clear, config_path);
        }
        None => {}
    }
    let only = args
        .check
        .as_deref()
        .map(|name| {
            named(
                name,
                "check",
                &CheckId::ALL,
                CheckId::parse,
                CheckId::as_str,
            )
        })
        .transpose()?;
    let path = Config::resolve_path(config_path);
    // A demo terminal's emulated reader and registry live inside `kiosk run`; when it is not
    // running, start them for the checks (a real terminal has none of this).
    let _demo = Config::load(&path)
        .ok()
        .and_then(|config| demo_for_checks(&config));
    let options = DiagOptions {
        save_frame: args.save_frame,
        camera_sample_ms: args.camera_sample_ms,
        only,
        ..DiagOptions::at(enroll_kiosk::clock::now())
    };
    let report = diag::run(&path, &options);
    let mut stdout = std::io::stdout().lock();
    if args.json {
        writeln!(stdout, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        write!(stdout, "{}", diag::table(&report))?;
    }
    Ok(ExitCode::from(report.overall.exit_code()))
}

/// The item of `all` called `name`, or an error listing every name.
fn named<T: Copy>(
    name: &str,
    what: &str,
    all: &[T],
    parse: impl Fn(&str) -> Option<T>,
    as_str: impl Fn(T) -> &'static str,
) -> anyhow::Result<T> {
    parse(name).ok_or_else(|| {
        let names: Vec<&str> = all.iter().map(|item| as_str(*item)).collect();
        anyhow::anyhow!(
            "no {what} named {name:?}; the {what}s are {}",
            names.join(", ")
        )
    })
}

#[cfg(feature = "demo")]
fn inject(
    fault: Option<&str>,
    clear: bool,
    config_path: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let path = Config::resolve_path(config_path);
    let config = Config::load(&path)?;
    let Some(dir) = config.faults_dir() else {
        anyhow::bail!(
            "{} has no [demo] faults_dir: faults are injected on demo terminals only (e.g. \
             --config kiosk-config/demo.toml)",
            path.display()
        );
    };
    let switch = FaultSwitch::at(dir.to_path_buf());
    let fault = fault
        .map(|name| named(name, "fault", &Fault::ALL, Fault::parse, Fault::as_str))
        .transpose()?;
    match (fault, clear) {
        (Some(fault), false) => switch.set(fault, true)?,
        (Some(fault), true) => switch.set(fault, false)?,
        (None, true) => {
            for fault in Fault::ALL {
                switch.set(fault, false)?;
            }
        }
        (None, false) => {}
    }
    let active: Vec<&str> = switch.active().iter().map(|f| f.as_str()).collect();
    let mut stdout = std::io::stdout().lock();
    if active.is_empty() {
        writeln!(stdout, "no fault injected")?;
    } else {
        writeln!(
            stdout,
            "injected: {} (kiosk diag shows it; clear with kiosk diag inject --clear)",
            active.join(", ")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn bundle(out: &Path, config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let path = Config::resolve_path(config_path);
    let _demo = Config::load(&path)
        .ok()
        .and_then(|config| demo_for_checks(&config));
    let options = DiagOptions::at(enroll_kiosk::clock::now());
    let report = diag::run(&path, &options);
    let summary = diag::bundle::write_bundle(&path, &report, out)?;
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{}", diag::table(&report))?;
    writeln!(
        stdout,
        "wrote {} ({} files, {} bytes; {} personal strings removed)",
        summary.path.display(),
        summary.files.len(),
        summary.bytes,
        summary.removed
    )?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "demo")]
fn demo_for_checks(config: &Config) -> Option<enroll_kiosk::app::demo::DemoServices> {
    use enroll_kiosk::config::CardReaderConfig;
    let CardReaderConfig::SamEmulator { link_path, .. } = &config.card_reader else {
        return None;
    };
    if link_path.exists() {
        // A running kiosk owns the emulator.
        return None;
    }
    match enroll_kiosk::app::demo::DemoServices::start(config) {
        Ok(services) => Some(services),
        Err(error) => {
            tracing::warn!(%error, "demo services not started for the checks");
            None
        }
    }
}

/// A production build starts no demo services.
#[cfg(not(feature = "demo"))]
fn demo_for_checks(_config: &Config) -> Option<()> {
    None
}
