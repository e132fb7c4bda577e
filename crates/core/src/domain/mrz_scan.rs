//! Turns the byte stream of a serial MRZ line scanner into parsed MRZs. Pure: it owns the line
//! framing and the choice of which lines form one zone; it does not open ports or keep time.
//!
//! Desktop MRZ readers (OCR swipe and full-page readers in "serial keyboard" mode) send each MRZ
//! line as ASCII followed by CR, LF or CR LF; many wrap a whole scan in STX (0x02) … ETX (0x03)
//! and some send a blank line between scans. The assembler accepts all of these: it keeps the
//! last lines of MRZ characters and, at every line end, tries the shapes TD3 (2 × 44), TD2 (2 × 36)
//! and TD1 (3 × 30). A complete zone whose check digits fail is reported once, so the officer can
//! rescan or type the data; lines of other text (a reader's banner, noise) are dropped.

use super::mrz::{Mrz, MrzError};

/// Longest line kept; anything longer is noise, not an MRZ line.
const MAX_LINE_CHARS: usize = 64;

/// What one scan produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MrzScan {
    /// A zone whose check digits all hold.
    Read(Box<Mrz>),
    /// A zone of the right shape that failed its checks (a smudged or misread scan).
    Unreadable(MrzError),
}

/// Incremental assembler: feed it bytes as they arrive.
#[derive(Debug, Default)]
pub struct MrzLineAssembler {
    current: String,
    current_overflowed: bool,
    lines: Vec<String>,
}

impl MrzLineAssembler {
    /// An empty assembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes bytes; returns every scan completed by them, oldest first.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<MrzScan> {
        let mut scans = Vec::new();
        for &byte in bytes {
            match byte {
                b'\r' | b'\n' | 0x03 => {
                    if let Some(scan) = self.end_line() {
                        scans.push(scan);
                    }
                }
                0x02 => {
                    // Start of a new scan: whatever came before belongs to no zone.
                    self.current.clear();
                    self.current_overflowed = false;
                    self.lines.clear();
                }
                b'0'..=b'9' | b'A'..=b'Z' | b'<' => {
                    if self.current.len() < MAX_LINE_CHARS {
                        self.current.push(char::from(byte));
                    } else {
                        self.current_overflowed = true;
                    }
                }
                b'a'..=b'z' | b' ' | b'\t' | b'-' | b'.' | b',' | b':' | b'/' => {
                    // Banner or keyboard-mode text: this line is not MRZ.
                    self.current_overflowed = true;
                }
                _ => self.current_overflowed = true,
            }
        }
        scans
    }

    fn end_line(&mut self) -> Option<MrzScan> {
        let line = std::mem::take(&mut self.current);
        let overflowed = std::mem::replace(&mut self.current_overflowed, false);
        if line.is_empty() && !overflowed {
            return None;
        }
        if overflowed || !matches!(line.len(), 30 | 36 | 44) {
            self.lines.clear();
            return None;
        }
        self.lines.push(line);
        if self.lines.len() > 3 {
            self.lines.remove(0);
        }
        self.try_zone()
    }

    /// Tries the last lines as a zone: 2 × 44, 2 × 36 or 3 × 30 of the same width.
    fn try_zone(&mut self) -> Option<MrzScan> {
        let width = self.lines.last()?.len();
        let needed = if width == 30 { 3 } else { 2 };
        let start = self.lines.len().checked_sub(needed)?;
        let zone = self.lines.get(start..)?;
        if zone.iter().any(|line| line.len() != width) {
            return None;
        }
        let text = zone.join("\n");
        self.lines.clear();
        Some(match Mrz::parse(&text) {
            Ok(mrz) => MrzScan::Read(Box::new(mrz)),
            Err(error) => MrzScan::Unreadable(error),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// ICAO 9303-4 Appendix A specimen (TD3), as a scanner sends it.
    const TD3_L1: &str = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<";
    const TD3_L2: &str = "L898902C36UTO7408122F1204159ZE184226B<<<<<10";
    /// ICAO 9303-5 Appendix A specimen (TD1).
    const TD1: [&str; 3] = [
        "I<UTOD231458907<<<<<<<<<<<<<<<",
        "7408122F1204159UTO<<<<<<<<<<<6",
        "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
    ];

    fn read_number(scan: &MrzScan) -> String {
        match scan {
            MrzScan::Read(mrz) => mrz.access_key().document_number().to_owned(),
            MrzScan::Unreadable(error) => panic!("unreadable: {error}"),
        }
    }

    #[test]
    fn a_td3_scan_with_cr_lf_line_ends_gives_one_zone() {
        let mut assembler = MrzLineAssembler::new();
        let scans = assembler.push(format!("{TD3_L1}\r\n{TD3_L2}\r\n").as_bytes());
        assert_eq!(scans.len(), 1);
        assert_eq!(read_number(&scans[0]), "L898902C3");
    }

    #[test]
    fn a_td1_scan_framed_by_stx_etx_and_split_across_reads_gives_one_zone() {
        let mut assembler = MrzLineAssembler::new();
        let bytes = format!("\x02{}\r{}\r{}\r\x03", TD1[0], TD1[1], TD1[2]);
        let mut scans = Vec::new();
        for chunk in bytes.as_bytes().chunks(7) {
            scans.extend(assembler.push(chunk));
        }
        assert_eq!(scans.len(), 1);
        assert_eq!(read_number(&scans[0]), "D23145890");
    }

    #[test]
    fn a_banner_and_noise_before_the_scan_are_ignored() {
        let mut assembler = MrzLineAssembler::new();
        let text = format!("MRZ reader v2.1 ready\r\n<<<<\r\n{TD3_L1}\r{TD3_L2}\r");
        let scans = assembler.push(text.as_bytes());
        assert_eq!(scans.len(), 1);
        assert_eq!(read_number(&scans[0]), "L898902C3");
    }

    #[test]
    fn a_misread_digit_is_reported_as_unreadable_once() {
        let mut assembler = MrzLineAssembler::new();
        let bad = TD3_L2.replacen("7408122", "7408123", 1);
        let scans = assembler.push(format!("{TD3_L1}\n{bad}\n").as_bytes());
        assert!(matches!(
            scans.as_slice(),
            [MrzScan::Unreadable(MrzError::CheckDigit { .. })]
        ));
        // The next, clean scan is read.
        let scans = assembler.push(format!("{TD3_L1}\n{TD3_L2}\n").as_bytes());
        assert_eq!(read_number(&scans[0]), "L898902C3");
    }

    #[test]
    fn two_scans_in_a_row_give_two_zones() {
        let mut assembler = MrzLineAssembler::new();
        let one = format!("{TD3_L1}\r\n{TD3_L2}\r\n");
        let scans = assembler.push(format!("{one}\r\n{one}").as_bytes());
        assert_eq!(scans.len(), 2);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_the_assembler(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut assembler = MrzLineAssembler::new();
            let _ = assembler.push(&bytes);
        }
    }
}
