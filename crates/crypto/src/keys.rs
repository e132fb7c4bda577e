//! Key files on disk and the OS random source: reads the terminal and registry keys the
//! configuration names (refusing private keys others can read), writes new key files (mode 0600,
//! never over an existing file), and draws seeds for keys and seals. Key formats are
//! `crypto::records`'; this module owns files, permissions and randomness only.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::records::{
    KeyError, SealingPrivateKey, SealingPublicKey, TerminalPublicKey, TerminalSigningKey,
};

/// A key file that cannot be used or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file cannot be read.
    #[error(
        "cannot read the key file {path}: {source}; check the path in the configuration (or run `kiosk keygen`)"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds no usable key.
    #[error("the key file {path} is unusable: {error}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        error: KeyError,
    },
    /// A private key file that group or others may read.
    #[error(
        "the private key file {path} may be read by other users (mode {mode:o}); run `chmod 600 {path}`"
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Refusing to overwrite.
    #[error(
        "{path} already exists; keys are never overwritten: move it away first if you really mean to replace it"
    )]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// Writing failed.
    #[error("cannot write the key file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The OS random source failed.
    #[error("the operating system's random source failed ({0}); keys and seals cannot be made")]
    Random(String),
}

/// 32 bytes from the OS random source.
pub fn random_seed() -> Result<[u8; 32], KeyFileError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| KeyFileError::Random(e.to_string()))?;
    Ok(seed)
}

/// `N` bytes from the OS random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], KeyFileError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| KeyFileError::Random(e.to_string()))?;
    Ok(bytes)
}

fn read_text(path: &Path) -> Result<String, KeyFileError> {
    std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn read_private_text(path: &Path) -> Result<String, KeyFileError> {
    let metadata = std::fs::metadata(path).map_err(|source| KeyFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    read_text(path)
}

fn format_error(path: &Path) -> impl FnOnce(KeyError) -> KeyFileError + '_ {
    move |error| KeyFileError::Format {
        path: path.to_path_buf(),
        error,
    }
}

/// The terminal's (or the registry's receipt) Ed25519 private key.
pub fn read_signing_key(path: &Path) -> Result<TerminalSigningKey, KeyFileError> {
    TerminalSigningKey::from_pem(&read_private_text(path)?).map_err(format_error(path))
}

/// Where a terminal keeps a signing key it retired by rotation: beside the current one, as
/// `NAME.key.retired-` and the first 16 hex digits of the retired key's fingerprint.
pub fn retired_key_path(current: &Path, fingerprint: &str) -> PathBuf {
    let name = current
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    current.with_file_name(format!(
        "{name}.retired-{}",
        fingerprint.get(..16).unwrap_or(fingerprint)
    ))
}

/// The signing keys a terminal retired by rotation (see [`retired_key_path`]); none when there
/// are none. Records signed with them still need them: a reprint derives the same activation
/// code and re-signs the same receipt.
pub fn read_retired_signing_keys(current: &Path) -> Result<Vec<TerminalSigningKey>, KeyFileError> {
    let prefix = format!(
        "{}.retired-",
        current
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let dir = current
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(&prefix))
        })
        .collect();
    paths.sort();
    paths.iter().map(|path| read_signing_key(path)).collect()
}

/// An Ed25519 public key (a terminal's, or the registry's receipt key).
pub fn read_ed25519_public(path: &Path) -> Result<TerminalPublicKey, KeyFileError> {
    TerminalPublicKey::from_pem(&read_text(path)?).map_err(format_error(path))
}

/// The registry's X25519 sealing public key.
pub fn read_sealing_public(path: &Path) -> Result<SealingPublicKey, KeyFileError> {
    SealingPublicKey::from_pem(&read_text(path)?).map_err(format_error(path))
}

/// The registry's X25519 sealing private key.
pub fn read_sealing_private(
    path: &Path,
) -> Result<(SealingPrivateKey, SealingPublicKey), KeyFileError> {
    SealingPrivateKey::from_pem(&read_private_text(path)?).map_err(format_error(path))
}

/// Writes a new file (refusing to replace one); private files get mode 0600, public ones 0644.
pub fn write_new(path: &Path, contents: &str, private: bool) -> Result<(), KeyFileError> {
    let write_error = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            KeyFileError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            KeyFileError::Write {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(path)
        .map_err(write_error)?;
    file.write_all(contents.as_bytes()).map_err(write_error)?;
    file.sync_all().map_err(write_error)
}

/// The files a key pair is written to: `DIR/NAME.key` and `DIR/NAME.pub`.
pub fn pair_paths(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    )
}

/// Refuses early when either file of a pair exists, so no half pair is written.
pub fn ensure_absent(paths: &[&Path]) -> Result<(), KeyFileError> {
    for path in paths {
        if std::fs::symlink_metadata(path).is_ok() {
            return Err(KeyFileError::Exists {
                path: path.to_path_buf(),
            });
        }
    }
    Ok(())
}
