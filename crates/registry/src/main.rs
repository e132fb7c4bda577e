//! The `registry` command line: the central registry that terminals sync to. Thin: it parses
//! arguments, reads key files and the clock, and calls the library.

#![forbid(unsafe_code)]

mod cli_id;
mod cli_officer;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use anyhow::{Context, bail};
use enroll_core::domain::record::{RecordBody, SealedContent};
use enroll_core::domain::time::UnixMs;
use enroll_crypto::keys;
use enroll_crypto::records::{DocumentTagKey, SealingPrivateKey, TerminalSigningKey};
use enroll_registry::server::{
    MIN_ADMIN_TOKEN_CHARS, Metrics, Publisher, RegistryState, serve, serve_tls,
};
use enroll_registry::storage::{self, Storage};

/// The allocator. Under the fleet soak (20 terminals, instance kills, PostgreSQL crashes) glibc's
/// malloc grew the server from 10 MB to 63 MB resident in 15 minutes while the live heap stayed
/// near 4 MB (`malloc_stats`: 36.8 MB taken from the system, 4.3 MB in use, after 8 minutes): each
/// of the runtime's blocking threads has its own arena, and what a burst freed in one stayed
/// there. jemalloc returns freed pages to the system after a few seconds (its decay), from every
/// arena once its background thread runs (started in `serve_command`). mimalloc, tried first,
/// held 65 to 105 MB under the same load.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The central registry that receives, verifies and stores enrollment records.
#[derive(Parser)]
#[command(name = "registry", version, about, long_about = None, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the registry's keys: X25519 for sealed payloads (registry-sealing.key/.pub),
    /// Ed25519 for receipts (registry-receipt.key/.pub), and the virtual ID's Ed25519 keys
    /// (issuing-strict, issuing-light, status-list) and daily-handle secret; private files mode
    /// 0600, never overwritten
    Keygen {
        /// Directory to write the files into
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Only the virtual ID's keys (for a key directory made before they existed)
        #[arg(long)]
        virtual_id: bool,
    },
    /// Serve the registry API until Ctrl-C or SIGTERM
    Serve {
        /// Address to listen on; plain HTTP (no --tls-cert) is allowed on loopback only
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
        listen: std::net::SocketAddr,
        /// Storage: sqlite:PATH or postgres://USER@HOST:PORT/DB
        #[arg(long, value_name = "URL")]
        db: String,
        /// Directory with registry-receipt.key (made by `registry keygen`)
        #[arg(long, value_name = "DIR")]
        keys: PathBuf,
        /// PEM certificate chain (server certificate first) to serve HTTPS with
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key of the TLS certificate
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// File holding the admin token that `POST /v1/terminals` requires (at least 32
        /// characters); without it terminals are registered from the command line only
        #[arg(long, value_name = "FILE")]
        admin_token_file: Option<PathBuf>,
        /// Database connections (PostgreSQL)
        #[arg(long, value_name = "N", default_value_t = 16)]
        db_connections: usize,
        /// The registry's public base URL: the virtual ID's issuer and status-list URIs
        /// (default: the scheme and address it listens on)
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// Also issue virtual IDs (needs the sealing key and the issuing keys in --keys)
        #[arg(long)]
        issue: bool,
        /// Time zone of the tokens' days (default: the system's)
        #[arg(long, value_name = "NAME", env = "REGISTRY_TIME_ZONE")]
        time_zone: Option<String>,
        /// Days in a batch of tokens (1–30)
        #[arg(long, value_name = "N", default_value_t = enroll_credential::DEFAULT_BATCH_DAYS)]
        batch_days: u32,
        /// Failed activation tries one address may make per 15 minutes before it must wait
        #[arg(long, value_name = "N", default_value_t = enroll_registry::holder_api::DEFAULT_FAILURES_PER_SOURCE)]
        holder_failures_per_source: u32,
        /// A terminal silent for longer than this shows as stale on /metrics
        /// (registry_terminal_up 0)
        #[arg(long, value_name = "SECONDS", default_value_t = enroll_registry::fleet_health::DEFAULT_STALE_AFTER_S)]
        stale_after_s: u64,
    },
    /// Issue virtual IDs for the records that qualify, as its own process (idempotent; a crash
    /// issues nothing twice)
    Issue {
        /// Storage: sqlite:PATH or postgres://USER@HOST:PORT/DB
        #[arg(long, value_name = "URL")]
        db: String,
        /// Directory with registry-sealing.key and the issuing keys
        #[arg(long, value_name = "DIR")]
        keys: PathBuf,
        /// The registry's public base URL (the tokens' issuer and status-list URIs)
        #[arg(long, value_name = "URL")]
        public_url: String,
        /// Time zone of the tokens' days (default: the system's)
        #[arg(long, value_name = "NAME", env = "REGISTRY_TIME_ZONE")]
        time_zone: Option<String>,
        /// Days in a batch of tokens (1–30)
        #[arg(long, value_name = "N", default_value_t = enroll_credential::DEFAULT_BATCH_DAYS)]
        batch_days: u32,
        /// Decide the waiting records once and exit (default: keep watching)
        #[arg(long)]
        once: bool,
    },
    /// Virtual IDs: show, print or re-issue tokens, revoke
    #[command(subcommand)]
    Id(IdCommand),
    /// The trust list verifiers pin: its offline root key and signing it
    #[command(subcommand)]
    TrustList(TrustListCommand),
    /// List records accepted with a gap in their terminal's chain, for review
    Flagged {
        /// Storage: sqlite:PATH or postgres://USER@HOST:PORT/DB
        #[arg(long, value_name = "URL")]
        db: String,
    },
    /// Accept a record flagged with a chain gap after reviewing it: it leaves the flagged list and
    /// may become a virtual ID
    Review {
        /// The record id (from `registry flagged`)
        record_id: String,
        /// Storage: sqlite:PATH or postgres://USER@HOST:PORT/DB
        #[arg(long, value_name = "URL")]
        db: String,
        /// Who reviewed it (kept with the acceptance)
        #[arg(long, value_name = "NAME")]
        by: String,
    },
    /// Terminals allowed to send records
    #[command(subcommand)]
    Terminal(TerminalCommand),
    /// The officer roster terminals are served signed during sync: add, disable, list badges
    #[command(subcommand)]
    Officer(cli_officer::OfficerCommand),
    /// Decrypt a record's sealed biometrics with the registry's private key (authorised
    /// processing only); prints the sealed content as JSON
    Open {
        /// The record id
        record_id: String,
        /// Storage: sqlite:PATH or postgres://USER@HOST:PORT/DB
        #[arg(long, value_name = "URL")]
        db: String,
        /// Directory with registry-sealing.key
        #[arg(long, value_name = "DIR")]
        keys: PathBuf,
    },
}

#[derive(clap::Args)]
struct Selector {
    /// The record the identity was issued from: its id, or the short reference on the
    /// applicant's receipt (XXX-XXX-XXXX)
    #[arg(value_name = "RECORD_ID|REF", required_unless_present = "handle")]
    record: Option<String>,
    /// A daily handle from one of its tokens
    #[arg(long, value_name = "HANDLE", conflicts_with = "record")]
    handle: Option<String>,
    /// Storage: sqlite:PATH or postgres://USER@HOST:PORT/DB
    #[arg(long, value_name = "URL")]
    db: String,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum IdCommand {
    /// An identity's tier, state and tokens
    Show(Selector),
    /// The outstanding tokens (from today), as text or as PNG + text files
    Tokens {
        #[command(flatten)]
        selector: Selector,
        /// Only the first N days
        #[arg(long, value_name = "N")]
        days: Option<u32>,
        /// Only one profile: basic or check-in
        #[arg(long, value_name = "PROFILE")]
        profile: Option<String>,
        /// Write DAY-PROFILE.png and .txt files into this directory
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Revoke the outstanding batch and issue a new one first (needs --keys and --public-url)
        #[arg(long, requires_all = ["keys", "public_url"])]
        reissue: bool,
        /// Directory with the sealing and issuing keys (for --reissue)
        #[arg(long, value_name = "DIR")]
        keys: Option<PathBuf>,
        /// The registry's public base URL (for --reissue)
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// Time zone of the tokens' days (default: the system's)
        #[arg(long, value_name = "NAME", env = "REGISTRY_TIME_ZONE")]
        time_zone: Option<String>,
        /// Days in a re-issued batch (1–30)
        #[arg(long, value_name = "N", default_value_t = enroll_credential::DEFAULT_BATCH_DAYS)]
        batch_days: u32,
    },
    /// Revoke an identity: every token's status bit flips; the record is kept
    Revoke(Selector),
}

#[derive(Subcommand)]
enum TrustListCommand {
    /// Make the offline root key (trust-root.key/.pub) on removable media
    RootKeygen {
        /// Directory to write the two files into
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Sign the list of the registry's public keys with the root key
    Sign {
        /// The root's private key (trust-root.key from `registry trust-list root-keygen`)
        #[arg(long, value_name = "FILE")]
        root_key: PathBuf,
        /// The registry's key directory (issuing-*.pub, status-list.pub)
        #[arg(long, value_name = "DIR")]
        keys: PathBuf,
        /// The registry's public base URL, where verifiers fetch status lists
        #[arg(long, value_name = "URL")]
        public_url: String,
        /// How long the listed keys are valid, in days
        #[arg(long, value_name = "DAYS", default_value_t = 90)]
        valid_days: i64,
        /// Where to write the list (default: KEYS/trust-list.cbor, which `registry serve` publishes)
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TerminalCommand {
    /// Register a terminal's Ed25519 public key (a terminal-signing.pub from `kiosk keygen`)
    Add {
        /// Storage: sqlite:PATH or postgres://USER@HOST:PORT/DB
        #[arg(long, value_name = "URL")]
        db: String,
        /// The terminal id (terminal.id in its kiosk.toml)
        #[arg(long, value_name = "ID")]
        id: String,
        /// Its public key file
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
    },
    /// Make a one-time code for a new terminal: on it, `kiosk provision URL --code CODE`
    /// creates its key and registers it under ID, with no key files carried by hand
    Invite {
        /// Storage: sqlite:PATH or postgres://USER@HOST:PORT/DB
        #[arg(long, value_name = "URL")]
        db: String,
        /// The terminal id the code registers (terminal.id in the new terminal's kiosk.toml)
        #[arg(long, value_name = "ID")]
        id: String,
        /// How long the code is valid
        #[arg(long, value_name = "HOURS", default_value_t = 72)]
        valid_hours: u32,
    },
    /// List the registered terminals: key fingerprint, records received, last heartbeat and
    /// state (ok / warn / fail by its worst check, stale when silent too long, never, revoked)
    List {
        /// Storage: sqlite:PATH or postgres://USER@HOST:PORT/DB
        #[arg(long, value_name = "URL")]
        db: String,
        /// A terminal silent for longer than this is stale
        #[arg(long, value_name = "SECONDS", default_value_t = enroll_registry::fleet_health::DEFAULT_STALE_AFTER_S)]
        stale_after_s: u64,
        /// One JSON array instead of the table
        #[arg(long)]
        json: bool,
    },
    /// Give a terminal a new key by the administrator's hand (a token replaced, a key made anew):
    /// records naming the old key are still accepted for the overlap. Terminals holding their
    /// key file rotate themselves with `kiosk keys rotate`
    Rotate {
        /// Storage: sqlite:PATH or postgres://USER@HOST:PORT/DB
        #[arg(long, value_name = "URL")]
        db: String,
        /// The terminal id
        #[arg(long, value_name = "ID")]
        id: String,
        /// The new public key file (e.g. from `kiosk keygen --token --out DIR`)
        #[arg(long, value_name = "FILE")]
        public_key: PathBuf,
        /// Days records naming the old key are still accepted
        #[arg(long, value_name = "DAYS", default_value_t = 14)]
        overlap_days: u32,
    },
    /// Revoke a terminal (stolen, broken, retired): records it signed from now on are refused
    /// with 403; records it signed before stay and are still accepted
    Revoke {
        /// Storage: sqlite:PATH or postgres://USER@HOST:PORT/DB
        #[arg(long, value_name = "URL")]
        db: String,
        /// The terminal id
        #[arg(long, value_name = "ID")]
        id: String,
        /// Why (kept and told to the terminal, e.g. "stolen from station 12")
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen { out, virtual_id } => {
            if virtual_id {
                cli_id::keygen_virtual_id(&out)
            } else {
                keygen(&out).and_then(|()| cli_id::keygen_virtual_id(&out))
            }
        }
        Command::Serve {
            listen,
            db,
            keys,
            tls_cert,
            tls_key,
            admin_token_file,
            db_connections,
            public_url,
            issue,
            time_zone,
            batch_days,
            holder_failures_per_source,
            stale_after_s,
        } => serve_command(ServeOptions {
            listen,
            db,
            keys_dir: keys,
            public_url,
            tls: tls_cert.zip(tls_key),
            admin_token_file,
            db_connections,
            issue,
            time_zone,
            batch_days,
            holder_failures_per_source,
            stale_after_ms: stale_after_s.saturating_mul(1000),
        }),
        Command::Issue {
            db,
            keys,
            public_url,
            time_zone,
            batch_days,
            once,
        } => cli_id::settings(&public_url, time_zone.as_deref(), batch_days)
            .and_then(|settings| cli_id::issue(&db, &keys, &settings, once)),
        Command::Id(command) => id_command(command),
        Command::TrustList(TrustListCommand::RootKeygen { out }) => cli_id::root_keygen(&out),
        Command::TrustList(TrustListCommand::Sign {
            root_key,
            keys,
            public_url,
            valid_days,
            out,
        }) => cli_id::trust_list_sign(&root_key, &keys, &public_url, valid_days, out),
        Command::Flagged { db } => flagged(&db),
        Command::Review { record_id, db, by } => review(&record_id, &db, &by),
        Command::Terminal(TerminalCommand::Add { db, id, public_key }) => {
            terminal_add(&db, &id, &public_key)
        }
        Command::Terminal(TerminalCommand::List {
            db,
            json,
            stale_after_s,
        }) => terminal_list(&db, json, stale_after_s),
        Command::Terminal(TerminalCommand::Invite {
            db,
            id,
            valid_hours,
        }) => terminal_invite(&db, &id, valid_hours),
        Command::Terminal(TerminalCommand::Rotate {
            db,
            id,
            public_key,
            overlap_days,
        }) => terminal_rotate(&db, &id, &public_key, overlap_days),
        Command::Terminal(TerminalCommand::Revoke { db, id, reason }) => {
            terminal_revoke(&db, &id, &reason)
        }
        Command::Open {
            record_id,
            db,
            keys,
        } => open(&record_id, &db, &keys),
        Command::Officer(command) => {
            return match cli_officer::run(command) {
                Ok(code) => code,
                Err(error) => {
                    let _ = writeln!(std::io::stderr(), "registry: {error:#}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "registry: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn id_command(command: IdCommand) -> anyhow::Result<()> {
    let selector = |s: &Selector| cli_id::IdSelector {
        record: s.record.clone(),
        handle: s.handle.clone(),
    };
    match command {
        IdCommand::Show(s) => cli_id::show(&s.db, &selector(&s), s.json),
        IdCommand::Revoke(s) => cli_id::revoke(&s.db, &selector(&s), s.json),
        IdCommand::Tokens {
            selector: s,
            days,
            profile,
            out,
            reissue,
            keys,
            public_url,
            time_zone,
            batch_days,
        } => {
            let reissue = match (reissue, keys, public_url) {
                (true, Some(keys), Some(url)) => Some((
                    cli_id::settings(&url, time_zone.as_deref(), batch_days)?,
                    keys,
                )),
                _ => None,
            };
            cli_id::tokens(
                &s.db,
                &selector(&s),
                cli_id::TokensOptions {
                    days,
                    profile,
                    out,
                    json: s.json,
                    reissue,
                    time_zone,
                },
            )
        }
    }
}

/// The document-tag key's file in the key directory (64 hex characters, mode 0600).
const DOCUMENT_TAG_KEY: &str = "document-tag.key";

/// The document-tag key, when the key directory has one (`registry keygen` makes it).
fn read_document_tag_key(dir: &Path) -> anyhow::Result<Option<DocumentTagKey>> {
    let path = dir.join(DOCUMENT_TAG_KEY);
    match std::fs::read_to_string(&path) {
        Ok(text) => DocumentTagKey::from_hex(&text).map(Some).with_context(|| {
            format!(
                "{} is not a document-tag key (64 hex characters)",
                path.display()
            )
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn keygen(out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    let (sealing_key, sealing_pub) = keys::pair_paths(out, "registry-sealing");
    let (receipt_key, receipt_pub) = keys::pair_paths(out, "registry-receipt");
    let tag_key = out.join(DOCUMENT_TAG_KEY);
    keys::ensure_absent(&[
        &sealing_key,
        &sealing_pub,
        &receipt_key,
        &receipt_pub,
        &tag_key,
    ])?;
    let document_tag = DocumentTagKey::from_bytes(keys::random_seed()?);
    keys::write_new(&tag_key, &format!("{}\n", document_tag.to_hex()), true)?;
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
    writeln!(
        stdout,
        "document-tag key: {} (id {}); terminals receive it with their roster",
        tag_key.display(),
        document_tag.id()
    )?;
    Ok(())
}

/// The wall-clock time now: the binary is the registry's one edge where the clock is read.
#[allow(clippy::disallowed_methods)] // the binary's edge reads the clock and passes it in
pub(crate) fn now() -> UnixMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| UnixMs(i64::try_from(since.as_millis()).unwrap_or(i64::MAX)))
        .unwrap_or(UnixMs::EPOCH)
}

pub(crate) fn open_storage(
    db: &str,
    connections: usize,
) -> anyhow::Result<std::sync::Arc<dyn Storage>> {
    Ok(storage::open(db, connections)?)
}

struct ServeOptions {
    listen: std::net::SocketAddr,
    db: String,
    keys_dir: PathBuf,
    /// Certificate chain and key files.
    tls: Option<(PathBuf, PathBuf)>,
    admin_token_file: Option<PathBuf>,
    db_connections: usize,
    /// `None`: the scheme and address listened on.
    public_url: Option<String>,
    issue: bool,
    time_zone: Option<String>,
    batch_days: u32,
    holder_failures_per_source: u32,
    stale_after_ms: u64,
}

fn read_admin_token(file: &Path) -> anyhow::Result<[u8; 32]> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the admin token file {}", file.display()))?;
    let token = text.trim();
    if token.chars().count() < MIN_ADMIN_TOKEN_CHARS || token.contains(char::is_whitespace) {
        bail!(
            "the admin token in {} must be one line of at least {MIN_ADMIN_TOKEN_CHARS} characters \
             without spaces (for example: openssl rand -hex 32 > {})",
            file.display(),
            file.display()
        );
    }
    Ok(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()).into())
}

fn serve_command(options: ServeOptions) -> anyhow::Result<()> {
    let listen = options.listen;
    if options.tls.is_none() && !listen.ip().is_loopback() {
        bail!(
            "plain HTTP is only allowed on a loopback address ({listen} is not): give \
             --tls-cert and --tls-key"
        );
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("REGISTRY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let tls = match &options.tls {
        Some((cert, key)) => {
            let chain = std::fs::read(cert)
                .with_context(|| format!("cannot read --tls-cert {}", cert.display()))?;
            let key_pem = std::fs::read(key)
                .with_context(|| format!("cannot read --tls-key {}", key.display()))?;
            Some(enroll_protocol::tls::server_config(&chain, &key_pem)?)
        }
        None => None,
    };
    let admin_token_sha256 = options
        .admin_token_file
        .as_deref()
        .map(read_admin_token)
        .transpose()?;
    let storage = open_storage(&options.db, options.db_connections)?;
    let receipt_key = keys::read_signing_key(&options.keys_dir.join("registry-receipt.key"))?;
    let status_key = cli_id::read_status_key(&options.keys_dir)?;
    let holders = cli_id::read_optional_handle_secret(&options.keys_dir)?.map(|secret| {
        std::sync::Arc::new(enroll_registry::holder_api::HolderService::new(
            enroll_registry::holders::ActivationKey::derive(&secret),
            options.holder_failures_per_source,
        ))
    });
    let issuer_keys = if options.issue {
        // Checked before listening, so a missing key stops the start with its name.
        cli_id::time_zone(options.time_zone.as_deref())?;
        Some(cli_id::read_issuer_keys(&options.keys_dir)?)
    } else {
        None
    };
    // jemalloc's background thread purges idle arenas too (without it, only an arena in use
    // gives pages back). Where it cannot start, memory is still freed, later: not worth refusing.
    if let Err(error) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(%error, "jemalloc's background purging did not start; memory is given back more slowly");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("registry")
        .max_blocking_threads(options.db_connections.max(1) * 2)
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let local = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let public_url = options
            .public_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{local}"));
        // Tokens name status lists under the public URL; verifiers fetch them from the URL in
        // the trust list. A mismatch would leave every verifier unable to check revocation.
        let installed = std::fs::read(options.keys_dir.join(cli_id::TRUST_LIST))
            .ok()
            .and_then(|bytes| enroll_credential::trust::TrustList::read_unchecked(&bytes));
        if let Some(list) = installed
            && list.registry_url != public_url.trim_end_matches('/')
        {
            tracing::warn!(
                trust_list = %list.registry_url,
                public_url = %public_url,
                "the installed trust list names another registry URL than --public-url: verifiers \
                 will not find the status lists tokens name; sign the list again with --public-url"
            );
        }
        let virtual_id = status_key.map(|status_key| {
            let trust_list_file = options.keys_dir.join(cli_id::TRUST_LIST);
            std::sync::Arc::new(Publisher {
                status_key,
                public_url: public_url.trim_end_matches('/').to_owned(),
                trust_list: std::sync::Arc::new(move || std::fs::read(&trust_list_file).ok()),
            })
        });
        let issuer = match issuer_keys {
            Some(keys) => Some((
                keys,
                cli_id::settings(
                    &public_url,
                    options.time_zone.as_deref(),
                    options.batch_days,
                )?,
            )),
            None => None,
        };
        tracing::info!(listen = %local, scheme, "registry listening");
        let _ = writeln!(
            std::io::stdout(),
            "registry listening on {scheme}://{local}"
        );
        let state = RegistryState {
            storage,
            receipt_key: std::sync::Arc::new(receipt_key),
            metrics: std::sync::Arc::new(Metrics::default()),
            clock: std::sync::Arc::new(now),
            admin_token_sha256,
            virtual_id,
            holders,
            sealing_public_pem: std::fs::read_to_string(
                options.keys_dir.join("registry-sealing.pub"),
            )
            .ok()
            .map(std::sync::Arc::new),
            document_tag_key: read_document_tag_key(&options.keys_dir)?.map(std::sync::Arc::new),
            stale_after_ms: options.stale_after_ms,
        };
        if let Some((keys, settings)) = issuer {
            tokio::spawn(issuer_loop(
                std::sync::Arc::clone(&state.storage),
                std::sync::Arc::new(keys),
                std::sync::Arc::new(settings),
            ));
        }
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
        match tls {
            Some(tls) => serve_tls(listener, state, tls, shutdown).await?,
            None => serve(listener, state, shutdown).await?,
        }
        anyhow::Ok(())
    })
}

/// The issuer beside the server: a pass every two seconds on a blocking thread, errors logged
/// and retried. It is an async task, so it ends with the server.
async fn issuer_loop(
    storage: std::sync::Arc<dyn Storage>,
    keys: std::sync::Arc<enroll_registry::issuer::IssuerKeys>,
    settings: std::sync::Arc<enroll_registry::issuer::IssuerSettings>,
) {
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(2));
    loop {
        interval.tick().await;
        let (storage, keys, settings) = (
            std::sync::Arc::clone(&storage),
            std::sync::Arc::clone(&keys),
            std::sync::Arc::clone(&settings),
        );
        let pass = tokio::task::spawn_blocking(move || {
            enroll_registry::issuer::run_pass(storage.as_ref(), &keys, &settings, now(), 500)
        })
        .await;
        match pass {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::error!(%error, "issuance pass failed; retrying"),
            Err(error) => tracing::error!(%error, "issuance pass stopped; retrying"),
        }
    }
}

fn flagged(db: &str) -> anyhow::Result<()> {
    let storage = open_storage(db, 1)?;
    let ids = storage.flagged_records()?;
    let mut stdout = std::io::stdout();
    for id in &ids {
        writeln!(stdout, "{id}")?;
    }
    writeln!(
        std::io::stderr(),
        "{} record(s) accepted with a gap in their terminal's chain",
        ids.len()
    )?;
    Ok(())
}

fn review(record_id: &str, db: &str, by: &str) -> anyhow::Result<()> {
    if by.trim().is_empty() {
        bail!("--by must name who reviewed the record");
    }
    let storage = open_storage(db, 1)?;
    if !storage.accept_gap(record_id, by.trim(), now())? {
        bail!("{record_id} is not a record waiting for review (see `registry flagged --db {db}`)");
    }
    writeln!(
        std::io::stdout(),
        "record {record_id} accepted after review; the issuer will decide it"
    )?;
    Ok(())
}

fn terminal_add(db: &str, id: &str, public_key: &Path) -> anyhow::Result<()> {
    let storage = open_storage(db, 1)?;
    let key = keys::read_ed25519_public(public_key)?;
    storage.add_terminal(id, key.to_bytes(), now())?;
    writeln!(
        std::io::stdout(),
        "terminal {id} registered (key fingerprint {})",
        key.fingerprint()
    )?;
    Ok(())
}

fn terminal_rotate(db: &str, id: &str, public_key: &Path, overlap_days: u32) -> anyhow::Result<()> {
    let storage = open_storage(db, 1)?;
    let key = keys::read_ed25519_public(public_key)?;
    let current = storage.terminal_key(id)?.with_context(|| {
        format!("no terminal {id} is registered in {db} (see `registry terminal list`)")
    })?;
    if current == key.to_bytes() {
        bail!(
            "{} is the terminal's current key already",
            public_key.display()
        );
    }
    if storage.terminal_revocation(id)?.is_some() {
        bail!("terminal {id} is revoked: a revoked terminal gets no new key (provision it anew)");
    }
    let at = now();
    let until = at.plus_ms(u64::from(overlap_days) * 24 * 3_600_000);
    if !storage.rotate_terminal_key(id, key.to_bytes(), at, until)? {
        bail!("no terminal {id} is registered in {db}");
    }
    tracing::warn!(terminal = %id, key = %key.fingerprint(), "terminal key rotated by the administrator");
    writeln!(
        std::io::stdout(),
        "terminal {id} now signs with key {}; records naming the old key {} are accepted until unix ms {}",
        key.fingerprint(),
        enroll_crypto::records::sha256_hex(&current),
        until.as_i64()
    )?;
    Ok(())
}

fn terminal_list(db: &str, json: bool, stale_after_s: u64) -> anyhow::Result<()> {
    use enroll_registry::fleet_health::fleet;
    let storage = open_storage(db, 1)?;
    let now_ms = now();
    let rows = fleet(
        storage.terminals()?,
        storage.heartbeats()?,
        now_ms,
        stale_after_s.saturating_mul(1000),
    );
    let mut stdout = std::io::stdout();
    if json {
        writeln!(stdout, "{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(());
    }
    writeln!(
        stdout,
        "{:<24} {:<18} {:>8}  {:<7} {:<14} {:>6}  detail",
        "terminal", "key", "records", "state", "last seen", "queue"
    )?;
    for row in rows {
        let terminal = &row.terminal;
        let last_seen = row
            .last_seen_unix_ms
            .map(|seen| format!("{} ago", ago(now_ms.as_i64().saturating_sub(seen))))
            .unwrap_or_else(|| "never".to_owned());
        let queue = row
            .heartbeat
            .as_ref()
            .map(|beat| beat.queue_depth.to_string())
            .unwrap_or_else(|| "-".to_owned());
        let detail = match (&terminal.revoked, &row.heartbeat) {
            (Some(revoked), _) => format!(
                "revoked at unix ms {}: {}",
                revoked.revoked_at_unix_ms, revoked.reason
            ),
            (None, Some(beat)) => {
                let problems: Vec<String> = beat
                    .checks
                    .iter()
                    .filter(|(_, state)| **state != enroll_protocol::heartbeat::CheckState::Ok)
                    .map(|(check, state)| format!("{check} {}", state.as_str()))
                    .collect();
                format!(
                    "version {}, pack {}{}",
                    beat.version,
                    beat.model_pack,
                    if problems.is_empty() {
                        String::new()
                    } else {
                        format!("; {}", problems.join(", "))
                    }
                )
            }
            (None, None) => String::new(),
        };
        writeln!(
            stdout,
            "{:<24} {:<18} {:>8}  {:<7} {:<14} {:>6}  {detail}",
            terminal.id,
            terminal.key_fingerprint.get(..16).unwrap_or_default(),
            terminal.records,
            row.liveness.as_str(),
            last_seen,
            queue,
        )?;
    }
    Ok(())
}

/// A duration in the largest whole unit: "42 s", "5 min", "3 h", "2 d".
fn ago(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3_600 => format!("{} min", s / 60),
        3_600..86_400 => format!("{} h", s / 3_600),
        _ => format!("{} d", s / 86_400),
    }
}

fn terminal_invite(db: &str, id: &str, valid_hours: u32) -> anyhow::Result<()> {
    use enroll_core::domain::crockford;
    if !enroll_core::domain::record::is_valid_terminal_id(id) {
        bail!("--id: allowed are 1 to 64 characters of A-Z, a-z, 0-9, '-' and '_'");
    }
    let storage = open_storage(db, 1)?;
    let (code, code_sha256) = enroll_registry::server::invite_code(keys::random_bytes::<8>()?)
        .context("a fresh code does not read back")?;
    let created_at = now();
    let expires_at = created_at.plus_ms(u64::from(valid_hours) * 3_600_000);
    storage.add_invite(&enroll_registry::storage::NewInvite {
        code_sha256,
        terminal_id: id.to_owned(),
        created_at,
        expires_at,
    })?;
    let grouped = crockford::grouped(&code, &[4, 4, 5]);
    writeln!(
        std::io::stdout(),
        "one-time code for terminal {id}: {grouped} (valid {valid_hours} h, until unix ms {})\n\
         on the terminal: kiosk provision https://REGISTRY --code {grouped}",
        expires_at.as_i64()
    )?;
    Ok(())
}

fn terminal_revoke(db: &str, id: &str, reason: &str) -> anyhow::Result<()> {
    let reason = reason.trim();
    if reason.is_empty() {
        bail!("give a --reason: it is kept and told to the terminal");
    }
    let storage = open_storage(db, 1)?;
    let at = now();
    if !storage.revoke_terminal(id, at, reason)? {
        bail!("no terminal {id} is registered in {db} (see `registry terminal list`)");
    }
    let revocation = storage
        .terminal_revocation(id)?
        .with_context(|| format!("terminal {id} was not revoked"))?;
    tracing::warn!(terminal = %id, "terminal revoked");
    writeln!(
        std::io::stdout(),
        "terminal {id} revoked at unix ms {}: {}; records it signs from then on are refused",
        revocation.revoked_at_unix_ms,
        revocation.reason
    )?;
    Ok(())
}

fn open(record_id: &str, db: &str, keys_dir: &Path) -> anyhow::Result<()> {
    let storage = open_storage(db, 1)?;
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
