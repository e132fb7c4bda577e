//! What the running kiosk last saw of its devices (the camera and the card reader, as sessions
//! meet them), kept for the heartbeat: ok once a device delivers, fail when it fails, absent until
//! it is used. It probes nothing itself: opening a device the kiosk holds would disturb it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use enroll_protocol::heartbeat::CheckState;

use crate::diag::CheckId;

/// Shared between the kiosk's UI thread (which sets) and the sync thread (which reads).
#[derive(Clone, Debug, Default)]
pub struct DeviceHealth {
    states: Arc<Mutex<BTreeMap<CheckId, CheckState>>>,
}

impl DeviceHealth {
    /// Records what `check`'s device just did.
    pub fn set(&self, check: CheckId, state: CheckState) {
        if let Ok(mut states) = self.states.lock() {
            states.insert(check, state);
        }
    }

    /// Each device seen so far, by its diagnostic check's name.
    pub fn states(&self) -> BTreeMap<String, CheckState> {
        self.states
            .lock()
            .map(|states| {
                states
                    .iter()
                    .map(|(check, state)| (check.as_str().to_owned(), *state))
                    .collect()
            })
            .unwrap_or_default()
    }
}
