//! The officer roster the registry serves a terminal: its exact bytes, and the rules a terminal
//! applies before it takes one (its own, well formed, not older than the copy it keeps). Pure: the
//! signature is `enroll_protocol`'s, keeping the copy is the outbox's, checking a PIN is
//! `officers`'.
//!
//! # Format (version 1)
//!
//! UTF-8 JSON, one object, signed as these exact bytes by the registry's Ed25519 receipt key
//! (the `format` keeps a roster from passing for a receipt and the other way round):
//! `format` = `"enroll-kiosk/roster"`, `version` = 1, `terminal_id` (the terminal it is for),
//! `serial` (grows by one with every change at the registry), `issued_at_unix_ms`, and
//! `officers`: the badges that may sign in at that terminal, each `{"badge", "role"
//! ("officer"|"supervisor"|"technician"), "pin_argon2id" (PHC string), "disabled"}`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::officer::{Role, is_valid_badge};
use crate::domain::time::UnixMs;

/// `format` of a roster.
pub const ROSTER_FORMAT: &str = "enroll-kiosk/roster";

/// One badge on a roster.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterOfficer {
    pub badge: String,
    pub role: Role,
    /// PHC string of the PIN's Argon2id hash.
    pub pin_argon2id: String,
    pub disabled: bool,
}

impl fmt::Debug for RosterOfficer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RosterOfficer")
            .field("badge", &self.badge)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// A roster (see the module documentation for the exact format).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterBody {
    pub format: String,
    pub version: u32,
    pub terminal_id: String,
    pub serial: u64,
    pub issued_at_unix_ms: UnixMs,
    pub officers: Vec<RosterOfficer>,
}

/// Why a terminal does not take a roster. No badge or hash in the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RosterRefusal {
    #[error("the officer roster is not valid: {0}")]
    Malformed(String),
    #[error("the officer roster's signature does not verify with the registry's receipt key")]
    BadSignature,
    #[error("the officer roster is for terminal {0}, not this one")]
    OtherTerminal(String),
    #[error(
        "the officer roster is older (serial {offered}) than the one this terminal keeps (serial \
         {kept}): refused as a rollback"
    )]
    Older { offered: u64, kept: u64 },
    #[error("the officer roster has serial {0} like the one kept, with other contents: refused")]
    SameSerialOtherContents(u64),
}

/// What taking a roster means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Newer than the kept copy (or the first): keep it.
    Newer,
    /// The kept copy again: nothing changes.
    Unchanged,
}

impl RosterBody {
    /// A roster of `officers` for `terminal_id`.
    pub fn new(
        terminal_id: &str,
        serial: u64,
        issued_at_unix_ms: UnixMs,
        officers: Vec<RosterOfficer>,
    ) -> Self {
        RosterBody {
            format: ROSTER_FORMAT.to_owned(),
            version: 1,
            terminal_id: terminal_id.to_owned(),
            serial,
            issued_at_unix_ms,
            officers,
        }
    }

    /// The exact bytes to sign.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses roster bytes (after the signature over them was checked).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RosterRefusal> {
        let body: RosterBody = serde_json::from_slice(bytes).map_err(|error| {
            RosterRefusal::Malformed(format!("line {} column {}", error.line(), error.column()))
        })?;
        if body.format != ROSTER_FORMAT || body.version != 1 {
            return Err(RosterRefusal::Malformed(format!(
                "format {:?} version {}; this software reads {ROSTER_FORMAT:?} version 1",
                body.format, body.version
            )));
        }
        if body
            .officers
            .iter()
            .any(|officer| !is_valid_badge(&officer.badge) || officer.pin_argon2id.is_empty())
        {
            return Err(RosterRefusal::Malformed(
                "a badge entry is malformed".into(),
            ));
        }
        Ok(body)
    }

    /// Whether this terminal takes this roster, given the one it keeps (`kept`, already taken).
    pub fn admit(
        &self,
        terminal_id: &str,
        kept: Option<&RosterBody>,
    ) -> Result<Admission, RosterRefusal> {
        if self.terminal_id != terminal_id {
            return Err(RosterRefusal::OtherTerminal(self.terminal_id.clone()));
        }
        match kept {
            None => Ok(Admission::Newer),
            Some(kept) if self.serial > kept.serial => Ok(Admission::Newer),
            Some(kept) if self.serial < kept.serial => Err(RosterRefusal::Older {
                offered: self.serial,
                kept: kept.serial,
            }),
            Some(kept) if kept == self => Ok(Admission::Unchanged),
            Some(_) => Err(RosterRefusal::SameSerialOtherContents(self.serial)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roster(serial: u64, disabled: bool) -> RosterBody {
        RosterBody::new(
            "PS-0001",
            serial,
            UnixMs(1_000),
            vec![RosterOfficer {
                badge: "B-1042".into(),
                role: Role::Officer,
                pin_argon2id: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
                disabled,
            }],
        )
    }

    #[test]
    fn a_terminal_takes_newer_rosters_of_its_own_and_refuses_older_or_foreign_ones() {
        let kept = roster(5, false);
        assert_eq!(
            roster(6, true).admit("PS-0001", Some(&kept)),
            Ok(Admission::Newer)
        );
        assert_eq!(
            roster(1, false).admit("PS-0001", None),
            Ok(Admission::Newer)
        );
        assert_eq!(kept.admit("PS-0001", Some(&kept)), Ok(Admission::Unchanged));
        assert_eq!(
            roster(4, false).admit("PS-0001", Some(&kept)),
            Err(RosterRefusal::Older {
                offered: 4,
                kept: 5
            })
        );
        assert_eq!(
            roster(5, true).admit("PS-0001", Some(&kept)),
            Err(RosterRefusal::SameSerialOtherContents(5))
        );
        assert_eq!(
            roster(6, false).admit("PS-0002", Some(&kept)),
            Err(RosterRefusal::OtherTerminal("PS-0001".into()))
        );
    }

    #[test]
    fn a_roster_round_trips_and_its_debug_shows_no_hash() {
        let body = roster(3, false);
        assert_eq!(RosterBody::from_bytes(&body.to_bytes()), Ok(body.clone()));
        assert!(!format!("{body:?}").contains("argon2id"));
        assert!(RosterBody::from_bytes(b"{}").is_err());
    }
}
