//! The kiosk's own log file: opening it for appending (mode 0600, the previous file kept as
//! `.1` once it grows past [`ROTATE_BYTES`]) and reading its recent tail for the diagnostic
//! bundle. It does not decide what is logged (nothing personal ever is) or format lines.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A log file larger than this is moved to `.1` (replacing the older one) when a kiosk process
/// starts.
pub const ROTATE_BYTES: u64 = 8 * 1024 * 1024;

/// The rotated previous log beside `path`.
pub fn previous_file(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".1");
    path.with_file_name(name)
}

/// Opens `path` for appending, rotating it first when it has grown past [`ROTATE_BYTES`]. The
/// folder must exist: a missing one is reported, not created.
pub fn open_log_file(path: &Path) -> io::Result<File> {
    if std::fs::metadata(path).is_ok_and(|meta| meta.len() > ROTATE_BYTES) {
        std::fs::rename(path, previous_file(path))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// At most the last `max_bytes` of `path`, starting at a whole line; empty when there is no
/// such file.
pub fn tail(path: &Path, max_bytes: u64) -> io::Result<String> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(String::new()),
        Err(error) => return Err(error),
    };
    let length = file.metadata()?.len();
    let start = length.saturating_sub(max_bytes);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(max_bytes).read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let text = if start > 0 {
        // The first line was cut: drop it.
        text.split_once('\n').map_or("", |(_, rest)| rest)
    } else {
        &text
    };
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is a failed test

    use super::*;
    use std::io::Write;

    #[test]
    fn a_tail_starts_at_a_whole_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kiosk.log");
        std::fs::write(&path, "first line\nsecond line\nthird\n").unwrap();
        assert_eq!(
            tail(&path, 100).unwrap(),
            "first line\nsecond line\nthird\n"
        );
        assert_eq!(tail(&path, 15).unwrap(), "third\n");
        assert_eq!(tail(&dir.path().join("none.log"), 15).unwrap(), "");
    }

    #[test]
    fn a_large_log_is_moved_aside_and_a_new_one_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kiosk.log");
        let big = vec![b'x'; usize::try_from(ROTATE_BYTES).unwrap() + 1];
        std::fs::write(&path, big).unwrap();
        let mut file = open_log_file(&path).unwrap();
        writeln!(file, "fresh").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "fresh\n");
        assert!(std::fs::metadata(previous_file(&path)).unwrap().len() > ROTATE_BYTES);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
