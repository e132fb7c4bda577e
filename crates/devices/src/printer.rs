//! The receipt printer: a thermal ESC/POS printer on a serial port. It owns the ESC/POS bytes of
//! a receipt (text, QR codes as raster graphics, the cut), asking the printer for its paper
//! status, and the printer's failures as messages a person can act on. It does not decide what a
//! receipt says (the app does) and never blocks an enrollment: callers print on their own thread.
//!
//! The handful of ESC/POS commands used are written here (the `escpos` crate was considered; these
//! six commands did not justify its dependency tree in the kiosk build), byte for byte as in the
//! Epson ESC/POS reference: `ESC @`, `ESC a`, `GS !`, `GS v 0`, `ESC d`, `GS V 66` and
//! `DLE EOT 4`. `enroll_sim::printer_emulator` parses the same bytes back.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `ESC`.
pub const ESC: u8 = 0x1B;
/// `GS`.
pub const GS: u8 = 0x1D;
/// `DLE`.
pub const DLE: u8 = 0x10;
/// `EOT`.
pub const EOT: u8 = 0x04;
/// `DLE EOT 4`: transmit the paper roll sensor status (one byte back).
pub const PAPER_STATUS_REQUEST: [u8; 3] = [DLE, EOT, 4];
/// In the paper status byte: the roll's end is detected (bits 5 and 6).
pub const PAPER_END_BITS: u8 = 0x60;
/// In the paper status byte: the roll is nearly used up (bits 2 and 3).
pub const PAPER_NEAR_END_BITS: u8 = 0x0C;
/// The fixed bits of a real-time status byte (bit 1 and bit 4 set, bits 0 and 7 clear).
pub const STATUS_FIXED_BITS: u8 = 0x12;
/// How wide the printable area of an 80 mm printer is, in dots (203 dpi).
pub const PAPER_WIDTH_DOTS: u32 = 576;
/// How long the printer has to answer a status request.
const STATUS_TIMEOUT_MS: u64 = 800;
/// The size of one write: small enough that a printer without flow control keeps up.
const CHUNK_BYTES: usize = 256;

/// One piece of a receipt, top to bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceiptPart {
    /// A centred line in double size.
    Title(String),
    /// A line of text (ASCII; anything else prints as `?`).
    Text(String),
    /// A QR code of this text, centred, as a raster image.
    Qr(String),
    /// Empty space.
    Feed,
}

/// Why a receipt QR code cannot be drawn.
#[derive(Debug, thiserror::Error)]
#[error("the text does not fit a QR code: {0}")]
pub struct QrTooLong(String);

/// A QR code of `text` as rows of dots (`true` is black), `module_dots` dots a module, with the
/// 4-module quiet zone, error correction Q (it survives a smudged or folded receipt).
pub fn qr_dots(text: &str, module_dots: u32) -> Result<Vec<Vec<bool>>, QrTooLong> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::Q)
        .map_err(|e| QrTooLong(e.to_string()))?;
    let modules = code.width();
    let colours = code.to_colors();
    let scale = module_dots.max(1) as usize;
    let side = (modules + 8) * scale;
    Ok((0..side)
        .map(|y| {
            (0..side)
                .map(|x| {
                    let (mx, my) = ((x / scale).wrapping_sub(4), (y / scale).wrapping_sub(4));
                    mx < modules
                        && my < modules
                        && colours.get(my * modules + mx) == Some(&qrcode::Color::Dark)
                })
                .collect()
        })
        .collect())
}

/// `GS v 0`: a raster image, each row packed into bytes (most significant bit leftmost).
pub fn raster_command(rows: &[Vec<bool>]) -> Vec<u8> {
    let width_dots = rows.first().map_or(0, Vec::len);
    let width_bytes = width_dots.div_ceil(8);
    let height = rows.len();
    let [xl, xh] = u16::try_from(width_bytes).unwrap_or(u16::MAX).to_le_bytes();
    let [yl, yh] = u16::try_from(height).unwrap_or(u16::MAX).to_le_bytes();
    let mut bytes = vec![GS, b'v', b'0', 0, xl, xh, yl, yh];
    for row in rows {
        let mut packed = vec![0u8; width_bytes];
        for (x, _) in row.iter().enumerate().filter(|(_, black)| **black) {
            if let Some(byte) = packed.get_mut(x / 8) {
                *byte |= 0x80 >> (x % 8);
            }
        }
        bytes.extend_from_slice(&packed);
    }
    bytes
}

/// The ESC/POS bytes of a whole receipt: reset, the parts, a feed and a partial cut.
pub fn receipt_bytes(parts: &[ReceiptPart]) -> Result<Vec<u8>, QrTooLong> {
    let mut bytes = vec![ESC, b'@'];
    let ascii = |text: &str| -> Vec<u8> {
        text.chars()
            .map(|c| {
                if c.is_ascii() && !c.is_ascii_control() {
                    c as u8
                } else {
                    b'?'
                }
            })
            .collect()
    };
    for part in parts {
        match part {
            ReceiptPart::Title(text) => {
                bytes.extend_from_slice(&[ESC, b'a', 1, GS, b'!', 0x11]);
                bytes.extend(ascii(text));
                bytes.extend_from_slice(&[b'\n', GS, b'!', 0, ESC, b'a', 0]);
            }
            ReceiptPart::Text(text) => {
                bytes.extend(ascii(text));
                bytes.push(b'\n');
            }
            ReceiptPart::Qr(text) => {
                // As large as fits the paper, up to 6 dots a module.
                let modules = qr_dots(text, 1)?.len() as u32;
                let module_dots = (PAPER_WIDTH_DOTS / modules.max(1)).clamp(1, 6);
                bytes.extend_from_slice(&[ESC, b'a', 1]);
                bytes.extend(raster_command(&qr_dots(text, module_dots)?));
                bytes.extend_from_slice(&[b'\n', ESC, b'a', 0]);
            }
            ReceiptPart::Feed => bytes.push(b'\n'),
        }
    }
    bytes.extend_from_slice(&[ESC, b'd', 4, GS, b'V', 66, 0]);
    Ok(bytes)
}

/// What the printer said about its paper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaperStatus {
    /// Paper is loaded.
    Loaded,
    /// The roll is nearly used up (still prints).
    NearEnd,
}

/// Why a receipt was not printed. The messages name the device and what to do.
#[derive(Debug, thiserror::Error)]
pub enum PrinterError {
    /// The serial port cannot be opened (unplugged, wrong path, no permission).
    #[error(
        "the receipt printer at {path} cannot be opened ({detail}); check its cable and power, \
         and printer.port"
    )]
    NotConnected { path: PathBuf, detail: String },
    /// The port opened but the printer gives no status.
    #[error(
        "the receipt printer at {path} does not answer; check that it is switched on and that \
         printer.baud matches its setting"
    )]
    NotAnswering { path: PathBuf },
    /// The paper sensor reports the end of the roll.
    #[error("the receipt printer at {path} is out of paper; load a new roll")]
    OutOfPaper { path: PathBuf },
    /// The answer is not a status byte.
    #[error(
        "the receipt printer at {path} answered {byte:#04x}, not a status; is it an ESC/POS printer?"
    )]
    Garbled { path: PathBuf, byte: u8 },
    /// Printing started and stopped (cable pulled, power lost).
    #[error(
        "printing on {path} stopped: {detail}; check the printer, then reprint from the officer desk"
    )]
    Interrupted { path: PathBuf, detail: String },
    /// The receipt cannot be drawn.
    #[error(transparent)]
    Qr(#[from] QrTooLong),
}

/// An ESC/POS receipt printer on a serial port (8N1). Each call opens the port, so a printer
/// plugged in later is found without a restart.
#[derive(Clone, Debug)]
pub struct SerialReceiptPrinter {
    path: PathBuf,
    baud: u32,
}

impl SerialReceiptPrinter {
    /// The printer at `path`, at `baud`.
    pub fn new(path: impl Into<PathBuf>, baud: u32) -> SerialReceiptPrinter {
        SerialReceiptPrinter {
            path: path.into(),
            baud,
        }
    }

    /// The port.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open(&self) -> Result<serialport::TTYPort, PrinterError> {
        serialport::new(self.path.to_string_lossy(), self.baud)
            .timeout(Duration::from_millis(50))
            .open_native()
            .map_err(|error| PrinterError::NotConnected {
                path: self.path.clone(),
                detail: error.to_string(),
            })
    }

    /// Asks for the paper status (`DLE EOT 4`).
    pub fn status(&self) -> Result<PaperStatus, PrinterError> {
        let mut port = self.open()?;
        self.ask_status(&mut port)
    }

    fn ask_status(&self, port: &mut serialport::TTYPort) -> Result<PaperStatus, PrinterError> {
        let interrupted = |error: std::io::Error| PrinterError::Interrupted {
            path: self.path.clone(),
            detail: error.to_string(),
        };
        // Whatever an earlier job left unread is not this answer.
        let _ = serialport::SerialPort::clear(port, serialport::ClearBuffer::Input);
        port.write_all(&PAPER_STATUS_REQUEST).map_err(interrupted)?;
        port.flush().map_err(interrupted)?;
        let deadline = Instant::now() + Duration::from_millis(STATUS_TIMEOUT_MS);
        let mut byte = [0u8; 1];
        while Instant::now() < deadline {
            match port.read(&mut byte) {
                Ok(1) => return self.classify(byte[0]),
                Ok(_) => {}
                Err(error) if error.kind() == std::io::ErrorKind::TimedOut => {}
                Err(error) => return Err(interrupted(error)),
            }
        }
        Err(PrinterError::NotAnswering {
            path: self.path.clone(),
        })
    }

    fn classify(&self, byte: u8) -> Result<PaperStatus, PrinterError> {
        if byte & 0x93 != STATUS_FIXED_BITS {
            return Err(PrinterError::Garbled {
                path: self.path.clone(),
                byte,
            });
        }
        if byte & PAPER_END_BITS != 0 {
            Err(PrinterError::OutOfPaper {
                path: self.path.clone(),
            })
        } else if byte & PAPER_NEAR_END_BITS != 0 {
            Ok(PaperStatus::NearEnd)
        } else {
            Ok(PaperStatus::Loaded)
        }
    }

    /// Prints `parts`: checks the paper first, sends the job in small pieces, then asks again, so
    /// a printer pulled or emptied during the job is reported rather than assumed to have printed.
    pub fn print(&self, parts: &[ReceiptPart]) -> Result<PaperStatus, PrinterError> {
        let bytes = receipt_bytes(parts)?;
        let mut port = self.open()?;
        self.ask_status(&mut port)?;
        for chunk in bytes.chunks(CHUNK_BYTES) {
            port.write_all(chunk)
                .and_then(|()| port.flush())
                .map_err(|error| PrinterError::Interrupted {
                    path: self.path.clone(),
                    detail: error.to_string(),
                })?;
        }
        self.ask_status(&mut port).map_err(|error| match error {
            PrinterError::NotAnswering { path } => PrinterError::Interrupted {
                path,
                detail: "the printer stopped answering during the job".into(),
            },
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_starts_with_a_reset_and_ends_with_a_feed_and_a_cut() {
        let bytes = receipt_bytes(&[ReceiptPart::Text("REF 1".into())]).unwrap_or_default();
        assert_eq!(bytes.get(..2), Some(&[ESC, b'@'][..]));
        assert!(bytes.ends_with(&[ESC, b'd', 4, GS, b'V', 66, 0]));
        assert!(bytes.windows(6).any(|w| w == b"REF 1\n"));
    }

    #[test]
    fn a_qr_raster_packs_eight_dots_a_byte_with_the_leftmost_in_the_high_bit() {
        let rows = vec![vec![
            true, false, false, false, false, false, false, false, true,
        ]];
        let bytes = raster_command(&rows);
        assert_eq!(bytes, vec![GS, b'v', b'0', 0, 2, 0, 1, 0, 0x80, 0x80]);
    }

    #[test]
    fn non_ascii_text_prints_as_question_marks_not_garbage() {
        let bytes = receipt_bytes(&[ReceiptPart::Text("A张B".into())]).unwrap_or_default();
        assert!(bytes.windows(4).any(|w| w == b"A?B\n"));
    }
}
