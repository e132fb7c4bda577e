//! A SQLite VFS shim, `enroll-kiosk-wal`, that hands a commit's WAL frames to the kernel in a few
//! large writes (124 KiB each) instead of two per page (a 24-byte frame header, then the page).
//! It owns only the write-ahead log's write path; every other file, and everything else about the
//! WAL, is the stock `unix` VFS untouched. It does not decide durability: SQLite still decides
//! when to sync.
//!
//! Why: a 300 KB enrollment is 24 WAL frames, and on this kernel each `pwrite` costs ~4 µs of
//! system-call and page-cache overhead, so 48 small writes took about as long as the AEAD over
//! the whole payload. Gathering them makes the commit ~30 µs faster (`scripts/bench.sh outbox`).
//!
//! How: writes to a WAL file that continue the previous one are appended to a buffer owned by
//! the open file; the buffer goes to the real file before anything can observe the
//! file: before `xSync` (so a commit is on disk exactly when SQLite asked, and only then does
//! SQLite publish it in the WAL index for other connections), before any read, size query,
//! truncation or file control, before a write elsewhere in the file, at 4 MiB, and at close. A failed hand-over
//! is reported by the call that caused it (`xSync` on a commit), so SQLite abandons the
//! commit exactly as if the `pwrite` itself had failed.
//!
//! The one requirement: connections using this VFS must run with `synchronous=FULL` (or
//! `EXTRA`), where every commit syncs the WAL before publishing it. [`super::Outbox::open`]
//! sets it before its first write. A process killed with buffered frames loses only frames of a
//! commit that had not returned, which SQLite's WAL recovery already discards.
//!
//! This is one of the crate's two `unsafe` places (the other is the SIMD dispatch in
//! `face::cnn::exec`): SQLite's VFS interface is a C table of function pointers, and rusqlite
//! offers no safe way to provide one. Every block says why it holds.
#![allow(unsafe_code)]

use std::ffi::{CStr, c_int, c_void};
use std::sync::OnceLock;

use libsqlite3_sys as ffi;

/// The name connections pass to `sqlite3_open_v2` to use the shim.
pub const NAME: &CStr = c"enroll-kiosk-wal";

/// Buffered WAL bytes are handed over at the latest when they reach this size (a large
/// transaction, such as a migration, still writes in large pieces instead of growing a buffer).
const MAX_PENDING_BYTES: usize = 4 * 1024 * 1024;

/// The largest write the `unix` VFS takes in one call: `seekAndWriteFd` asserts that a length
/// fits in 17 bits and masks it with `0x1ffff`, so a longer write would come back short and
/// read as a full disk. 31 pages of 4 KiB.
const REAL_WRITE_BYTES: usize = 31 * 4096;
const _: () = assert!(REAL_WRITE_BYTES <= 0x1ffff);

thread_local! {
    /// Writes handed to real WAL files on this thread (SQLite runs a connection's file methods
    /// on the thread that steps its statements), for tests.
    static WAL_WRITES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many writes this thread has handed to real WAL files through the shim so far.
pub fn wal_writes_handed_over() -> u64 {
    WAL_WRITES.with(std::cell::Cell::get)
}

/// Registers the shim (once per process) and returns its name, or SQLite's result code if the
/// `unix` VFS is missing or registration failed.
pub fn register() -> Result<&'static CStr, c_int> {
    static REGISTERED: OnceLock<Result<(), c_int>> = OnceLock::new();
    // SAFETY: runs once; see `register_once`.
    (*REGISTERED.get_or_init(|| unsafe { register_once() })).map(|()| NAME)
}

/// # Safety
/// Must run at most once per process (the `OnceLock` in [`register`] ensures it).
unsafe fn register_once() -> Result<(), c_int> {
    // SAFETY: `sqlite3_vfs_find` initialises SQLite if needed and returns a pointer to a VFS
    // that lives until the process ends (SQLite never frees its built-in VFSes), or null.
    let real = unsafe { ffi::sqlite3_vfs_find(c"unix".as_ptr()) };
    if real.is_null() {
        return Err(ffi::SQLITE_ERROR);
    }
    // SAFETY: `real` is a valid, initialised VFS (checked non-null above).
    let mut vfs: ffi::sqlite3_vfs = unsafe { *real };
    let Ok(shim_bytes) = c_int::try_from(REAL_FILE_OFFSET) else {
        return Err(ffi::SQLITE_ERROR);
    };
    vfs.szOsFile = vfs.szOsFile.saturating_add(shim_bytes);
    vfs.pNext = std::ptr::null_mut();
    vfs.zName = NAME.as_ptr();
    // The other methods are the `unix` VFS's own, which ignore the VFS pointer they are given
    // except through `mxPathname` (copied); only `xOpen` uses `pAppData`, and ours passes
    // the real VFS on.
    vfs.pAppData = real.cast::<c_void>();
    vfs.xOpen = Some(open);
    let vfs: &'static mut ffi::sqlite3_vfs = Box::leak(Box::new(vfs));
    // SAFETY: `vfs` is a complete VFS object that lives for the rest of the process.
    match unsafe { ffi::sqlite3_vfs_register(vfs, 0) } {
        ffi::SQLITE_OK => Ok(()),
        code => Err(code),
    }
}

/// The file object SQLite allocates for a WAL opened through the shim (`szOsFile` bytes):
/// this header, then the real `unix` file at [`REAL_FILE_OFFSET`].
#[repr(C)]
struct WalFile {
    /// SQLite's part: the method table, always [`WAL_METHODS`] once open.
    base: ffi::sqlite3_file,
    /// The buffered writes, owned by this file (from `Box::into_raw`, freed by `close`).
    pending: *mut Pending,
}

/// Where the real file starts inside a [`WalFile`] allocation. SQLite allocates file objects
/// with 8-byte alignment, which `WalFile`'s size keeps for the real file.
const REAL_FILE_OFFSET: usize = std::mem::size_of::<WalFile>();
const _: () = assert!(REAL_FILE_OFFSET.is_multiple_of(8));

/// Writes not yet handed to the real file: `bytes` belong at `offset` onwards.
#[derive(Default)]
struct Pending {
    offset: i64,
    bytes: Vec<u8>,
}

/// The methods of a WAL file opened through the shim. Version 1: SQLite asks a WAL file for
/// neither shared memory nor memory-mapped pages.
static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

/// `xOpen`: WAL files get the shim; every other file is opened by the real VFS straight into
/// SQLite's allocation (which is larger than the real VFS needs), so it is a plain `unix` file.
unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite passes our registered VFS, whose `pAppData` is the real VFS.
    let real_vfs = unsafe { (*vfs).pAppData.cast::<ffi::sqlite3_vfs>() };
    // SAFETY: the real VFS is valid for the life of the process.
    let Some(real_open) = (unsafe { (*real_vfs).xOpen }) else {
        return ffi::SQLITE_CANTOPEN;
    };
    if flags & ffi::SQLITE_OPEN_WAL == 0 {
        // SAFETY: `file` has `szOsFile` bytes, more than the real VFS's own size.
        return unsafe { real_open(real_vfs, name, file, flags, out_flags) };
    }
    let real_file = real_file(file);
    // SAFETY: `real_file` points inside SQLite's allocation with the real VFS's size left.
    let code = unsafe { real_open(real_vfs, name, real_file, flags, out_flags) };
    let shim = file.cast::<WalFile>();
    if code != ffi::SQLITE_OK {
        // SQLite requires `pMethods` to be valid or null after a failed open; the real file
        // cleaned up after itself.
        // SAFETY: `file` is SQLite's allocation for this file object.
        unsafe { (*shim).base.pMethods = std::ptr::null() };
        return code;
    }
    // SAFETY: as above; `pending` is set before the methods that use it.
    unsafe {
        (*shim).pending = Box::into_raw(Box::default());
        (*shim).base.pMethods = &WAL_METHODS;
    }
    ffi::SQLITE_OK
}

/// The real file inside a shim file object.
fn real_file(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    file.cast::<u8>()
        .wrapping_add(REAL_FILE_OFFSET)
        .cast::<ffi::sqlite3_file>()
}

/// The real file's method table.
///
/// # Safety
/// `real` must be an open real file.
unsafe fn real_methods(real: *mut ffi::sqlite3_file) -> Option<&'static ffi::sqlite3_io_methods> {
    // SAFETY: an open file's `pMethods` points to a static table or is null.
    unsafe { (*real).pMethods.as_ref() }
}

/// The shim's buffer and the real file of a file object opened by [`open`].
///
/// # Safety
/// `file` must be a WAL file opened by [`open`] and not yet closed, used by one thread at a
/// time (SQLite calls a file's methods under its connection's lock).
unsafe fn parts<'a>(file: *mut ffi::sqlite3_file) -> (&'a mut Pending, *mut ffi::sqlite3_file) {
    // SAFETY: `open` set `pending` to a live box before installing the methods that call this.
    let pending = unsafe { &mut *(*file.cast::<WalFile>()).pending };
    (pending, real_file(file))
}

/// Hands the buffered bytes to the real file, in as few writes as it takes; empties the
/// buffer either way.
///
/// # Safety
/// `real` must be the open real file the buffer belongs to.
unsafe fn hand_over(pending: &mut Pending, real: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: `real` is open (caller).
    let write = unsafe { real_methods(real) }.and_then(|methods| methods.xWrite);
    let mut code = ffi::SQLITE_OK;
    let mut offset = pending.offset;
    for piece in pending.bytes.chunks(REAL_WRITE_BYTES) {
        // Both fit: a piece is at most REAL_WRITE_BYTES.
        let amount = c_int::try_from(piece.len()).unwrap_or(c_int::MAX);
        let length = i64::try_from(piece.len()).unwrap_or(i64::MAX);
        code = match write {
            // SAFETY: `real` is open; `piece` is valid for `amount` bytes.
            Some(write) => unsafe { write(real, piece.as_ptr().cast(), amount, offset) },
            None => ffi::SQLITE_IOERR_WRITE,
        };
        WAL_WRITES.with(|writes| writes.set(writes.get().saturating_add(1)));
        if code != ffi::SQLITE_OK {
            break;
        }
        offset = offset.saturating_add(length);
    }
    pending.bytes.clear();
    code
}

/// Hands over what is buffered, then runs `then` on the real file's methods.
///
/// # Safety
/// `file` must be a WAL file opened by [`open`] and not yet closed.
unsafe fn after_hand_over(
    file: *mut ffi::sqlite3_file,
    then: impl FnOnce(&ffi::sqlite3_io_methods, *mut ffi::sqlite3_file) -> Option<c_int>,
) -> c_int {
    // SAFETY: caller.
    let (pending, real) = unsafe { parts(file) };
    // SAFETY: `real` is the open file the buffer belongs to.
    match unsafe { hand_over(pending, real) } {
        // SAFETY: caller.
        ffi::SQLITE_OK => unsafe { passing_through(file, then) },
        code => code,
    }
}

/// Runs `then` on the real file's methods without touching the buffer (locks and constants).
///
/// # Safety
/// `file` must be a WAL file opened by [`open`] and not yet closed.
unsafe fn passing_through(
    file: *mut ffi::sqlite3_file,
    then: impl FnOnce(&ffi::sqlite3_io_methods, *mut ffi::sqlite3_file) -> Option<c_int>,
) -> c_int {
    let real = real_file(file);
    // SAFETY: `real` is open (caller).
    unsafe { real_methods(real) }
        .and_then(|methods| then(methods, real))
        .unwrap_or(ffi::SQLITE_IOERR)
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: SQLite calls this only on a file `open` gave these methods.
    let (pending, real) = unsafe { parts(file) };
    let Ok(length) = usize::try_from(amount) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    let buffered = i64::try_from(pending.bytes.len()).unwrap_or(i64::MAX);
    let continues = pending.offset.checked_add(buffered) == Some(offset);
    if pending.bytes.is_empty()
        || !continues
        || pending.bytes.len().saturating_add(length) > MAX_PENDING_BYTES
    {
        // SAFETY: `real` is the open file the buffer belongs to.
        let code = unsafe { hand_over(pending, real) };
        if code != ffi::SQLITE_OK {
            return code;
        }
        pending.offset = offset;
    }
    if length > 0 {
        // SAFETY: SQLite passes `amount` readable bytes at `data`.
        let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), length) };
        pending.bytes.extend_from_slice(bytes);
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite calls this once, on a file `open` gave these methods.
    let (pending, real) = unsafe { parts(file) };
    // SAFETY: `real` is still open.
    let handed = unsafe { hand_over(pending, real) };
    // SAFETY: `real` is open; SQLite never uses a file after closing it.
    let closed = unsafe { passing_through(file, |methods, real| Some(methods.xClose?(real))) };
    // SAFETY: `pending` came from `Box::into_raw` in `open` and is freed only here.
    unsafe {
        let shim = file.cast::<WalFile>();
        drop(Box::from_raw((*shim).pending));
        (*shim).pending = std::ptr::null_mut();
    }
    if handed != ffi::SQLITE_OK {
        handed
    } else {
        closed
    }
}

unsafe extern "C" fn read(
    file: *mut ffi::sqlite3_file,
    data: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: SQLite calls this on a file `open` gave these methods; arguments pass through.
    unsafe { after_hand_over(file, |m, real| Some(m.xRead?(real, data, amount, offset))) }
}

unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    // SAFETY: as for `read`.
    unsafe { after_hand_over(file, |m, real| Some(m.xTruncate?(real, size))) }
}

unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    // SAFETY: as for `read`.
    unsafe { after_hand_over(file, |m, real| Some(m.xSync?(real, flags))) }
}

unsafe extern "C" fn file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    // SAFETY: as for `read`.
    unsafe { after_hand_over(file, |m, real| Some(m.xFileSize?(real, size))) }
}

unsafe extern "C" fn file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    // SAFETY: as for `read`.
    unsafe { after_hand_over(file, |m, real| Some(m.xFileControl?(real, op, arg))) }
}

unsafe extern "C" fn lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    // SAFETY: as for `read`.
    unsafe { passing_through(file, |m, real| Some(m.xLock?(real, level))) }
}

unsafe extern "C" fn unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    // SAFETY: as for `read`.
    unsafe { passing_through(file, |m, real| Some(m.xUnlock?(real, level))) }
}

unsafe extern "C" fn check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    // SAFETY: as for `read`.
    unsafe { passing_through(file, |m, real| Some(m.xCheckReservedLock?(real, out))) }
}

unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: as for `read`.
    unsafe { passing_through(file, |m, real| Some(m.xSectorSize?(real))) }
}

unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: as for `read`.
    unsafe { passing_through(file, |m, real| Some(m.xDeviceCharacteristics?(real))) }
}

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, OpenFlags};

    use super::*;

    const PAGE_BYTES: i64 = 16 * 1024;

    /// A connection through the shim, set up as the outbox sets its own.
    fn through_the_shim(path: &std::path::Path) -> Connection {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
        let connection =
            Connection::open_with_flags_and_vfs(path, flags, register().unwrap()).unwrap();
        connection
            .pragma_update(None, "page_size", PAGE_BYTES)
            .unwrap();
        let mode: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        connection
            .pragma_update(None, "synchronous", "FULL")
            .unwrap();
        connection
            .execute_batch("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, b BLOB)")
            .unwrap();
        connection
    }

    /// A deterministic blob of `len` bytes that differs per `seed`.
    fn blob(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    fn rows(connection: &Connection) -> Vec<(i64, Vec<u8>)> {
        let mut statement = connection
            .prepare("SELECT id, b FROM t ORDER BY id")
            .unwrap();
        statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn integrity(connection: &Connection) -> String {
        connection
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn a_300_kb_commit_reaches_the_wal_in_a_few_writes_instead_of_two_per_page() {
        let dir = tempfile::tempdir().unwrap();
        let connection = through_the_shim(&dir.path().join("outbox.sqlite"));
        let before = wal_writes_handed_over();
        connection
            .execute("INSERT INTO t (b) VALUES (?1)", [blob(300 * 1024, 1)])
            .unwrap();
        let writes = wal_writes_handed_over() - before;
        // ~20 frames of 16 KiB + 24 bytes (~330 KB) are 40 writes through the stock VFS; the
        // shim hands them over in 124 KiB pieces.
        assert!((1..=4).contains(&writes), "{writes} writes for one commit");
    }

    #[test]
    fn what_the_shim_commits_a_stock_connection_reads_at_once_and_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.sqlite");
        let writer = through_the_shim(&path);
        let mut expected = Vec::new();
        for (seed, len) in [(1u8, 300 * 1024), (2, 10), (3, 40_000), (4, 700 * 1024)] {
            let value = blob(len, seed);
            writer
                .execute("INSERT INTO t (b) VALUES (?1)", [&value])
                .unwrap();
            expected.push((i64::from(seed), value));
            // Another connection, through SQLite's own VFS, sees each commit as it returns.
            let reader = Connection::open(&path).unwrap();
            assert_eq!(rows(&reader), expected);
        }
        drop(writer);
        let reopened = Connection::open(&path).unwrap();
        assert_eq!(integrity(&reopened), "ok");
        assert_eq!(rows(&reopened), expected);
    }

    #[test]
    fn a_transaction_that_spills_its_cache_and_rewrites_frames_commits_intact() {
        // With a two-page cache, SQLite writes dirty pages to the WAL before the commit, reads
        // them back and overwrites them in place: writes that do not follow the buffered ones
        // and reads of what is buffered.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.sqlite");
        let mut writer = through_the_shim(&path);
        writer.pragma_update(None, "cache_size", 2).unwrap();
        let transaction = writer.transaction().unwrap();
        for round in 0..3u8 {
            for id in 1..=40i64 {
                transaction
                    .execute(
                        "INSERT INTO t (id, b) VALUES (?1, ?2)
                         ON CONFLICT (id) DO UPDATE SET b = excluded.b",
                        rusqlite::params![id, blob(9_000, round.wrapping_add(id as u8))],
                    )
                    .unwrap();
            }
        }
        transaction.commit().unwrap();
        let expected: Vec<(i64, Vec<u8>)> = (1..=40i64)
            .map(|id| (id, blob(9_000, 2u8.wrapping_add(id as u8))))
            .collect();
        let reader = Connection::open(&path).unwrap();
        assert_eq!(rows(&reader), expected);
        assert_eq!(integrity(&reader), "ok");
    }
}
