//! The `kiosk` command line: parses arguments, calls the library, reports the outcome. Thin.

#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};

use enroll_kiosk::config::Config;

mod cli_card;
mod cli_diag;
#[cfg(feature = "demo")]
mod cli_emulate;
mod cli_face;
mod cli_officer;
mod cli_pcsc;
mod cli_provision;
mod cli_records;

/// The identity enrollment terminal.
#[derive(Parser)]
#[command(name = "kiosk", version, about, long_about = None)]
struct Cli {
    /// Configuration file [default: $KIOSK_CONFIG, else kiosk-config/kiosk.toml]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Open the kiosk window (the default when no command is given)
    Run,
    /// Work with configuration files
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Identity-card readers: read a card, list readers, run an emulator
    #[command(subcommand)]
    Card(cli_card::CardCommand),
    /// The face engine: compare two photos, analyse one, evaluate and calibrate on a pair list,
    /// list the model packs
    Face(cli_face::FaceArgs),
    /// Create this terminal's Ed25519 signing key (mode 0600; never overwrites)
    Keygen {
        /// Directory to write terminal-signing.key and terminal-signing.pub into (with --token:
        /// the .pub only)
        #[arg(long, value_name = "DIR", required_unless_present = "token")]
        out: Option<PathBuf>,
        /// Make the key pair inside the PKCS#11 token terminal.signing_key names instead: the
        /// private key never leaves it
        #[arg(long)]
        token: bool,
    },
    /// Set this terminal up against its registry with a one-time code (`registry terminal
    /// invite`): creates its signing key, registers it, fetches the registry's public keys
    Provision {
        /// The registry's URL (https://… with registry.tls_ca_file set)
        url: String,
        /// The one-time code (XXXX-XXXX-XXXXX)
        #[arg(long, value_name = "CODE")]
        code: String,
    },
    /// This terminal's signing key at the registry
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Write one signed, sealed enrollment record to the outbox without the GUI
    Enroll(cli_records::EnrollArgs),
    /// The outbox of records waiting for the registry
    #[command(subcommand)]
    Queue(cli_records::QueueCommand),
    /// The hash-chained audit log
    #[command(subcommand)]
    Audit(cli_records::AuditCommand),
    /// Send queued records to the registry and verify its receipts
    Sync(cli_records::SyncArgs),
    /// The officers who may sign in at this terminal (badges, roles, PINs as Argon2id hashes)
    #[command(subcommand)]
    Officer(cli_officer::OfficerCommand),
    /// Applicants' receipts: reprint one, or check a QR text offline
    #[command(subcommand)]
    Receipt(cli_records::ReceiptCommand),
    /// Technician diagnostics: check every device, model, store, key and link (exit 0 ok,
    /// 1 warnings, 2 failures)
    Diag(cli_diag::DiagArgs),
    /// Make the demo's camera frames and card photo from the development face set (set-up)
    #[cfg(feature = "demo")]
    DemoAssets {
        /// The development face set (with lfw/ inside)
        #[arg(long, value_name = "DIR")]
        faces: PathBuf,
        /// Where to write them
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file: prints "ok", or every problem and exits with status 1
    Check {
        /// The file to check [default: --config, $KIOSK_CONFIG, else kiosk-config/kiosk.toml]
        file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let process_started = Instant::now();
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Run);
    // Every command logs to the terminal's log file when it can; only the long-running kiosk and
    // sync worker say so when they cannot (a one-off command is not worth the warning).
    let must_log_to_file = matches!(command, Command::Run | Command::Sync(_));
    init_logging(cli.config.as_deref(), must_log_to_file);
    let result = match command {
        Command::Run => run_gui(cli.config, process_started),
        Command::Config(ConfigCommand::Check { file }) => config_check(file.or(cli.config)),
        Command::Card(command) => cli_card::run(command, cli.config),
        Command::Face(command) => cli_face::run(command, cli.config),
        Command::Keygen { out, token: false } => match out {
            Some(out) => cli_records::keygen(&out),
            None => Err(anyhow::anyhow!("--out DIR is needed")),
        },
        Command::Keygen { out, token: true } => {
            cli_records::keygen_in_token(out.as_deref(), cli.config.as_deref())
        }
        Command::Provision { url, code } => {
            cli_provision::provision(&url, &code, cli.config.as_deref())
        }
        Command::Keys(KeysCommand::Rotate { registry }) => {
            cli_provision::rotate(registry, cli.config.as_deref())
        }
        Command::Enroll(args) => cli_records::enroll(args, cli.config.as_deref()),
        Command::Queue(command) => cli_records::queue(command, cli.config.as_deref()),
        Command::Audit(command) => cli_records::audit(command, cli.config.as_deref()),
        Command::Sync(args) => cli_records::sync(args, cli.config.as_deref()),
        Command::Officer(command) => cli_officer::run(command, cli.config.as_deref()),
        Command::Receipt(command) => cli_records::receipt(command, cli.config.as_deref()),
        Command::Diag(args) => cli_diag::run(args, cli.config.as_deref()),
        #[cfg(feature = "demo")]
        Command::DemoAssets { faces, out } => demo_assets(&faces, &out),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "kiosk: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `kiosk keys …`
#[derive(Subcommand)]
enum KeysCommand {
    /// Replace the terminal's signing key: the registry takes the new one on proof of the current
    /// one and accepts the old one for 14 more days; the old one is kept (retired) for reprints
    Rotate {
        /// The registry [default: registry.url]
        #[arg(long, value_name = "URL")]
        registry: Option<String>,
    },
}

/// Logs to standard error and, when the configuration loads, to the terminal's log file too
/// (`terminal.log_file`; the diagnostic bundle takes its tail). Only when `must_log_to_file` is a
/// file that cannot be opened worth a warning.
fn init_logging(config_path: Option<&Path>, must_log_to_file: bool) {
    use tracing_subscriber::fmt::writer::MakeWriterExt;
    let filter = tracing_subscriber::EnvFilter::try_from_env("KIOSK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let log_file = Config::load(&Config::resolve_path(config_path))
        .ok()
        .map(|config| config.terminal.log_file);
    let opened = log_file
        .as_deref()
        .map(|path| enroll_kiosk::logs::open_log_file(path).map_err(|error| (path, error)));
    match opened {
        Some(Ok(file)) => {
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(false)
                .with_writer(std::io::stderr.and(std::sync::Mutex::new(file)))
                .init();
        }
        problem => {
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .init();
            if let (Some(Err((path, error))), true) = (problem, must_log_to_file) {
                tracing::warn!(
                    log_file = %path.display(),
                    %error,
                    "logging to standard error only; create the log file's folder or set \
                     terminal.log_file"
                );
            }
        }
    }
}

fn run_gui(config_path: Option<PathBuf>, process_started: Instant) -> anyhow::Result<ExitCode> {
    let path = Config::resolve_path(config_path.as_deref());
    let config = Config::load(&path).context("the kiosk cannot start")?;
    tracing::info!(
        config = %path.display(),
        terminal = %config.terminal.id,
        tier = config.terminal.tier.as_str(),
        "starting kiosk"
    );
    enroll_kiosk::app::run(&config, process_started)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "demo")]
fn demo_assets(faces: &std::path::Path, out: &std::path::Path) -> anyhow::Result<ExitCode> {
    let frames = enroll_kiosk::app::demo_assets::make(faces, out)?;
    writeln!(
        std::io::stdout(),
        "demo pictures written to {}: {frames} camera frames and the card photo",
        out.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn config_check(file: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let path = Config::resolve_path(file.as_deref());
    match Config::load(&path) {
        Ok(_) => {
            writeln!(std::io::stdout(), "ok")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            writeln!(std::io::stderr(), "{error}")?;
            Ok(ExitCode::FAILURE)
        }
    }
}
