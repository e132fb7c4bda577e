//! The PC/SC half of `kiosk card …` (binary-private): `read --reader pcsc[:NAME]`, `readers`'
//! PC/SC listing and `emulate passport`. Parses arguments, calls the library's PC/SC reader and
//! virtual passport, and prints for the operator. No protocol logic. Human output may show the
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
use enroll_crypto::pace::PaceCurve;
use enroll_devices::card::CardReader;
use enroll_devices::card::mrz_scanner::MrzScanner;
use enroll_devices::card::pcsc_icao::{self, PcscIcaoReader};
use enroll_kiosk::config::{CardReaderConfig, Config};
use enroll_sim::sod_issuer::TestPki;
use enroll_sim::vpcd_passport::{
    PassportFault, PassportFiles, SPECIMEN_MRZ, VPCD_PORT_SLOT_0, VPCD_PORT_SLOT_1, VirtualPassport,
};

/// A tiny synthetic face (a gradient and an ellipse, no real person) for the virtual passport.
const SAMPLE_FACE_JPEG: &[u8] = include_bytes!("../tests/fixtures/face-48x64.jpg");

/// `kiosk card emulate passport` arguments.
#[derive(clap::Args)]
pub struct PassportArgs {
    /// The vpcd slot: 0 (`Virtual PCD 00 00`, TCP 35963) or 1 (`Virtual PCD 00 01`, 35964)
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
    slot: u8,
    /// Inject a fault: wrong-mrz, broken-mac, short-reads, short-reads-6c, `pulled[:N]`,
    /// tampered-dg2
    #[arg(long, value_name = "NAME")]
    fault: Option<String>,
    /// Write the throw-away CSCA certificate (DER, public) here, for `read --csca-dir`
    #[arg(long, value_name = "FILE")]
    csca_out: Option<PathBuf>,
    /// The face image for DG2, JPEG or JPEG 2000 [default: a tiny built-in synthetic face]
    #[arg(long, value_name = "FILE")]
    face: Option<PathBuf>,
    /// Also offer PACE on this curve: brainpool (brainpoolP256r1) or secp256r1
    #[arg(long, value_name = "CURVE")]
    pace: Option<String>,
    /// The card access number accepted by PACE
    #[arg(long, value_name = "N", requires = "pace")]
    can: Option<String>,
}

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

/// `kiosk card emulate passport`.
pub fn emulate_passport_command(args: PassportArgs) -> anyhow::Result<ExitCode> {
    let PassportArgs {
        slot,
        fault,
        csca_out,
        face,
        pace,
        can,
    } = args;
    let pace = match pace.as_deref() {
        None => None,
        Some("brainpool" | "brainpoolP256r1") => Some(PaceCurve::BrainpoolP256r1),
        Some("secp256r1" | "p256") => Some(PaceCurve::Secp256r1),
        Some(other) => bail!("unknown PACE curve {other:?}; use brainpool or secp256r1"),
    };
    emulate_passport(
        slot,
        fault.as_deref(),
        csca_out,
        face,
        pace.map(|c| (c, can)),
    )
}

/// The configured CSCA directory, when the configuration loads and its reader is PC/SC.
fn configured_csca_dir(config_path: Option<PathBuf>) -> Option<PathBuf> {
    let path = Config::resolve_path(config_path.as_deref());
    match Config::load(&path).ok()?.card_reader {
        CardReaderConfig::Pcsc { csca_dir, .. } => csca_dir,
        _ => None,
    }
}

/// Unix seconds now: the binary is the edge where the clock is read.
#[allow(clippy::disallowed_methods)] // the binary's edge reads the clock and passes it in
pub fn unix_now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
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
    let mut reader = PcscIcaoReader::new(reader_name, csca, Box::new(unix_now_s));
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

fn emulate_passport(
    slot: u8,
    fault: Option<&str>,
    csca_out: Option<PathBuf>,
    face: Option<PathBuf>,
    pace: Option<(PaceCurve, Option<String>)>,
) -> anyhow::Result<ExitCode> {
    let face = match face {
        Some(path) => {
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            match enroll_core::domain::icao_lds::classify_image(bytes) {
                photo @ (Photo::Jpeg(_) | Photo::Jpeg2000(_)) => photo,
                _ => bail!("{} is neither JPEG nor JPEG 2000", path.display()),
            }
        }
        None => Photo::Jpeg(SAMPLE_FACE_JPEG.to_vec()),
    };
    let (fault, tamper_dg2) = match fault {
        None => (PassportFault::None, false),
        Some("tampered-dg2") => (PassportFault::None, true),
        Some(name) => (
            PassportFault::parse(name).with_context(|| {
                format!("unknown fault {name:?}; known: wrong-mrz, broken-mac, short-reads, short-reads-6c, pulled[:N], tampered-dg2")
            })?,
            false,
        ),
    };
    let pki = TestPki::utopia(unix_now_s()).context("cannot generate the test PKI")?;
    if let Some(path) = &csca_out {
        std::fs::write(path, &pki.csca.certificate_der)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let files = PassportFiles::build(SPECIMEN_MRZ, face, &pki, tamper_dg2)?;
    let key = MrzAccessKey::parse_typed("L898902C,740812,341231")?;
    let port = if slot == 0 {
        VPCD_PORT_SLOT_0
    } else {
        VPCD_PORT_SLOT_1
    };
    let mut passport = VirtualPassport::new(files, &key, fault);
    if let Some((curve, can)) = pace {
        passport = passport.with_pace(curve, can);
    }
    let card = passport
        .insert(&format!("127.0.0.1:{port}"))
        .with_context(|| {
            format!(
                "cannot reach vpcd on 127.0.0.1:{port}; start pcscd with vsmartcard-vpcd installed"
            )
        })?;
    writeln!(
        std::io::stderr(),
        "virtual passport in slot {slot} (Virtual PCD 00 0{slot}); read it with --mrz L898902C,740812,341231; Ctrl-C removes it"
    )?;
    card.wait()?;
    Ok(ExitCode::SUCCESS)
}
