//! `powercut-fs BACKING MOUNTPOINT`: mounts the power-cut file system (see
//! `enroll_faults::power_cut`) and serves it until killed. It prints `mounted` once the mount is in
//! place. SIGKILL is the power cut; the harness then runs `umount -l MOUNTPOINT`.

#![forbid(unsafe_code)]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [backing, mountpoint] = args.as_slice() else {
        let _ = writeln!(
            std::io::stderr(),
            "usage: powercut-fs BACKING MOUNTPOINT (both directories must exist)"
        );
        return ExitCode::from(2);
    };
    let session = match enroll_faults::power_cut::mount(backing, mountpoint) {
        Ok(session) => session,
        Err(error) => {
            let _ = writeln!(
                std::io::stderr(),
                "cannot mount {} on {}: {error} (FUSE needs /dev/fuse and root)",
                backing.display(),
                mountpoint.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    if writeln!(stdout, "mounted")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    match session.join() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "the file system stopped: {error}");
            ExitCode::FAILURE
        }
    }
}
