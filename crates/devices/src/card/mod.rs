//! The `CardReader` trait every identity-card backend implements, its error kinds, and reader
//! descriptions. The backends live beside it; this file owns no protocol.
//!
//! Readers are blocking: each runs on its own named thread (the app's device thread), so a slow
//! card never stalls the UI. Every method returns a [`CardError`] whose [`CardErrorKind`] lets the
//! flows and the technician screen react without knowing the backend.

pub mod mrz_scanner;
pub mod sam_serial;
pub mod wlt;

use std::time::Duration;

use enroll_core::domain::card_read::{AccessKey, CardRead};

/// What kind of failure a card operation met; the flows and screens react to the kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CardErrorKind {
    /// No card in the field.
    NoCard,
    /// The card left the field during the operation.
    CardRemoved,
    /// A card that was already read is still in the field; it must be removed first.
    MustRemoveCard,
    /// The reader did not answer in time.
    Timeout,
    /// The reader or card answered something the protocol does not allow.
    Protocol,
    /// The reader reported a status (SAM SW3, PC/SC status word) that ends the operation.
    ReaderStatus,
    /// The access key (MRZ or CAN) was refused by the chip.
    AccessDenied,
    /// The card or document type is not supported by this terminal.
    Unsupported,
    /// The reader is gone (unplugged, port closed); it will be reopened.
    DeviceGone,
    /// The operating system refused access to the reader.
    PermissionDenied,
    /// The card was read but failed verification (e.g. passive authentication).
    VerificationFailed,
}

/// A failed card operation: a kind and a message that names the problem and the remedy, in
/// lowercase, and never contains personal data.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CardError {
    kind: CardErrorKind,
    message: String,
}

impl CardError {
    /// A new error of `kind`.
    pub fn new(kind: CardErrorKind, message: impl Into<String>) -> CardError {
        CardError {
            kind,
            message: message.into(),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> CardErrorKind {
        self.kind
    }
}

/// Whether a card is in the reader's field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Presence {
    /// No card.
    NoCard,
    /// A card is there and can be read.
    CardPresent,
    /// The card already read is still there; it must leave the field before the next read.
    MustRemove,
}

/// A reader as a technician sees it (no personal data).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ReaderInfo {
    /// `sam-serial` or `pcsc`.
    pub backend: String,
    /// The serial port or the PC/SC reader name.
    pub device: String,
    /// The SAM id, once read (SAM readers).
    pub sam_id: Option<String>,
    /// The card's ATR as hex, when a card is present (PC/SC).
    pub atr_hex: Option<String>,
}

/// An identity-card reader.
pub trait CardReader: Send {
    /// Describes the reader.
    fn info(&self) -> ReaderInfo;

    /// Looks once for a card, quickly.
    fn presence(&mut self) -> Result<Presence, CardError>;

    /// Waits up to `timeout` for a card; `Err` of kind `NoCard` when none came.
    fn wait_for_card(&mut self, timeout: Duration) -> Result<(), CardError>;

    /// Reads the card in the field, verifying it as the backend can. After a successful read the
    /// reader is in the "remove the card" state until [`CardReader::wait_for_removal`] sees it go.
    fn read(&mut self, key: &AccessKey) -> Result<CardRead, CardError>;

    /// Waits up to `timeout` for the card to leave the field; `Err` of kind `MustRemoveCard` when
    /// it is still there.
    fn wait_for_removal(&mut self, timeout: Duration) -> Result<(), CardError>;
}

pub mod badge;
pub mod pcsc_icao;
pub mod photo;
