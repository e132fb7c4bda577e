//! `kiosk card emulate …` (binary-private, demo builds only): the SAM reader, virtual passport and
//! MRZ scanner emulators of `enroll_sim` on a pseudo-terminal or a vpcd slot, for tests, demos and
//! training. Parses arguments, starts the emulator, waits for Ctrl-C. No protocol logic; a
//! production kiosk (without the `demo` feature) has no such command.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Subcommand;

use enroll_core::domain::document::Photo;
use enroll_core::domain::mrz::MrzAccessKey;
use enroll_crypto::pace::PaceCurve;
use enroll_sim::mrz_scanner_emulator::MrzScannerEmulator;
use enroll_sim::sam_emulator::{EmulatedCard, EmulatorTiming, SamEmulator, SamFault, SampleCard};
use enroll_sim::sod_issuer::TestPki;
use enroll_sim::vpcd_passport::{
    PassportFault, PassportFiles, SPECIMEN_MRZ, VPCD_PORT_SLOT_0, VPCD_PORT_SLOT_1, VirtualPassport,
};

/// A tiny synthetic face (a gradient and an ellipse, no real person) for the virtual passport.
const SAMPLE_FACE_JPEG: &[u8] = include_bytes!("../tests/fixtures/face-48x64.jpg");

/// `kiosk card emulate …`
#[derive(Subcommand)]
pub enum EmulateCommand {
    /// A resident-ID SAM reader on a pseudo-terminal; runs until Ctrl-C or SIGTERM
    Sam {
        /// Where to link the emulated serial port (a symlink to the pty)
        #[arg(long, value_name = "PATH")]
        link: PathBuf,
        /// The card in the field: a card file (TOML), or sample:NAME with NAME one of resident,
        /// hmt, foreign-2017, foreign-2023 [default: sample:resident]
        #[arg(long, value_name = "FILE")]
        card: Option<String>,
        /// Start with no card in the field
        #[arg(long, conflicts_with = "card")]
        no_card: bool,
        /// Inject a fault: sw3-XX (hex status), bad-checksum, wrong-len, garbage, split-writes,
        /// pull-mid-frame
        #[arg(long, value_name = "NAME")]
        fault: Option<String>,
        /// Simulated card time of a read
        #[arg(long, default_value_t = EmulatorTiming::default().read_ms, value_name = "MS")]
        read_ms: u64,
        /// Lift and place the card again after every read, so reads can repeat (benchmarks)
        #[arg(long)]
        auto_replace: bool,
    },
    /// A virtual ICAO passport (specimen ERIKSSON ANNA MARIA, L898902C, 740812, 341231) in a
    /// vsmartcard vpcd slot of the local pcscd; runs until Ctrl-C or until pcscd closes the slot
    Passport(PassportArgs),
    /// An MRZ line scanner on a pseudo-terminal: after --delay-ms it sends one scan of the
    /// specimen passport (or of --line …), then waits until Ctrl-C or SIGTERM
    MrzScanner {
        /// Where to link the emulated serial port (a symlink to the pty)
        #[arg(long, value_name = "PATH")]
        link: PathBuf,
        /// One MRZ line; give it two or three times [default: the virtual passport's MRZ,
        /// L898902C, 740812, 341231]
        #[arg(long = "line", value_name = "TEXT")]
        lines: Vec<String>,
        /// Wait this long before the scan
        #[arg(long, default_value_t = 500, value_name = "MS")]
        delay_ms: u64,
    },
}

/// Runs a `kiosk card emulate …` command.
pub fn run(command: EmulateCommand) -> anyhow::Result<ExitCode> {
    match command {
        EmulateCommand::Sam {
            link,
            card,
            no_card,
            fault,
            read_ms,
            auto_replace,
        } => emulate_sam(link, card, no_card, fault, read_ms, auto_replace),
        EmulateCommand::Passport(args) => emulate_passport_command(args),
        EmulateCommand::MrzScanner {
            link,
            lines,
            delay_ms,
        } => emulate_mrz_scanner(link, lines, delay_ms),
    }
}

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

/// `kiosk card emulate passport`.
fn emulate_passport_command(args: PassportArgs) -> anyhow::Result<ExitCode> {
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

fn load_card(spec: Option<&str>) -> anyhow::Result<EmulatedCard> {
    let spec = spec.unwrap_or("sample:resident");
    if let Some(name) = spec.strip_prefix("sample:") {
        let Some(sample) = SampleCard::from_cli_name(name) else {
            let known: Vec<&str> = SampleCard::ALL.iter().map(|s| s.cli_name()).collect();
            bail!(
                "unknown sample card {name:?}; known samples: {}",
                known.join(", ")
            );
        };
        return Ok(sample.card());
    }
    let text = std::fs::read_to_string(spec)
        .with_context(|| format!("cannot read the card file {spec}"))?;
    EmulatedCard::from_toml(&text).with_context(|| format!("{spec} is not a valid card file"))
}

fn emulate_mrz_scanner(
    link: PathBuf,
    lines: Vec<String>,
    delay_ms: u64,
) -> anyhow::Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("cannot install the Ctrl-C / SIGTERM handler")?;
    }
    let scanner = MrzScannerEmulator::start(&link).with_context(|| {
        format!(
            "cannot start the MRZ scanner emulator at {}",
            link.display()
        )
    })?;
    let mut stdout = std::io::stdout();
    writeln!(
        stdout,
        "mrz scanner emulator at {} (Ctrl-C to stop)",
        link.display()
    )?;
    stdout.flush()?;
    let started = std::time::Instant::now();
    let mut sent = false;
    while !stop.load(Ordering::SeqCst) {
        if !sent && started.elapsed() >= Duration::from_millis(delay_ms) {
            let scan: Vec<&str> = if lines.is_empty() {
                // The virtual passport's MRZ (`kiosk card emulate passport`), as 2 x 44.
                let (first, second) = SPECIMEN_MRZ.split_at(SPECIMEN_MRZ.len() / 2);
                vec![first, second]
            } else {
                lines.iter().map(String::as_str).collect()
            };
            scanner.scan(&scan).context("cannot send the scan")?;
            sent = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    scanner.unplug();
    Ok(ExitCode::SUCCESS)
}

fn emulate_sam(
    link: PathBuf,
    card: Option<String>,
    no_card: bool,
    fault: Option<String>,
    read_ms: u64,
    auto_replace: bool,
) -> anyhow::Result<ExitCode> {
    let card = if no_card {
        None
    } else {
        Some(load_card(card.as_deref())?)
    };
    let fault = fault
        .map(|name| name.parse::<SamFault>())
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("cannot install the Ctrl-C / SIGTERM handler")?;
    }
    let timing = EmulatorTiming {
        read_ms,
        ..EmulatorTiming::default()
    };
    let emulator = SamEmulator::start(&link, card, timing)
        .with_context(|| format!("cannot start the SAM emulator at {}", link.display()))?;
    emulator.set_fault(fault);
    emulator.set_auto_replace(auto_replace);
    let mut stdout = std::io::stdout();
    writeln!(
        stdout,
        "sam reader emulator at {} (Ctrl-C to stop)",
        link.display()
    )?;
    stdout.flush()?;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let reads = emulator.reads_served();
    emulator.stop();
    // Best effort: whoever started us may have closed our stdout already.
    let _ = writeln!(stdout, "stopped after {reads} reads");
    Ok(ExitCode::SUCCESS)
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
    let pki = TestPki::utopia(enroll_kiosk::clock::now().secs())
        .context("cannot generate the test PKI")?;
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
