//! `registry officer add|disable|list`: the officer roster terminals are served during sync. The
//! PIN is read from standard input (one line), never from the command line (where `ps` and shell
//! history see it).

use std::io::{BufRead as _, Write as _};
use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;

use enroll_core::domain::officer::Role;
use enroll_crypto::keys;
use enroll_registry::officers::{Added, new_officer};

#[derive(Subcommand)]
pub enum OfficerCommand {
    /// Add a badge; its PIN (6-12 digits) is read from standard input. Terminals take it at
    /// their next sync
    Add {
        /// Storage: sqlite:PATH or postgres://USER@HOST:PORT/DB
        #[arg(long, value_name = "URL")]
        db: String,
        /// The badge id (typed, or the badge card's UID in hex)
        #[arg(long, value_name = "ID")]
        badge: String,
        /// officer, supervisor (may approve overrides) or technician (diagnostics only)
        #[arg(long, value_enum, default_value = "officer")]
        role: RoleArg,
        /// A terminal the badge may sign in at (repeat it); none: every terminal
        #[arg(long = "terminal", value_name = "ID")]
        terminals: Vec<String>,
    },
    /// Disable a badge: every terminal refuses it after its next sync
    Disable {
        /// Storage: sqlite:PATH or postgres://USER@HOST:PORT/DB
        #[arg(long, value_name = "URL")]
        db: String,
        #[arg(long, value_name = "ID")]
        badge: String,
    },
    /// List badges, roles, terminals and the roster's serial (never PINs or hashes)
    List {
        /// Storage: sqlite:PATH or postgres://USER@HOST:PORT/DB
        #[arg(long, value_name = "URL")]
        db: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    Officer,
    Supervisor,
    Technician,
}

/// `registry officer …`
pub fn run(command: OfficerCommand) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout();
    match command {
        OfficerCommand::Add {
            db,
            badge,
            role,
            terminals,
        } => {
            let mut pin = String::new();
            std::io::stdin().lock().read_line(&mut pin)?;
            let pin = pin.trim_end_matches(['\r', '\n']);
            if pin.is_empty() {
                bail!(
                    "no PIN on standard input: pipe it in, e.g. `registry officer add --badge B-1 < pin.txt`"
                );
            }
            let role = match role {
                RoleArg::Officer => Role::Officer,
                RoleArg::Supervisor => Role::Supervisor,
                RoleArg::Technician => Role::Technician,
            };
            let officer = new_officer(&badge, role, pin, terminals, keys::random_bytes::<16>()?)?;
            let storage = crate::open_storage(&db, 1)?;
            match storage.add_officer(&officer, crate::now())? {
                Added::Added => {
                    let serial = storage.roster()?.serial;
                    writeln!(
                        stdout,
                        "badge {badge} added as {role:?}; roster serial {serial} (terminals take it at their next sync)"
                    )?;
                    Ok(ExitCode::SUCCESS)
                }
                Added::Exists => {
                    bail!("badge {badge} is already on the roster (disable it first to replace it)")
                }
            }
        }
        OfficerCommand::Disable { db, badge } => {
            let storage = crate::open_storage(&db, 1)?;
            if !storage.disable_officer(&badge, crate::now())? {
                bail!("badge {badge} is not on the roster");
            }
            let serial = storage.roster()?.serial;
            writeln!(
                stdout,
                "badge {badge} disabled; roster serial {serial} (each terminal refuses it after its next sync)"
            )?;
            Ok(ExitCode::SUCCESS)
        }
        OfficerCommand::List { db, json } => {
            let storage = crate::open_storage(&db, 1)?;
            let roster = storage.roster()?;
            if json {
                let listed = serde_json::json!({
                    "serial": roster.serial,
                    "officers": roster.officers,
                });
                writeln!(stdout, "{}", serde_json::to_string_pretty(&listed)?)?;
                return Ok(ExitCode::SUCCESS);
            }
            writeln!(stdout, "roster serial {}", roster.serial)?;
            writeln!(
                stdout,
                "{:<20} {:<11} {:<9} terminals",
                "badge", "role", "state"
            )?;
            for officer in roster.officers {
                writeln!(
                    stdout,
                    "{:<20} {:<11} {:<9} {}",
                    officer.badge,
                    format!("{:?}", officer.role).to_lowercase(),
                    if officer.disabled {
                        "disabled"
                    } else {
                        "active"
                    },
                    if officer.terminals.is_empty() {
                        "all".to_owned()
                    } else {
                        officer.terminals.join(", ")
                    }
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
