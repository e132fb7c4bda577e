//! `kiosk officer add|disable|list`: the officer list of this terminal. The PIN is read from
//! standard input (one line), never from the command line (where `ps` and shell history see it).

use std::io::{BufRead as _, Write as _};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;

use enroll_core::domain::officer::Role;
use enroll_crypto::keys;
use enroll_kiosk::config::Config;
use enroll_kiosk::officers::OfficerList;

#[derive(Subcommand)]
pub enum OfficerCommand {
    /// Add a badge; its PIN (6-12 digits) is read from standard input
    Add {
        /// The badge id (typed, or the badge card's UID in hex)
        #[arg(long, value_name = "ID")]
        badge: String,
        /// officer, or supervisor (may approve overrides)
        #[arg(long, value_enum, default_value = "officer")]
        role: RoleArg,
    },
    /// Disable a badge: it can no longer sign in
    Disable {
        #[arg(long, value_name = "ID")]
        badge: String,
    },
    /// List badges and roles (never PINs or hashes)
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    Officer,
    Supervisor,
    /// The technician's screen only (diagnostics, bundle); cannot enroll
    Technician,
}

fn officer_list(config_path: Option<&Path>) -> anyhow::Result<OfficerList> {
    let path = Config::resolve_path(config_path);
    let config = Config::load(&path).context("cannot load the configuration")?;
    Ok(OfficerList::for_config(&config)?)
}

/// `kiosk officer …`
pub fn run(command: OfficerCommand, config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let mut list = officer_list(config_path)?;
    let mut stdout = std::io::stdout();
    match command {
        OfficerCommand::Add { badge, role } => {
            if list.is_roster() {
                return Err(enroll_kiosk::officers::OfficersError::FromRegistry.into());
            }
            let mut pin = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut pin)
                .context("cannot read the PIN from standard input")?;
            let pin = pin.trim_end_matches(['\r', '\n']);
            if pin.is_empty() {
                bail!(
                    "no PIN on standard input: pipe it in, e.g. `kiosk officer add --badge B-1 < pin.txt`"
                );
            }
            let role = match role {
                RoleArg::Officer => Role::Officer,
                RoleArg::Supervisor => Role::Supervisor,
                RoleArg::Technician => Role::Technician,
            };
            list.add(&badge, role, pin, keys::random_bytes::<16>()?)?;
            list.save()?;
            writeln!(
                stdout,
                "badge {badge} added as {role:?} to {}",
                list.path().display()
            )?;
        }
        OfficerCommand::Disable { badge } => {
            list.disable(&badge)?;
            list.save()?;
            writeln!(stdout, "badge {badge} disabled")?;
        }
        OfficerCommand::List { json } => {
            let rows: Vec<serde_json::Value> = list
                .entries()
                .iter()
                .map(|e| serde_json::json!({ "badge": e.badge, "role": e.role, "disabled": e.disabled }))
                .collect();
            if json {
                writeln!(stdout, "{}", serde_json::Value::Array(rows))?;
            } else {
                if list.is_roster() {
                    writeln!(stdout, "(the registry's roster, as of the last sync)")?;
                }
                for entry in list.entries() {
                    writeln!(
                        stdout,
                        "{:<32} {:<10} {}",
                        entry.badge,
                        format!("{:?}", entry.role).to_lowercase(),
                        if entry.disabled { "disabled" } else { "active" }
                    )?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
