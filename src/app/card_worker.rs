//! The card worker: a named thread running the configured card reader for the applicant flow. It
//! waits for a card, reads it, reports the read or the problem, then waits for the card to leave
//! before it looks for the next one (so a card left on the reader is not read over and over). It
//! reports in the flow's terms ([`CardEvent`]) and decides no flow step.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::Duration;

use enroll_core::domain::card_read::AccessKey;
use enroll_core::flows::applicant::{CardEvent, CardProblem};
use enroll_devices::card::{CardError, CardErrorKind, CardReader, Presence};

/// How long one wait for a card (or for its removal) lasts before the stop flag is looked at.
const POLL_MS: u64 = 300;

/// The problem an applicant sees for a failed read, `None` when it is not a problem to show.
pub fn problem_for(kind: CardErrorKind) -> Option<CardProblem> {
    match kind {
        CardErrorKind::NoCard | CardErrorKind::MustRemoveCard | CardErrorKind::CardRemoved => None,
        CardErrorKind::Timeout | CardErrorKind::Protocol | CardErrorKind::ReaderStatus => {
            Some(CardProblem::Unreadable)
        }
        CardErrorKind::AccessDenied => Some(CardProblem::AccessDenied),
        CardErrorKind::Unsupported => Some(CardProblem::Unsupported),
        CardErrorKind::DeviceGone | CardErrorKind::PermissionDenied => {
            Some(CardProblem::ReaderUnavailable)
        }
        CardErrorKind::VerificationFailed => Some(CardProblem::NotVerified),
    }
}

/// The UI's end of the worker.
pub struct CardWorker {
    events: Receiver<CardEvent>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Sends without blocking forever: retries while the UI catches up, gives up when stopped.
fn deliver(sender: &SyncSender<CardEvent>, stop: &AtomicBool, mut event: CardEvent) -> bool {
    loop {
        match sender.try_send(event) {
            Ok(()) => return true,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(back)) => {
                if stop.load(Ordering::Relaxed) {
                    return false;
                }
                event = back;
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn run(
    mut reader: Box<dyn CardReader>,
    key: AccessKey,
    sender: SyncSender<CardEvent>,
    stop: Arc<AtomicBool>,
) {
    let poll = Duration::from_millis(POLL_MS);
    let wait_gone = |reader: &mut Box<dyn CardReader>| -> bool {
        while !stop.load(Ordering::Relaxed) {
            match reader.wait_for_removal(poll) {
                Ok(()) => return true,
                Err(error) if error.kind() == CardErrorKind::DeviceGone => return true,
                Err(_) => {}
            }
        }
        false
    };
    while !stop.load(Ordering::Relaxed) {
        match reader.wait_for_card(poll) {
            Ok(()) => {}
            Err(error) => {
                match problem_for(error.kind()) {
                    Some(problem) => {
                        tracing::warn!(kind = ?error.kind(), %error, "card reader problem");
                        if !deliver(&sender, &stop, CardEvent::Failed(problem)) {
                            return;
                        }
                        // The reader reopens itself; do not spin on a dead port.
                        std::thread::sleep(Duration::from_secs(1));
                    }
                    None if error.kind() == CardErrorKind::MustRemoveCard
                        && !wait_gone(&mut reader) =>
                    {
                        return;
                    }
                    None => {}
                }
                continue;
            }
        }
        if !deliver(&sender, &stop, CardEvent::Present) {
            return;
        }
        let outcome = match reader.read(&key) {
            Ok(card) => CardEvent::Read(Box::new(card)),
            Err(error) => {
                // A card that left mid-read often shows as a broken frame: if the field is
                // empty now, the card was taken away too early.
                let gone = error.kind() == CardErrorKind::CardRemoved
                    || matches!(reader.presence(), Ok(Presence::NoCard));
                match problem_for(error.kind()) {
                    _ if gone => CardEvent::Removed,
                    Some(problem) => {
                        tracing::warn!(kind = ?error.kind(), %error, "card read failed");
                        CardEvent::Failed(problem)
                    }
                    None => CardEvent::Removed,
                }
            }
        };
        let removed = outcome == CardEvent::Removed;
        if !deliver(&sender, &stop, outcome) {
            return;
        }
        if !removed {
            if !wait_gone(&mut reader) {
                return;
            }
            if !deliver(&sender, &stop, CardEvent::Removed) {
                return;
            }
        }
    }
}

/// Opens a reader on the worker's thread (opening may wait on the device).
pub type ReaderOpener = Box<dyn FnOnce() -> Result<Box<dyn CardReader>, CardError> + Send>;

impl CardWorker {
    /// Starts the `card-reader` thread with `reader`, reading with `key`.
    pub fn spawn(reader: Box<dyn CardReader>, key: AccessKey) -> std::io::Result<CardWorker> {
        Self::spawn_opening(Box::new(move || Ok(reader)), key, None)
    }

    /// Starts the `card-reader` thread, which first waits for `after` (an earlier worker's thread
    /// still letting go of the device), then opens the reader with `open` (a reader that cannot
    /// be opened is reported as unavailable) and reads with `key`.
    pub fn spawn_opening(
        open: ReaderOpener,
        key: AccessKey,
        after: Option<std::thread::JoinHandle<()>>,
    ) -> std::io::Result<CardWorker> {
        let (sender, events) = std::sync::mpsc::sync_channel(16);
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("card-reader".into())
            .spawn(move || {
                if let Some(earlier) = after {
                    let _ = earlier.join();
                }
                match open() {
                    Ok(reader) => run(reader, key, sender, thread_stop),
                    Err(error) => {
                        tracing::warn!(kind = ?error.kind(), %error, "card reader cannot be opened");
                        let problem =
                            problem_for(error.kind()).unwrap_or(CardProblem::ReaderUnavailable);
                        let _ = deliver(&sender, &thread_stop, CardEvent::Failed(problem));
                    }
                }
            })?;
        Ok(CardWorker {
            events,
            stop,
            thread: Some(thread),
        })
    }

    /// Asks the thread to stop without waiting for it; returns its handle so the next worker can
    /// wait for the device to be free.
    pub fn retire(mut self) -> Option<std::thread::JoinHandle<()>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take()
    }

    /// The next event, if one is waiting.
    pub fn next_event(&self) -> Option<CardEvent> {
        self.events.try_recv().ok()
    }
}

impl Drop for CardWorker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
