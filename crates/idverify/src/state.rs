//! What a verifier keeps between runs, in one directory: the pinned root key, the last trust list
//! and the last status lists exactly as signed (re-checked at every start), and a log that holds
//! only outcomes and hashes of `cti`. Files are replaced atomically.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use ed25519_dalek::pkcs8::DecodePublicKey as _;
use enroll_credential::VerifierState;

/// The state directory.
pub struct StateDir {
    pub dir: PathBuf,
}

impl StateDir {
    /// `--state`, else `$XDG_STATE_HOME/idverify`, else `~/.local/state/idverify`.
    pub fn locate(explicit: Option<PathBuf>) -> anyhow::Result<StateDir> {
        let dir = match explicit {
            Some(dir) => dir,
            None => match std::env::var_os("XDG_STATE_HOME") {
                Some(base) if !base.is_empty() => PathBuf::from(base).join("idverify"),
                _ => {
                    PathBuf::from(std::env::var_os("HOME").context("set HOME or give --state DIR")?)
                        .join(".local/state/idverify")
                }
            },
        };
        Ok(StateDir { dir })
    }

    pub fn root_file(&self) -> PathBuf {
        self.dir.join("root.pub")
    }

    pub fn trust_file(&self) -> PathBuf {
        self.dir.join("trust-list.cbor")
    }

    fn status_dir(&self) -> PathBuf {
        self.dir.join("status-lists")
    }

    pub fn status_file(&self, number: u32) -> PathBuf {
        self.status_dir().join(format!("{number}.cbor"))
    }

    /// Reads a root public key file (PEM, as `registry trust-list root-keygen` writes it).
    pub fn read_root(path: &Path) -> anyhow::Result<ed25519_dalek::VerifyingKey> {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the root key {}", path.display()))?;
        ed25519_dalek::VerifyingKey::from_public_key_pem(&pem).map_err(|_| {
            anyhow::anyhow!(
                "{} is not an Ed25519 public key in PEM (trust-root.pub from `registry trust-list root-keygen`)",
                path.display()
            )
        })
    }

    /// Pins `root_file`'s key if none is pinned; refuses a different key.
    pub fn pin_root(&self, root_file: &Path) -> anyhow::Result<()> {
        let offered = StateDir::read_root(root_file)?;
        if self.root_file().exists() {
            let pinned = StateDir::read_root(&self.root_file())?;
            if pinned != offered {
                bail!(
                    "a different root key is pinned in {}; remove that file to pin another",
                    self.root_file().display()
                );
            }
            return Ok(());
        }
        let pem = std::fs::read(root_file)?;
        self.write(&self.root_file(), &pem)
    }

    /// The verifier as of the files held: `None` when no root is pinned yet.
    pub fn load(&self) -> anyhow::Result<Option<VerifierState>> {
        if !self.root_file().exists() {
            return Ok(None);
        }
        let mut state = VerifierState::new(StateDir::read_root(&self.root_file())?);
        let corrupt = |path: &Path, reason: enroll_credential::Reason| {
            anyhow::anyhow!(
                "{} no longer verifies ({reason}); run `idverify trust sync` and `idverify status sync` again",
                path.display()
            )
        };
        if let Ok(bytes) = std::fs::read(self.trust_file()) {
            state
                .accept_trust_list(&bytes)
                .map_err(|reason| corrupt(&self.trust_file(), reason))?;
            if let Ok(entries) = std::fs::read_dir(self.status_dir()) {
                for entry in entries.flatten() {
                    let path = entry.path();
                    let bytes = std::fs::read(&path)?;
                    state
                        .accept_status_list(&bytes)
                        .map_err(|reason| corrupt(&path, reason))?;
                }
            }
        }
        Ok(Some(state))
    }

    /// Replaces a file atomically.
    pub fn write(&self, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
        let parent = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let temporary = path.with_extension("new");
        let mut file = std::fs::File::create(&temporary)
            .with_context(|| format!("cannot write {}", temporary.display()))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
        Ok(())
    }

    /// Appends one line to the verification log: time, outcome, reason and a hash of `cti`
    /// (never who the token names).
    pub fn log(&self, line: &serde_json::Value) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("verifications.log"))?;
        writeln!(file, "{line}")?;
        Ok(())
    }
}
