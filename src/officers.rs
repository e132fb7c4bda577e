//! The badges that may sign in, from one of two sources (`terminal.officers_from`): the officer
//! list (`officers.toml`, named by `terminal.officers_file`: adding, disabling and listing badges
//! here), or the registry's signed roster the outbox keeps (read afresh, its signature checked
//! again, at every PIN check, so a disable applies as soon as a sync brought it). Checking a PIN
//! against Argon2id hashes. The only kiosk code that names `argon2`. A PIN is never stored, logged
//! or put in an error; lockouts are the `flows::officer_auth` rules, not this file's.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use serde::{Deserialize, Serialize};

use enroll_core::domain::officer::{PinOutcome, Role, is_valid_badge, pin_problem};

/// One badge in the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfficerEntry {
    pub badge: String,
    pub role: Role,
    /// PHC string of the PIN's Argon2id hash.
    pin_argon2id: String,
    #[serde(default)]
    pub disabled: bool,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OfficerFile {
    #[serde(default, rename = "officer")]
    officers: Vec<OfficerEntry>,
}

/// Why the officer list cannot be used or changed. No PIN or hash appears in the text.
#[derive(Debug, thiserror::Error)]
pub enum OfficersError {
    #[error("cannot read the officer list {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("the officer list {path} is not valid: {detail}")]
    Parse { path: String, detail: String },
    #[error("cannot write the officer list {path}: {detail}")]
    Write { path: String, detail: String },
    #[error("badge id {0:?} is not valid: 1 to 32 of A-Z, a-z, 0-9, '-' and '_'")]
    BadBadge(String),
    #[error("the PIN is refused: {0}")]
    WeakPin(&'static str),
    #[error("badge {0} is already on the list (disable it first to replace it)")]
    Exists(String),
    #[error("badge {0} is not on the list")]
    Unknown(String),
    #[error("cannot hash the PIN: {0}")]
    Hash(String),
    #[error(
        "this terminal's badges come from the registry (terminal.officers_from = \"registry\"): \
         change them there with `registry officer add|disable`; they apply at the next sync"
    )]
    FromRegistry,
}

/// The officer list of one terminal.
#[derive(Debug)]
pub struct OfficerList {
    path: PathBuf,
    entries: Vec<OfficerEntry>,
    /// Set when the badges are the registry's roster.
    roster: Option<RosterSource>,
}

/// Where the registry's roster is kept, and the key it must verify with.
#[derive(Debug)]
struct RosterSource {
    outbox_path: PathBuf,
    registry_key: enroll_crypto::records::TerminalPublicKey,
}

impl RosterSource {
    /// The kept roster's badges now (none when there is no roster yet or it does not verify).
    fn entries(&self) -> Vec<OfficerEntry> {
        // A short read-only read: opening the outbox proper checks the whole file.
        let kept =
            enroll_store::read_fleet_item(&self.outbox_path, enroll_store::FleetItem::Roster)
                .map_err(|e| e.to_string())
                .and_then(|kept| {
                    kept.map(|bytes| enroll_sync::open_kept_roster(&bytes, &self.registry_key))
                        .transpose()
                        .map_err(|e| e.to_string())
                });
        match kept {
            Ok(Some(roster)) => roster
                .officers
                .into_iter()
                .map(|officer| OfficerEntry {
                    badge: officer.badge,
                    role: officer.role,
                    pin_argon2id: officer.pin_argon2id,
                    disabled: officer.disabled,
                })
                .collect(),
            Ok(None) => {
                tracing::warn!(
                    "no officer roster from the registry yet: nobody can sign in until a sync brings one"
                );
                Vec::new()
            }
            Err(error) => {
                tracing::error!(%error, "the kept officer roster cannot be used: nobody can sign in until a sync brings a good one");
                Vec::new()
            }
        }
    }
}

/// A well-formed Argon2id string (default parameters) that no known PIN matches: an unknown badge
/// is checked against it, so it takes as long to refuse as a wrong PIN.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$ZHVtbXlzYWx0ZHVtbXk$KtFTUe3zWJrEUpeh6hmZ4u8pmnUSvlXhaQypWkrO0eQ";

impl OfficerList {
    /// Reads the list; a missing file is an empty list (no officer can sign in yet).
    pub fn load(path: &Path) -> Result<OfficerList, OfficersError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(error) => {
                return Err(OfficersError::Read {
                    path: path.display().to_string(),
                    detail: error.to_string(),
                });
            }
        };
        let file: OfficerFile = toml::from_str(&text).map_err(|error| OfficersError::Parse {
            path: path.display().to_string(),
            detail: error.message().to_owned(),
        })?;
        for entry in &file.officers {
            if !is_valid_badge(&entry.badge) || PasswordHash::new(&entry.pin_argon2id).is_err() {
                return Err(OfficersError::Parse {
                    path: path.display().to_string(),
                    detail: format!("the entry for badge {:?} is malformed", entry.badge),
                });
            }
        }
        Ok(OfficerList {
            path: path.to_path_buf(),
            entries: file.officers,
            roster: None,
        })
    }

    /// The badges of the registry's roster kept in the outbox at `outbox_path`, verified with the
    /// registry's receipt key.
    pub fn from_roster(
        outbox_path: &Path,
        registry_key: enroll_crypto::records::TerminalPublicKey,
    ) -> OfficerList {
        OfficerList {
            path: outbox_path.to_path_buf(),
            entries: Vec::new(),
            roster: Some(RosterSource {
                outbox_path: outbox_path.to_path_buf(),
                registry_key,
            }),
        }
    }

    /// The badges the configuration names: the officer file or the registry's roster.
    pub fn for_config(config: &crate::config::Config) -> Result<OfficerList, OfficersError> {
        match config.terminal.officers_from {
            crate::config::OfficerSource::File => OfficerList::load(&config.terminal.officers_file),
            crate::config::OfficerSource::Registry => {
                let file = &config.registry.receipt_public_key_file;
                let key = enroll_crypto::keys::read_ed25519_public(file).map_err(|e| {
                    OfficersError::Read {
                        path: file.display().to_string(),
                        detail: format!(
                            "{e} (the roster is checked with the registry's receipt key)"
                        ),
                    }
                })?;
                Ok(OfficerList::from_roster(&config.store.database_path, key))
            }
        }
    }

    /// The officer file (or, for a roster, the outbox that keeps it).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the badges are the registry's roster (they cannot be changed here).
    pub fn is_roster(&self) -> bool {
        self.roster.is_some()
    }

    /// Every badge: in the order added, or the roster's order.
    pub fn entries(&self) -> Vec<OfficerEntry> {
        match &self.roster {
            Some(roster) => roster.entries(),
            None => self.entries.clone(),
        }
    }

    /// Adds a badge with the Argon2id hash of `pin`; `salt` is 16 random bytes.
    pub fn add(
        &mut self,
        badge: &str,
        role: Role,
        pin: &str,
        salt: [u8; 16],
    ) -> Result<(), OfficersError> {
        if self.roster.is_some() {
            return Err(OfficersError::FromRegistry);
        }
        if !is_valid_badge(badge) {
            return Err(OfficersError::BadBadge(badge.to_owned()));
        }
        if let Some(problem) = pin_problem(pin) {
            return Err(OfficersError::WeakPin(problem));
        }
        if self.entries.iter().any(|e| e.badge == badge && !e.disabled) {
            return Err(OfficersError::Exists(badge.to_owned()));
        }
        let salt = SaltString::encode_b64(&salt).map_err(|e| OfficersError::Hash(e.to_string()))?;
        let hash = Argon2::default()
            .hash_password(pin.as_bytes(), &salt)
            .map_err(|e| OfficersError::Hash(e.to_string()))?
            .to_string();
        self.entries.retain(|e| e.badge != badge);
        self.entries.push(OfficerEntry {
            badge: badge.to_owned(),
            role,
            pin_argon2id: hash,
            disabled: false,
        });
        Ok(())
    }

    /// Disables a badge: it can no longer sign in (the entry stays, for the record).
    pub fn disable(&mut self, badge: &str) -> Result<(), OfficersError> {
        if self.roster.is_some() {
            return Err(OfficersError::FromRegistry);
        }
        let entry = self
            .entries
            .iter_mut()
            .find(|e| e.badge == badge)
            .ok_or_else(|| OfficersError::Unknown(badge.to_owned()))?;
        entry.disabled = true;
        Ok(())
    }

    /// Checks a PIN. Unknown and disabled badges cost one Argon2id computation too, and answer
    /// like an unknown badge.
    pub fn check_pin(&self, badge: &str, pin: &str) -> PinOutcome {
        let entries = self.entries();
        let entry = entries.iter().find(|e| e.badge == badge && !e.disabled);
        let hash = entry.map_or(DUMMY_HASH, |e| e.pin_argon2id.as_str());
        let matches = PasswordHash::new(hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(pin.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        match (entry, matches) {
            (Some(entry), true) => PinOutcome::Correct(entry.role),
            (Some(_), false) => PinOutcome::Wrong,
            (None, _) => PinOutcome::UnknownBadge,
        }
    }

    /// Writes the list: a new file beside the old one (mode 0600), synced, then renamed over it.
    pub fn save(&self) -> Result<(), OfficersError> {
        let write_error = |detail: String| OfficersError::Write {
            path: self.path.display().to_string(),
            detail,
        };
        let body = toml::to_string(&OfficerFile {
            officers: self.entries.clone(),
        })
        .map_err(|e| write_error(e.to_string()))?;
        let text = format!(
            "# Officers who may sign in at this terminal. Managed with `kiosk officer \
             add|disable|list`;\n# PINs are kept only as Argon2id hashes.\n\n{body}"
        );
        let temporary = self.path.with_extension("toml.new");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options
            .open(&temporary)
            .map_err(|e| write_error(e.to_string()))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| write_error(e.to_string()))?;
        std::fs::rename(&temporary, &self.path).map_err(|e| write_error(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_is_a_valid_argon2id_string() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
