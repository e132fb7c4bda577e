//! A pseudo-terminal that behaves like a thermal ESC/POS receipt printer, for tests and demos: a
//! thread reads what the kiosk sends, parses the ESC/POS stream into printed pages (text lines and
//! raster images, ended by a cut), and answers paper status requests. It can run out of paper or
//! be unplugged, also part-way through a job. It owns no receipt content (that is the app's).

use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use enroll_devices::printer::{DLE, EOT, ESC, GS, PAPER_END_BITS, STATUS_FIXED_BITS};

use crate::sam_emulator::{Pty, create_pty, remove_link};

/// A raster image as printed: `width_dots` × `rows.len()`, `true` is black.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Raster {
    pub width_dots: usize,
    pub rows: Vec<Vec<bool>>,
}

impl Raster {
    /// The image as grey pixels (black dots 0, paper 255), for a QR decoder.
    pub fn to_luma(&self) -> image::GrayImage {
        let height = self.rows.len() as u32;
        image::GrayImage::from_fn(self.width_dots as u32, height, |x, y| {
            let black = self
                .rows
                .get(y as usize)
                .and_then(|row| row.get(x as usize))
                .copied()
                .unwrap_or(false);
            image::Luma([if black { 0 } else { 255 }])
        })
    }
}

/// One receipt: what was printed up to a cut.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// The text lines, in order.
    pub lines: Vec<String>,
    /// The raster images, in order.
    pub images: Vec<Raster>,
}

/// What the emulator's thread shares with its handle.
#[derive(Default)]
struct Shared {
    /// Pages ended by a cut.
    cut: Mutex<Vec<Page>>,
    /// Commands it did not know (as hex), for tests to assert none.
    unknown: Mutex<Vec<String>>,
    out_of_paper: AtomicBool,
    /// Unplug after this many more bytes of a job (0: never).
    unplug_after_bytes: AtomicUsize,
    stop: AtomicBool,
    /// Called with each page as it is cut (its number from 1).
    on_cut: Mutex<Option<PageSink>>,
}

/// What [`PrinterEmulator::on_cut`] calls.
type PageSink = Box<dyn FnMut(usize, &Page) + Send>;

/// A running printer emulator. Dropping it stops the thread and removes the link.
pub struct PrinterEmulator {
    link: PathBuf,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PrinterEmulator {
    /// Creates the pty, links its device at `link` and starts the `printer-emulator` thread.
    pub fn start(link: impl Into<PathBuf>) -> io::Result<PrinterEmulator> {
        let link = link.into();
        let pty = create_pty(&link)?;
        let shared = Arc::new(Shared::default());
        let thread = {
            let shared = Arc::clone(&shared);
            let link = link.clone();
            std::thread::Builder::new()
                .name("printer-emulator".into())
                .spawn(move || run(pty, &shared, &link))?
        };
        Ok(PrinterEmulator {
            link,
            shared,
            thread: Some(thread),
        })
    }

    /// The path the emulated printer is linked at.
    pub fn link(&self) -> &Path {
        &self.link
    }

    /// The receipts printed and cut so far.
    pub fn pages(&self) -> Vec<Page> {
        self.shared
            .cut
            .lock()
            .map(|pages| pages.clone())
            .unwrap_or_default()
    }

    /// Commands the emulator did not recognise (hex), in order.
    pub fn unknown_commands(&self) -> Vec<String> {
        self.shared
            .unknown
            .lock()
            .map(|unknown| unknown.clone())
            .unwrap_or_default()
    }

    /// Calls `sink` with each page as it is cut, numbered from 1 (the demo keeps them as files).
    pub fn on_cut(&self, sink: impl FnMut(usize, &Page) + Send + 'static) {
        if let Ok(mut slot) = self.shared.on_cut.lock() {
            *slot = Some(Box::new(sink));
        }
    }

    /// Runs out of paper (`true`) or has a new roll loaded (`false`).
    pub fn set_out_of_paper(&self, out: bool) {
        self.shared.out_of_paper.store(out, Ordering::SeqCst);
    }

    /// Pulls the cable once `bytes` more bytes of a print job have arrived: the pty closes and
    /// the link goes.
    pub fn unplug_after(&self, bytes: usize) {
        self.shared
            .unplug_after_bytes
            .store(bytes.max(1), Ordering::SeqCst);
    }

    /// Pulls the cable now.
    pub fn unplug(&self) {
        self.unplug_after(1);
        self.shared.stop.store(true, Ordering::SeqCst);
        remove_link(&self.link);
    }
}

impl Drop for PrinterEmulator {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        remove_link(&self.link);
    }
}

/// What a stream asks of the printer besides printing, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `DLE EOT 4`: the paper sensor's status byte is wanted.
    PaperStatus,
    /// `GS V`: the paper is cut; the page printed up to the cut.
    Cut(Page),
    /// A command this printer does not know (its bytes as hex); nothing answers it.
    Unknown(String),
}

/// The ESC/POS reader: bytes in whatever pieces the serial line delivers, what they print and
/// ask for out. It answers nothing itself (the emulator's thread does), so it can be fed any
/// bytes (`fuzz/entries.rs`).
#[derive(Debug, Default)]
pub struct EscPosReader {
    pending: Vec<u8>,
    line: Vec<u8>,
    page: Page,
}

impl EscPosReader {
    /// Takes the next bytes; returns what every complete command among them asked for (an
    /// incomplete one waits for the rest).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Request> {
        self.pending.extend_from_slice(bytes);
        let pending = std::mem::take(&mut self.pending);
        let mut requests = Vec::new();
        let mut at = 0;
        while let Some(rest) = pending.get(at..).filter(|rest| !rest.is_empty()) {
            let Some(used) = self.command(rest, &mut requests) else {
                break;
            };
            at += used.max(1);
        }
        self.pending = pending.get(at..).unwrap_or_default().to_vec();
        requests
    }

    /// Carries out the command at the front of `pending`; how many bytes it took (`None`: it
    /// has not all arrived yet).
    fn command(&mut self, pending: &[u8], requests: &mut Vec<Request>) -> Option<usize> {
        let first = *pending.first()?;
        match first {
            b'\n' => {
                self.end_line();
                Some(1)
            }
            DLE => match pending.get(1..3)? {
                [EOT, n] => {
                    if *n == 4 {
                        requests.push(Request::PaperStatus);
                    }
                    Some(3)
                }
                _ => Some(unknown(requests, pending.get(..3).unwrap_or_default())),
            },
            ESC => match pending.get(1)? {
                b'@' => Some(2),
                b'a' | b'd' | b'!' | b'E' | b't' => pending.get(2).map(|_| 3),
                _ => Some(unknown(requests, pending.get(..2).unwrap_or_default())),
            },
            GS => match pending.get(1)? {
                b'!' => pending.get(2).map(|_| 3),
                b'V' => {
                    let used = match pending.get(2)? {
                        65 | 66 => pending.get(3).map(|_| 4)?,
                        _ => 3,
                    };
                    if !self.line.is_empty() {
                        self.end_line();
                    }
                    requests.push(Request::Cut(std::mem::take(&mut self.page)));
                    Some(used)
                }
                b'v' => self.raster(pending),
                _ => Some(unknown(requests, pending.get(..2).unwrap_or_default())),
            },
            byte if byte >= 0x20 => {
                self.line.push(byte);
                Some(1)
            }
            // Other control bytes (CR, HT) print nothing here.
            _ => Some(1),
        }
    }

    fn end_line(&mut self) {
        let text = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        self.page.lines.push(text);
    }

    /// `GS v 0 m xL xH yL yH d…`: takes the whole image once it has arrived.
    fn raster(&mut self, pending: &[u8]) -> Option<usize> {
        let header = pending.get(..8)?;
        let width_bytes = usize::from(u16::from_le_bytes([*header.get(4)?, *header.get(5)?]));
        let height = usize::from(u16::from_le_bytes([*header.get(6)?, *header.get(7)?]));
        let data = pending.get(8..8 + width_bytes * height)?;
        let rows = data
            .chunks(width_bytes.max(1))
            .map(|row| {
                (0..width_bytes * 8)
                    .map(|x| row.get(x / 8).is_some_and(|b| b & (0x80 >> (x % 8)) != 0))
                    .collect()
            })
            .collect();
        self.page.images.push(Raster {
            width_dots: width_bytes * 8,
            rows,
        });
        Some(8 + width_bytes * height)
    }
}

fn unknown(requests: &mut Vec<Request>, bytes: &[u8]) -> usize {
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    requests.push(Request::Unknown(hex.join(" ")));
    bytes.len().max(1)
}

fn run(mut pty: Pty, shared: &Shared, link: &Path) {
    let mut reader = EscPosReader::default();
    let mut buffer = [0u8; 4096];
    while !shared.stop.load(Ordering::SeqCst) {
        let read = match pty.master.read(&mut buffer) {
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::TimedOut => 0,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(20));
                0
            }
        };
        let mut bytes = buffer.get(..read).unwrap_or_default();
        let budget = shared.unplug_after_bytes.load(Ordering::SeqCst);
        if budget > 0 && read > 0 {
            if read >= budget {
                bytes = bytes.get(..budget).unwrap_or_default();
                carry_out(reader.push(bytes), shared, &mut pty);
                // The cable is out: the pty goes, and with it the device.
                remove_link(link);
                drop(pty);
                return;
            }
            shared
                .unplug_after_bytes
                .store(budget - read, Ordering::SeqCst);
        }
        carry_out(reader.push(bytes), shared, &mut pty);
    }
}

/// Answers the status requests, keeps the cut pages and the unknown commands.
fn carry_out(requests: Vec<Request>, shared: &Shared, pty: &mut Pty) {
    for request in requests {
        match request {
            Request::PaperStatus => {
                let mut status = STATUS_FIXED_BITS;
                if shared.out_of_paper.load(Ordering::SeqCst) {
                    status |= PAPER_END_BITS;
                }
                let _ = pty.master.write_all(&[status]);
                let _ = pty.master.flush();
            }
            Request::Cut(page) => {
                let number = match shared.cut.lock() {
                    Ok(mut pages) => {
                        pages.push(page.clone());
                        pages.len()
                    }
                    Err(_) => continue,
                };
                if let Ok(mut sink) = shared.on_cut.lock()
                    && let Some(sink) = sink.as_mut()
                {
                    sink(number, &page);
                }
            }
            Request::Unknown(hex) => {
                if let Ok(mut unknown) = shared.unknown.lock() {
                    unknown.push(hex);
                }
            }
        }
    }
}
