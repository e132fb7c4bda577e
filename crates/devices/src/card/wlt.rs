//! Turning the resident card's WLT photo into a bitmap, where the site has a vendor decoder: either
//! not at all ([`WltDecoder::None`], the photo stays `Photo::Undecoded { Wlt }` and the record says
//! "photo not decodable on this terminal"), or by running a configured helper process
//! (`helper < in.wlt > out.bmp`) with a timeout. The kiosk never links proprietary decoders; it does
//! not know the WLT format.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bytes a decoded photo starts with (Windows bitmap).
pub const BMP_MAGIC: &[u8; 2] = b"BM";

/// Largest helper output accepted: a 102 × 126 BGR bitmap is about 38.6 KB.
pub const MAX_BITMAP_BYTES: usize = 4 * 1024 * 1024;

/// How the terminal handles WLT photos.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum WltDecoder {
    /// No decoder on this terminal: the WLT bytes are kept as evidence, undecoded.
    #[default]
    None,
    /// A helper that reads WLT on stdin and writes a BMP on stdout.
    ExternalCommand {
        /// The helper executable.
        path: PathBuf,
        /// How long it may run before it is killed.
        timeout: Duration,
    },
    /// The emulator's stand-in for a decoder (demo and tests only): the emulated card's fake WLT
    /// stands for a known picture, and every WLT "decodes" to that picture's bitmap. Built only
    /// for the `sam-emulator` backend, never for a real reader.
    Emulated {
        /// The bitmap (BMP bytes) of the emulated card's photo.
        bitmap: Vec<u8>,
    },
}

/// Why the helper did not produce a bitmap. No photo bytes are ever part of the message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WltDecodeError {
    /// The helper could not be started.
    #[error("the wlt decoder {path} could not be started ({reason}); check the configured path")]
    Spawn {
        /// The helper.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The helper ran longer than allowed and was killed.
    #[error("the wlt decoder ran longer than {timeout_ms} ms and was stopped; check the helper")]
    Timeout {
        /// The limit.
        timeout_ms: u128,
    },
    /// The helper exited with a failure status.
    #[error("the wlt decoder failed ({status}); check the helper and its licence")]
    Failed {
        /// The exit status as text.
        status: String,
    },
    /// The helper's output is not a bitmap.
    #[error("the wlt decoder produced {len} bytes that are not a bmp image; check the helper")]
    NotBitmap {
        /// Output length.
        len: usize,
    },
    /// Reading or writing the helper's pipes failed.
    #[error("talking to the wlt decoder failed ({reason})")]
    Io {
        /// What failed.
        reason: String,
    },
}

impl std::fmt::Debug for WltDecoder {
    // By hand: the emulated photo's bytes are a face picture and stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::ExternalCommand { path, timeout } => f
                .debug_struct("ExternalCommand")
                .field("path", path)
                .field("timeout", timeout)
                .finish(),
            Self::Emulated { bitmap } => write!(f, "Emulated({} bytes)", bitmap.len()),
        }
    }
}

impl WltDecoder {
    /// Decodes `wlt` into a BMP, or `Ok(None)` when this terminal has no decoder.
    pub fn decode(&self, wlt: &[u8]) -> Result<Option<Vec<u8>>, WltDecodeError> {
        match self {
            Self::None => Ok(None),
            Self::ExternalCommand { path, timeout } => run_helper(path, *timeout, wlt).map(Some),
            Self::Emulated { bitmap } => Ok(Some(bitmap.clone())),
        }
    }
}

fn io_error(error: &std::io::Error) -> WltDecodeError {
    WltDecodeError::Io {
        reason: error.to_string(),
    }
}

fn run_helper(path: &PathBuf, timeout: Duration, wlt: &[u8]) -> Result<Vec<u8>, WltDecodeError> {
    let mut child = Command::new(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| WltDecodeError::Spawn {
            path: path.display().to_string(),
            reason: error.to_string(),
        })?;
    let started = Instant::now();
    // Feed stdin and drain stdout on their own threads so a helper that blocks on either pipe can
    // still be timed out and killed.
    let stdin = child.stdin.take();
    let input = wlt.to_vec();
    let writer = std::thread::Builder::new()
        .name("wlt-decoder-stdin".into())
        .spawn(move || {
            if let Some(mut stdin) = stdin {
                // A helper that exits without reading everything closes the pipe: not our error.
                let _ = stdin.write_all(&input);
            }
        })
        .map_err(|error| io_error(&error))?;
    let stdout = child.stdout.take();
    let reader = std::thread::Builder::new()
        .name("wlt-decoder-stdout".into())
        .spawn(move || -> std::io::Result<Vec<u8>> {
            let mut output = Vec::new();
            if let Some(stdout) = stdout {
                stdout
                    .take(MAX_BITMAP_BYTES as u64 + 1)
                    .read_to_end(&mut output)?;
            }
            Ok(output)
        })
        .map_err(|error| io_error(&error))?;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                // The pipe threads are left to finish on their own: a grandchild of the helper
                // may still hold its stdout, and waiting for it would defeat the timeout.
                let _ = child.kill();
                let _ = child.wait();
                drop((writer, reader));
                tracing::warn!(
                    timeout_ms = timeout.as_millis(),
                    "wlt decoder timed out and was killed"
                );
                return Err(WltDecodeError::Timeout {
                    timeout_ms: timeout.as_millis(),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(error) => {
                let _ = child.kill();
                return Err(io_error(&error));
            }
        }
    };
    let _ = writer.join();
    let output = reader
        .join()
        .map_err(|_| WltDecodeError::Io {
            reason: "the output reader stopped unexpectedly".into(),
        })?
        .map_err(|error| io_error(&error))?;
    if !status.success() {
        return Err(WltDecodeError::Failed {
            status: status.to_string(),
        });
    }
    if output.len() > MAX_BITMAP_BYTES || !output.starts_with(BMP_MAGIC) {
        return Err(WltDecodeError::NotBitmap { len: output.len() });
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &tempfile::TempDir, body: &str) -> PathBuf {
        let path = dir.path().join("wlt2bmp");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn fake_wlt() -> Vec<u8> {
        let mut wlt = b"WLf".to_vec();
        wlt.resize(1024, 7);
        wlt
    }

    #[test]
    fn no_decoder_keeps_the_photo_undecoded() {
        assert_eq!(WltDecoder::None.decode(&fake_wlt()), Ok(None));
    }

    #[test]
    fn external_decoder_output_becomes_the_bitmap() {
        let dir = tempfile::tempdir().unwrap();
        // Consumes the WLT and prints a tiny "bitmap" that says how many bytes it got.
        let path = script(&dir, "n=$(wc -c); printf 'BM%s' \"$n\"");
        let decoder = WltDecoder::ExternalCommand {
            path,
            timeout: Duration::from_secs(5),
        };
        let bitmap = decoder.decode(&fake_wlt()).unwrap().unwrap();
        assert_eq!(String::from_utf8(bitmap).unwrap().trim(), "BM1024");
    }

    #[test]
    fn hanging_decoder_is_killed_at_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        // Not `exec`: the shell's child keeps the pipes open after the shell is killed.
        let path = script(&dir, "sleep 30; echo late");
        let decoder = WltDecoder::ExternalCommand {
            path,
            timeout: Duration::from_millis(300),
        };
        let started = Instant::now();
        assert_eq!(
            decoder.decode(&fake_wlt()),
            Err(WltDecodeError::Timeout { timeout_ms: 300 })
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn failing_or_non_bitmap_decoder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let failing = WltDecoder::ExternalCommand {
            path: script(&dir, "exit 3"),
            timeout: Duration::from_secs(5),
        };
        assert!(matches!(
            failing.decode(&fake_wlt()),
            Err(WltDecodeError::Failed { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        let garbage = WltDecoder::ExternalCommand {
            path: script(&dir, "cat >/dev/null; echo hello"),
            timeout: Duration::from_secs(5),
        };
        assert_eq!(
            garbage.decode(&fake_wlt()),
            Err(WltDecodeError::NotBitmap { len: 6 })
        );
        let missing = WltDecoder::ExternalCommand {
            path: PathBuf::from("/nonexistent/wlt2bmp"),
            timeout: Duration::from_secs(5),
        };
        assert!(matches!(
            missing.decode(&fake_wlt()),
            Err(WltDecodeError::Spawn { .. })
        ));
    }
}
