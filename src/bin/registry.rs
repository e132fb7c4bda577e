//! The `registry` command line: the central registry that terminals sync to. Thin: it parses
//! arguments, reads key files and the clock, and calls the library.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use anyhow::{Context, bail};
use enroll_kiosk::crypto::records::{SealingPrivateKey, TerminalSigningKey};
use enroll_kiosk::domain::record::{RecordBody, SealedContent};
use enroll_kiosk::keys;
use enroll_kiosk::registry::server::{Metrics, RegistryState, serve};
use enroll_kiosk::registry::storage::{SqliteStorage, Storage};

/// The central registry that receives, verifies and stores enrollment records.
#[derive(Parser)]
#[command(name = "registry", version, about, long_about = None, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the registry's keys: X25519 for sealed payloads (registry-sealing.key/.pub) and
    /// Ed25519 for receipts (registry-receipt.key/.pub); private files mode 0600, never overwritten
    Keygen {
        /// Directory to write the four files into
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Serve the registry API until Ctrl-C or SIGTERM
    Serve {
        /// Address to listen on; plain HTTP is allowed on loopback only
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
        listen: std::net::SocketAddr,
        /// Storage: sqlite:PATH
        #[arg(long, value_name = "URL")]
        db: String,
        /// Directory with registry-receipt.key (made by `registry keygen`)
        #[arg(long, value_name = "DIR")]
        keys: PathBuf,
    },
    /// Terminals allowed to send records
    #[command(subcommand)]
    Terminal(TerminalCommand),
    /// Decrypt a record's sealed biometrics with the registry's private key (authorised
    /// processing only); prints the sealed content as JSON
    Open {
        /// The record id
        record_id: String,
        /// Storage: sqlite:PATH
        #[arg(long, value_name = "URL")]
        db: String,
        /// Directory with registry-sealing.key
        #[arg(long, value_name = "DIR")]
        keys: PathBuf,
    },
}

#[derive(Subcommand)]
enum TerminalCommand {
    /// Register a terminal's Ed25519 public key (a terminal-signing.pub from `kiosk keygen`)
    Add {
        /// Storage: sqlite:PATH
        #[arg(long, value_name = "URL")]
        db: String,
        /// The terminal id (terminal.id in its kiosk.toml)
        #[arg(long, value_name = "ID")]
        id: String,
        /// Its public key file
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen { out } => keygen(&out),
        Command::Serve { listen, db, keys } => serve_command(listen, &db, &keys),
        Command::Terminal(TerminalCommand::Add { db, id, public_key }) => {
            terminal_add(&db, &id, &public_key)
        }
        Command::Open {
            record_id,
            db,
            keys,
        } => open(&record_id, &db, &keys),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "registry: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn keygen(out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    let (sealing_key, sealing_pub) = keys::pair_paths(out, "registry-sealing");
    let (receipt_key, receipt_pub) = keys::pair_paths(out, "registry-receipt");
    keys::ensure_absent(&[&sealing_key, &sealing_pub, &receipt_key, &receipt_pub])?;
    let (sealing, sealing_public) = SealingPrivateKey::from_seed(keys::random_seed()?);
    let receipt = TerminalSigningKey::from_seed(keys::random_seed()?);
    keys::write_new(&sealing_key, &sealing.to_pem(), true)?;
    keys::write_new(&sealing_pub, &sealing_public.to_pem(), false)?;
    keys::write_new(&receipt_key, &receipt.to_pem(), true)?;
    keys::write_new(&receipt_pub, &receipt.public().to_pem(), false)?;
    let mut stdout = std::io::stdout();
    writeln!(
        stdout,
        "sealing key (X25519): {} and {}; fingerprint {}",
        sealing_key.display(),
        sealing_pub.display(),
        sealing_public.fingerprint()
    )?;
    writeln!(
        stdout,
        "receipt key (Ed25519): {} and {}; fingerprint {}",
        receipt_key.display(),
        receipt_pub.display(),
        receipt.public().fingerprint()
    )?;
    Ok(())
}

/// Unix milliseconds now: the binary is the edge where the clock is read.
#[allow(clippy::disallowed_methods)] // the binary's edge reads the clock and passes it in
fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn open_storage(db: &str) -> anyhow::Result<SqliteStorage> {
    match db.strip_prefix("sqlite:") {
        Some(path) => Ok(SqliteStorage::open(Path::new(path))?),
        None => bail!("--db {db:?} is not supported; use sqlite:PATH"),
    }
}

fn serve_command(listen: std::net::SocketAddr, db: &str, keys_dir: &Path) -> anyhow::Result<()> {
    if !listen.ip().is_loopback() {
        bail!(
            "plain HTTP is only allowed on a loopback address ({listen} is not); TLS is not \
             configured in this version"
        );
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("REGISTRY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let storage = open_storage(db)?;
    let receipt_key = keys::read_signing_key(&keys_dir.join("registry-receipt.key"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("registry")
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let local = listener.local_addr()?;
        tracing::info!(listen = %local, "registry listening");
        let _ = writeln!(std::io::stdout(), "registry listening on http://{local}");
        let state = RegistryState {
            storage: std::sync::Arc::new(storage),
            receipt_key: std::sync::Arc::new(receipt_key),
            metrics: std::sync::Arc::new(Metrics::default()),
            clock: std::sync::Arc::new(unix_now_ms),
        };
        let shutdown = async {
            let mut terminate =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(signal) => signal,
                    Err(_) => return,
                };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        };
        serve(listener, state, shutdown).await?;
        anyhow::Ok(())
    })
}

fn terminal_add(db: &str, id: &str, public_key: &Path) -> anyhow::Result<()> {
    let storage = open_storage(db)?;
    let key = keys::read_ed25519_public(public_key)?;
    storage.add_terminal(
        id,
        key.to_bytes(),
        i64::try_from(unix_now_ms()).unwrap_or(0),
    )?;
    writeln!(
        std::io::stdout(),
        "terminal {id} registered (key fingerprint {})",
        key.fingerprint()
    )?;
    Ok(())
}

fn open(record_id: &str, db: &str, keys_dir: &Path) -> anyhow::Result<()> {
    let storage = open_storage(db)?;
    let record = storage
        .record(record_id)?
        .with_context(|| format!("no record {record_id} in {db}"))?;
    let body = RecordBody::from_bytes(&record.body)?;
    let (private, _) = keys::read_sealing_private(&keys_dir.join("registry-sealing.key"))?;
    let plain = private.open(&body.sealed, &body.id, &record.sealed_payload)?;
    let content = SealedContent::from_bytes(&plain)?;
    writeln!(
        std::io::stdout(),
        "{}",
        serde_json::to_string_pretty(&content)?
    )?;
    Ok(())
}
