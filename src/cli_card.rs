//! The `kiosk card …` commands (binary-private): `read`, `readers` (`emulate` is `cli_emulate`).
//! Parses their arguments, calls the library's readers, and prints for the operator. It holds no
//! protocol logic. Human output may show the card's personal data (it is the operator's own read);
//! logs never do.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::Subcommand;

use enroll_core::domain::document::{DocumentKind, Identity, Photo, UndecodedFormat, Validity};
use enroll_devices::card::sam_serial::{DEFAULT_BAUD, SamReaderOptions, SamSerialReader};
use enroll_devices::card::wlt::WltDecoder;

/// `kiosk card …`
#[derive(Subcommand)]
pub enum CardCommand {
    /// Run a card reader emulator (for tests and demos)
    #[cfg(feature = "demo")]
    #[command(subcommand)]
    Emulate(crate::cli_emulate::EmulateCommand),
    /// Read the card on a reader and print it
    Read {
        /// The reader: `sam:PATH` (a SAM serial reader, e.g. sam:/dev/ttyUSB0), `pcsc` (the first
        /// PC/SC reader) or `pcsc:NAME` (a PC/SC reader whose name contains NAME)
        #[arg(long, value_name = "READER")]
        reader: String,
        /// ICAO chips: the access key from the MRZ, "DOC,YYMMDD,YYMMDD" (document number, birth
        /// date, expiry)
        #[arg(long, value_name = "DOC,YYMMDD,YYMMDD", conflicts_with = "can")]
        mrz: Option<String>,
        /// ICAO chips: the card access number (PACE)
        #[arg(long, value_name = "N", conflicts_with = "mrz_scanner")]
        can: Option<String>,
        /// ICAO chips: take the access key from an MRZ line scanner on this serial port (waits
        /// for the data page to be scanned)
        #[arg(long, value_name = "PATH", conflicts_with = "mrz")]
        mrz_scanner: Option<PathBuf>,
        /// Line speed of the MRZ scanner, bits per second
        #[arg(long, default_value_t = 9600, value_name = "BAUD")]
        scanner_baud: u32,
        /// How long to wait for a scan
        #[arg(long, default_value_t = 60, value_name = "S")]
        scan_timeout_s: u64,
        /// ICAO chips: directory of trusted CSCA certificates for passive authentication
        /// [default: the configuration's card_reader.csca_dir when its backend is pcsc]
        #[arg(long, value_name = "DIR")]
        csca_dir: Option<PathBuf>,
        /// Line speed of a SAM reader, bits per second
        #[arg(long, default_value_t = DEFAULT_BAUD)]
        baud: u32,
        /// Read the fingerprint templates too (SAM `30 10`)
        #[arg(long)]
        fingerprint: bool,
        /// Print the read as JSON (the `CardRead` format)
        #[arg(long)]
        json: bool,
        /// A helper that turns WLT photos into BMP (`helper < in.wlt > out.bmp`)
        #[arg(long, value_name = "PATH")]
        wlt_decoder: Option<PathBuf>,
        /// How long the WLT helper may run
        #[arg(long, default_value_t = 3000, value_name = "MS")]
        wlt_timeout_ms: u64,
    },
    /// List the card readers this machine has
    Readers,
}

/// Runs a `kiosk card …` command.
pub fn run(command: CardCommand, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    match command {
        #[cfg(feature = "demo")]
        CardCommand::Emulate(command) => crate::cli_emulate::run(command),
        CardCommand::Read {
            reader,
            mrz,
            can,
            mrz_scanner,
            scanner_baud,
            scan_timeout_s,
            csca_dir,
            json,
            ..
        } if reader == "pcsc" || reader.starts_with("pcsc:") => {
            let key = match (mrz, can, mrz_scanner) {
                (Some(mrz), _, _) => crate::cli_pcsc::KeySource::Typed(mrz),
                (None, Some(can), _) => crate::cli_pcsc::KeySource::Can(can),
                (None, None, Some(port)) => crate::cli_pcsc::KeySource::Scanner {
                    port,
                    baud: scanner_baud,
                    timeout: Duration::from_secs(scan_timeout_s),
                },
                (None, None, None) => bail!(
                    "an ICAO chip needs an access key: --mrz DOC,YYMMDD,YYMMDD, --can N or \
                     --mrz-scanner PATH"
                ),
            };
            crate::cli_pcsc::read_command(&reader, key, csca_dir, json, config_path)
        }
        CardCommand::Read { mrz: Some(_), .. }
        | CardCommand::Read { can: Some(_), .. }
        | CardCommand::Read {
            mrz_scanner: Some(_),
            ..
        } => {
            bail!(
                "--mrz, --can and --mrz-scanner unlock ICAO chips; a SAM reader needs none of \
                 them (drop them)"
            )
        }
        CardCommand::Read {
            reader,
            baud,
            fingerprint,
            json,
            wlt_decoder,
            wlt_timeout_ms,
            ..
        } => {
            let wlt_decoder = match wlt_decoder {
                Some(path) => WltDecoder::ExternalCommand {
                    path,
                    timeout: Duration::from_millis(wlt_timeout_ms),
                },
                None => WltDecoder::None,
            };
            read(&reader, baud, fingerprint, json, wlt_decoder)
        }
        CardCommand::Readers => readers(),
    }
}

fn read(
    reader: &str,
    baud: u32,
    fingerprint: bool,
    json: bool,
    wlt_decoder: WltDecoder,
) -> anyhow::Result<ExitCode> {
    let Some(path) = reader.strip_prefix("sam:") else {
        bail!(
            "unknown reader {reader:?}; name a SAM serial reader as sam:PATH (e.g. \
             sam:/dev/ttyUSB0), see `kiosk card readers`"
        );
    };
    let options = SamReaderOptions {
        fingerprint,
        wlt_decoder,
        ..SamReaderOptions::default()
    };
    let mut reader = SamSerialReader::open_serial(path, baud, options)
        .map_err(|error| anyhow::anyhow!("{error} [{:?}]", error.kind()))?;
    let read = reader.read_sam().map_err(|error| {
        anyhow::anyhow!("could not read the card: {error} [{:?}]", error.kind())
    })?;
    let mut stdout = std::io::stdout();
    if json {
        writeln!(stdout, "{}", serde_json::to_string_pretty(&read.card_read)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    print_identity(&mut stdout, &read.card_read.identity)?;
    if let Some(len) = read.fingerprint_len {
        writeln!(
            stdout,
            "fingerprints:  {len} bytes ({} templates)",
            len / 512
        )?;
    }
    match &read.card_read.verification {
        enroll_core::domain::card_read::Verification::Sam { sam_id } => {
            writeln!(stdout, "verification:  SAM {sam_id}")?;
        }
        other => writeln!(stdout, "verification:  {other:?}")?,
    }
    writeln!(stdout, "reader:        {}", read.card_read.reader)?;
    Ok(ExitCode::SUCCESS)
}

fn kind_text(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::CnResident => "resident identity card",
        DocumentKind::CnHmtResidence => "HK/Macao/Taiwan residence permit",
        DocumentKind::CnForeignPermanent2017 => "foreigner's permanent residence card (2017)",
        DocumentKind::CnForeignPermanent2023 => "foreigner's permanent residence card (2023)",
        DocumentKind::IcaoTd3 => "ICAO TD3 passport",
        DocumentKind::IcaoTd2 => "ICAO TD2 document",
        DocumentKind::IcaoTd1 => "ICAO TD1 card",
    }
}

fn print_identity(out: &mut impl Write, identity: &Identity) -> std::io::Result<()> {
    writeln!(out, "kind:          {}", kind_text(identity.kind))?;
    writeln!(out, "number:        {}", identity.document_number)?;
    writeln!(out, "name:          {}", identity.name)?;
    if let Some(latin) = &identity.name_latin {
        writeln!(out, "latin name:    {latin}")?;
    }
    writeln!(out, "sex:           {:?}", identity.sex)?;
    writeln!(out, "birth date:    {}", identity.birth)?;
    if let Some(nation) = identity.nation {
        writeln!(
            out,
            "nation:        {} {}",
            nation.code_text(),
            nation.name_zh().unwrap_or("")
        )?;
    }
    if let Some(nationality) = &identity.nationality {
        writeln!(out, "nationality:   {nationality}")?;
    }
    if let Some(address) = &identity.address {
        writeln!(out, "address:       {address}")?;
    }
    let from = identity
        .valid_from
        .map_or_else(|| "?".to_owned(), |d| d.to_string());
    let to = match identity.valid_to {
        Validity::LongTerm => "long-term (长期)".to_owned(),
        Validity::Until(date) => date.to_string(),
    };
    writeln!(out, "validity:      {from} to {to}")?;
    if let Some(issuer) = &identity.issuing_authority {
        writeln!(out, "issuer:        {issuer}")?;
    }
    let photo = match &identity.photo {
        Photo::Undecoded {
            format: UndecodedFormat::Wlt,
            bytes,
        } => format!(
            "WLT, {} bytes (photo not decodable on this terminal)",
            bytes.len()
        ),
        Photo::Bmp(bytes) => format!("BMP, {} bytes (decoded by the WLT helper)", bytes.len()),
        other => format!("{other:?}"),
    };
    writeln!(out, "photo:         {photo}")
}

fn readers() -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout();
    writeln!(stdout, "serial ports (SAM readers, use --reader sam:PATH):")?;
    match serialport::available_ports() {
        Ok(ports) if ports.is_empty() => writeln!(stdout, "  (none found)")?,
        Ok(ports) => {
            for port in ports {
                let kind = match port.port_type {
                    serialport::SerialPortType::UsbPort(usb) => {
                        format!("usb {:04x}:{:04x}", usb.vid, usb.pid)
                    }
                    serialport::SerialPortType::PciPort => "pci".to_owned(),
                    serialport::SerialPortType::BluetoothPort => "bluetooth".to_owned(),
                    serialport::SerialPortType::Unknown => "unknown".to_owned(),
                };
                writeln!(stdout, "  {}  ({kind})", port.port_name)?;
            }
        }
        Err(error) => writeln!(stdout, "  cannot list serial ports: {error}")?,
    }
    crate::cli_pcsc::list_pcsc_readers(&mut stdout)?;
    Ok(ExitCode::SUCCESS)
}
