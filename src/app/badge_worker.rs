//! Watches the officers' badge reader on a `badge-reader` thread and hands each badge placed on
//! it (its UID, the badge id) to the UI through a bounded channel; a badge left on the reader is
//! reported once. It does not check PINs or know which screen is showing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use enroll_devices::card::badge::BadgeReader;

/// How often the reader is asked for a badge.
const POLL_MS: u64 = 300;
/// How long to wait after the reader failed before asking again.
const RETRY_MS: u64 = 2_000;

/// The UI's end of the badge reader.
pub struct BadgeWorker {
    badges: Receiver<String>,
    stop: Arc<AtomicBool>,
}

impl BadgeWorker {
    /// Starts watching `reader_name` (a PC/SC reader).
    pub fn spawn(reader_name: String) -> std::io::Result<BadgeWorker> {
        let (sender, badges) = std::sync::mpsc::sync_channel(4);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("badge-reader".into())
            .spawn(move || {
                let mut reader = BadgeReader::new(Some(reader_name));
                let mut on_reader: Option<String> = None;
                let mut last_problem: Option<String> = None;
                while !stopped.load(Ordering::Relaxed) {
                    let pause = match reader.read_badge() {
                        Ok(badge) => {
                            last_problem = None;
                            if let Some(id) = &badge
                                && on_reader.as_ref() != Some(id)
                                && sender.try_send(id.clone()).is_err()
                            {
                                tracing::debug!("a badge was not taken by the UI");
                            }
                            on_reader = badge;
                            POLL_MS
                        }
                        Err(error) => {
                            let problem = error.to_string();
                            if last_problem.as_ref() != Some(&problem) {
                                tracing::warn!(%problem, "badge reader");
                            }
                            last_problem = Some(problem);
                            on_reader = None;
                            RETRY_MS
                        }
                    };
                    std::thread::sleep(Duration::from_millis(pause));
                }
            })?;
        Ok(BadgeWorker { badges, stop })
    }

    /// The next badge placed on the reader, if any (never waits).
    pub fn next_badge(&self) -> Option<String> {
        self.badges.try_recv().ok()
    }
}

impl Drop for BadgeWorker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
