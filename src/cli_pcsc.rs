//! The PC/SC half of `kiosk card …` (binary-private): `read --reader pcsc[:NAME]` and `readers`'
//! PC/SC listing (`emulate passport` is `cli_emulate`). Parses arguments, calls the library's
//! PC/SC reader, and prints for the operator. No protocol logic. Human output may show the
//! card's personal data (it is the operator's own read); logs never do.
//!
//! Kept apart from the SAM commands (`cli_card.rs` on the SAM branch) so the two merge easily:
//! `list_pcsc_readers` has the signature the SAM branch's `readers` calls.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};

use enroll_core::domain::card_read::{AccessKey, CardRead, Verification};
use enroll_core::domain::document::Photo;
use enroll_core::domain::mrz::MrzAccessKey;
use enroll_devices::card::CardReader;
use enroll_devices::card::mrz_scanner::MrzScanner;
use enroll_devices::card::pcsc_icao::{self, PcscIcaoReader};
use enroll_kiosk::config::{CardReaderConfig, Config};

/// `kiosk card read --reader pcsc[:NAME]`; `config_path` is the global `--config`, if given.
/// Where the chip's access key comes from.
pub enum KeySource {
    /// Typed as DOC,YYMMDD,YYMMDD.
    Typed(String),
    /// A card access number (PACE).
    Can(String),
    /// An MRZ line scanner on a serial port.
    Scanner {
        port: PathBuf,
        baud: u32,
        timeout: Duration,
    },
}

pub fn read_command(
    reader: &str,
    key: KeySource,
    csca_dir: Option<PathBuf>,
    json: bool,
    config_path: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let csca_dir = csca_dir.or_else(|| configured_csca_dir(config_path));
    read(reader, key, csca_dir, json)
}

fn access_key(source: KeySource) -> anyhow::Result<AccessKey> {
    Ok(match source {
        KeySource::Typed(mrz) => AccessKey::Mrz(
            MrzAccessKey::parse_typed(&mrz).context("--mrz must be DOC,YYMMDD,YYMMDD")?,
        ),
        KeySource::Can(can) => AccessKey::Can(can),
        KeySource::Scanner {
            port,
            baud,
            timeout,
        } => {
            let mut scanner = MrzScanner::open(port, baud)?;
            let mut stderr = std::io::stderr();
            writeln!(
                stderr,
                "scan the document's data page on {}",
                scanner.path().display()
            )?;
            AccessKey::Mrz(scanner.next_mrz(timeout)?.access_key())
        }
    })
}

/// The configured CSCA directory, when the configuration loads and its reader is PC/SC.
fn configured_csca_dir(config_path: Option<PathBuf>) -> Option<PathBuf> {
    let path = Config::resolve_path(config_path.as_deref());
    match Config::load(&path).ok()?.card_reader {
        CardReaderConfig::Pcsc { csca_dir, .. } => csca_dir,
        _ => None,
    }
}

/// Prints the PC/SC readers pcscd knows, or why there are none.
pub fn list_pcsc_readers(out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "PC/SC readers (ICAO documents, use --reader pcsc:NAME):"
    )?;
    match pcsc_icao::list_readers() {
        Ok(names) if names.is_empty() => writeln!(out, "  (none found)"),
        Ok(names) => {
            for name in names {
                writeln!(out, "  {name}")?;
            }
            Ok(())
        }
        Err(error) => writeln!(out, "  cannot list PC/SC readers: {error}"),
    }
}

fn read(
    reader_spec: &str,
    key: KeySource,
    csca_dir: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let reader_name = match reader_spec.split_once(':') {
        None if reader_spec == "pcsc" => None,
        Some(("pcsc", name)) if !name.is_empty() => Some(name.to_owned()),
        _ => bail!(
            "unknown reader {reader_spec:?}; use pcsc or pcsc:NAME (see `kiosk card readers`)"
        ),
    };
    let key = access_key(key)?;
    let csca = match &csca_dir {
        Some(dir) => pcsc_icao::load_csca_dir(dir)?,
        None => Vec::new(),
    };
    let mut reader = PcscIcaoReader::new(reader_name, csca, Box::new(enroll_kiosk::clock::now));
    reader
        .wait_for_card(Duration::from_secs(10))
        .context("no card to read")?;
    let read = reader.read(&key)?;
    let mut stdout = std::io::stdout();
    if json {
        serde_json::to_writer_pretty(&mut stdout, &read)?;
        writeln!(stdout)?;
    } else {
        print_read(&mut stdout, &read)?;
    }
    Ok(match read.verification {
        Verification::PassiveAuthentication { passed: false, .. } => ExitCode::from(2),
        _ => ExitCode::SUCCESS,
    })
}

fn print_read(out: &mut impl Write, read: &CardRead) -> std::io::Result<()> {
    let identity = &read.identity;
    writeln!(out, "reader:           {}", read.reader)?;
    writeln!(out, "name:             {}", identity.name)?;
    writeln!(out, "document number:  {}", identity.document_number)?;
    writeln!(
        out,
        "nationality:      {}",
        identity.nationality.as_deref().unwrap_or("-")
    )?;
    writeln!(out, "birth:            {}", identity.birth)?;
    let photo = match &identity.photo {
        Photo::Jpeg(bytes) => format!("JPEG, {} bytes", bytes.len()),
        Photo::Jpeg2000(bytes) => format!("JPEG 2000, {} bytes", bytes.len()),
        Photo::Bmp(bytes) => format!("BMP, {} bytes", bytes.len()),
        Photo::Undecoded { bytes, .. } => format!("undecoded, {} bytes", bytes.len()),
        Photo::Absent => "absent".to_owned(),
    };
    writeln!(out, "photo:            {photo}")?;
    let verification = match &read.verification {
        Verification::PassiveAuthentication {
            passed: true,
            csca_subject,
            ..
        } => format!(
            "passive authentication passed ({})",
            csca_subject.as_deref().unwrap_or("?")
        ),
        Verification::PassiveAuthentication { failure, .. } => format!(
            "passive authentication FAILED: {}",
            failure.as_deref().unwrap_or("?")
        ),
        Verification::NotVerified { reason } => format!("not verified: {reason}"),
        Verification::Sam { sam_id } => format!("SAM {sam_id}"),
    };
    writeln!(out, "verification:     {verification}")
}
