//! The `registry` command line: the central registry that terminals sync to. Thin: it parses
//! arguments and calls the library. So far it makes the registry's keys; the server arrives with
//! the sync issue.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use enroll_kiosk::crypto::records::{SealingPrivateKey, TerminalSigningKey};
use enroll_kiosk::keys;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen { out } => keygen(&out),
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
