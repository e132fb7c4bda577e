//! Paper receipts: what a printed receipt says (the reference, the receipt QR, the activation QR
//! and code), and the `receipt-printer` thread that prints them one at a time so no screen ever
//! waits on paper. It does not draw, decide a flow step or read the outbox.

use std::sync::mpsc::{Receiver, Sender};

use crate::config::PrinterConfig;
use enroll_core::domain::time::UnixMs;
use enroll_devices::printer::{PaperStatus, ReceiptPart, SerialReceiptPrinter};

/// What one paper receipt says. The activation code opens the holder's identity: `Debug`
/// shows the reference only.
#[derive(Clone, PartialEq, Eq)]
pub struct PaperReceipt {
    /// The short reference (`XXX-XXX-XXXX`).
    pub reference: String,
    /// The receipt QR's text (signed by the terminal).
    pub receipt_text: String,
    /// The activation code, grouped.
    pub activation_code: String,
    /// The holder page link with the code (the activation QR).
    pub activation_link: String,
    /// This terminal.
    pub terminal_id: String,
    /// When the record was made.
    pub created_at_unix_ms: UnixMs,
}

impl std::fmt::Debug for PaperReceipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaperReceipt")
            .field("reference", &self.reference)
            .finish_non_exhaustive()
    }
}

/// `YYYY-MM-DD HH:MM UTC`.
fn utc_minute(at: UnixMs) -> String {
    let minutes = at.as_i64().div_euclid(60_000);
    let date = at
        .utc_date()
        .map_or_else(|| "????-??-??".to_owned(), |date| date.to_string());
    format!(
        "{date} {:02}:{:02} UTC",
        minutes.div_euclid(60).rem_euclid(24),
        minutes.rem_euclid(60)
    )
}

/// The receipt, top to bottom. English and ASCII: thermal printers' built-in fonts have no
/// CJK glyphs without a vendor code page (the screen shows the applicant's language).
pub fn receipt_parts(receipt: &PaperReceipt) -> Vec<ReceiptPart> {
    vec![
        ReceiptPart::Title("ENROLLMENT RECEIPT".into()),
        ReceiptPart::Feed,
        ReceiptPart::Text(format!("Reference: {}", receipt.reference)),
        ReceiptPart::Text(format!("Terminal:  {}", receipt.terminal_id)),
        ReceiptPart::Text(format!(
            "Date:      {}",
            utc_minute(receipt.created_at_unix_ms)
        )),
        ReceiptPart::Feed,
        ReceiptPart::Text("Proof of enrollment (show it at the counter):".into()),
        ReceiptPart::Qr(receipt.receipt_text.clone()),
        ReceiptPart::Feed,
        ReceiptPart::Text("Your digital ID: scan this with your phone".into()),
        ReceiptPart::Qr(receipt.activation_link.clone()),
        ReceiptPart::Text(format!("Activation code: {}", receipt.activation_code)),
        ReceiptPart::Text("Valid for 30 days. Keep this receipt to yourself:".into()),
        ReceiptPart::Text("the code opens your digital ID once.".into()),
    ]
}

/// How a print job ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrintReport {
    /// The receipt's reference.
    pub reference: String,
    /// `Ok(true)` when the roll is nearly used up; `Err`: what went wrong and what to do.
    pub result: Result<bool, String>,
}

/// The UI's end of the `receipt-printer` thread.
pub struct PrinterWorker {
    jobs: Sender<PaperReceipt>,
    reports: Receiver<PrintReport>,
}

impl PrinterWorker {
    /// Starts the thread for the printer `config` names.
    pub fn spawn(config: &PrinterConfig) -> std::io::Result<PrinterWorker> {
        let (jobs, job_rx) = std::sync::mpsc::channel::<PaperReceipt>();
        let (report_tx, reports) = std::sync::mpsc::channel();
        let printer = SerialReceiptPrinter::new(&config.port, config.baud);
        std::thread::Builder::new()
            .name("receipt-printer".into())
            .spawn(move || {
                while let Ok(receipt) = job_rx.recv() {
                    let result = printer
                        .print(&receipt_parts(&receipt))
                        .map(|paper| paper == PaperStatus::NearEnd)
                        .map_err(|error| error.to_string());
                    match &result {
                        Ok(_) => tracing::info!(reference = %receipt.reference, "receipt printed"),
                        Err(error) => tracing::warn!(%error, "receipt not printed"),
                    }
                    let report = PrintReport {
                        reference: receipt.reference,
                        result,
                    };
                    if report_tx.send(report).is_err() {
                        return;
                    }
                }
            })?;
        Ok(PrinterWorker { jobs, reports })
    }

    /// Queues a receipt (never waits).
    pub fn print(&self, receipt: PaperReceipt) {
        if self.jobs.send(receipt).is_err() {
            tracing::error!("the receipt printer thread has stopped");
        }
    }

    /// The next finished job, if any.
    pub fn next_report(&self) -> Option<PrintReport> {
        self.reports.try_recv().ok()
    }
}
