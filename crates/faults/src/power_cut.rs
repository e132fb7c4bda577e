//! A FUSE passthrough file system that holds every data write in its own memory until the file is
//! synced (`fsync`/`fdatasync`), so that killing its process with SIGKILL is a power cut: what the
//! program above it synced is on the backing directory, what it did not sync is gone.
//!
//! The model, and where it is kinder than a real disk: data writes and truncations are volatile
//! until the file's next sync; metadata (creating, removing, renaming files and directories,
//! permissions) reaches the backing directory at once, as on a journaling file system whose
//! journal commits before the power goes. A sync that the kill interrupts can leave a torn file
//! (some pages written, not others), as a real disk can. It does not reorder writes inside one
//! sync, lose synced data, or tear a page.
//!
//! It does not mount or unmount anything by itself beyond [`mount`]; the harness (tests, the soak)
//! kills the process and detaches the dead mount with `umount -l`.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

/// The unit the volatile cache keeps: a write touches whole pages, a sync writes whole pages.
pub const PAGE_BYTES: u64 = 4096;

/// Attributes are never cached by the kernel: sizes change under it at every cut.
const TTL: Duration = Duration::ZERO;

/// The writes to one file that are not yet durable.
#[derive(Debug)]
pub struct Pending {
    /// Page index → the page's bytes as the program last wrote them (`PAGE_BYTES` long).
    pages: BTreeMap<u64, Vec<u8>>,
    /// The file's length as the program sees it.
    len: u64,
    /// Bytes of the backing file at or beyond this offset read as zero: a truncation not yet synced.
    backing_limit: u64,
}

/// Reads up to `buf.len()` bytes at `offset`, stopping at `limit`; the rest of `buf` stays as it is.
fn read_backing(backing: &File, offset: u64, buf: &mut [u8], limit: u64) -> io::Result<()> {
    let available = usize::try_from(limit.saturating_sub(offset)).unwrap_or(usize::MAX);
    let wanted = buf.len().min(available);
    let mut done = 0;
    while done < wanted {
        let Some(rest) = buf.get_mut(done..wanted) else {
            break;
        };
        let read = backing.read_at(rest, offset + done as u64)?;
        if read == 0 {
            break;
        }
        done += read;
    }
    Ok(())
}

impl Pending {
    /// Nothing pending yet over a backing file of `backing_len` bytes.
    pub fn new(backing_len: u64) -> Pending {
        Pending {
            pages: BTreeMap::new(),
            len: backing_len,
            backing_limit: backing_len,
        }
    }

    /// The file's length as the program sees it.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no page is waiting (a truncation alone may still be).
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    /// Bytes held in memory.
    pub fn held_bytes(&self) -> u64 {
        self.pages.len() as u64 * PAGE_BYTES
    }

    fn page(&mut self, index: u64, backing: &File) -> io::Result<&mut Vec<u8>> {
        if !self.pages.contains_key(&index) {
            let mut page = vec![0u8; PAGE_BYTES as usize];
            read_backing(backing, index * PAGE_BYTES, &mut page, self.backing_limit)?;
            self.pages.insert(index, page);
        }
        self.pages
            .get_mut(&index)
            .ok_or_else(|| io::Error::other("page vanished"))
    }

    /// Writes `data` at `offset` into memory only.
    pub fn write(&mut self, offset: u64, data: &[u8], backing: &File) -> io::Result<()> {
        let mut done = 0usize;
        while done < data.len() {
            let at = offset + done as u64;
            let index = at / PAGE_BYTES;
            let in_page = (at % PAGE_BYTES) as usize;
            let take = (PAGE_BYTES as usize - in_page).min(data.len() - done);
            let page = self.page(index, backing)?;
            if let (Some(to), Some(from)) = (
                page.get_mut(in_page..in_page + take),
                data.get(done..done + take),
            ) {
                to.copy_from_slice(from);
            }
            done += take;
        }
        self.len = self.len.max(offset + data.len() as u64);
        Ok(())
    }

    /// Up to `size` bytes at `offset` as the program sees them.
    pub fn read(&self, offset: u64, size: u32, backing: &File) -> io::Result<Vec<u8>> {
        let end = self.len.min(offset.saturating_add(u64::from(size)));
        if offset >= end {
            return Ok(Vec::new());
        }
        let mut out = vec![0u8; (end - offset) as usize];
        let mut at = offset;
        while at < end {
            let index = at / PAGE_BYTES;
            let in_page = (at % PAGE_BYTES) as usize;
            let take = (PAGE_BYTES - in_page as u64).min(end - at) as usize;
            let from = (at - offset) as usize;
            let Some(to) = out.get_mut(from..from + take) else {
                break;
            };
            match self.pages.get(&index) {
                Some(page) => {
                    if let Some(bytes) = page.get(in_page..in_page + take) {
                        to.copy_from_slice(bytes);
                    }
                }
                None => read_backing(backing, at, to, self.backing_limit)?,
            }
            at += take as u64;
        }
        Ok(out)
    }

    /// Sets the length in memory only; bytes past a shrink read as zero if the file grows again.
    pub fn truncate(&mut self, new_len: u64, backing: &File) -> io::Result<()> {
        if new_len < self.len {
            let first_gone = new_len.div_ceil(PAGE_BYTES);
            self.pages.retain(|index, _| *index < first_gone);
            let in_page = (new_len % PAGE_BYTES) as usize;
            if in_page != 0 {
                let page = self.page(new_len / PAGE_BYTES, backing)?;
                if let Some(tail) = page.get_mut(in_page..) {
                    tail.fill(0);
                }
            }
            self.backing_limit = self.backing_limit.min(new_len);
        }
        self.len = new_len;
        Ok(())
    }

    /// Makes everything durable on `backing` (opened for writing): the sync.
    pub fn write_back(&self, backing: &File) -> io::Result<()> {
        if backing.metadata()?.len() > self.backing_limit {
            backing.set_len(self.backing_limit)?;
        }
        for (index, page) in &self.pages {
            let start = index * PAGE_BYTES;
            if start >= self.len {
                continue;
            }
            let n = (self.len - start).min(PAGE_BYTES) as usize;
            if let Some(bytes) = page.get(..n) {
                backing.write_all_at(bytes, start)?;
            }
        }
        backing.set_len(self.len)?;
        Ok(())
    }
}

/// How much the file system holds and has made durable, for the harness's summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub writes: u64,
    pub syncs: u64,
    pub bytes_synced: u64,
}

struct State {
    by_ino: HashMap<u64, PathBuf>,
    by_path: HashMap<PathBuf, u64>,
    next_ino: u64,
    pending: HashMap<u64, Pending>,
    counters: Counters,
}

impl State {
    fn ino_for(&mut self, relative: &Path) -> u64 {
        if let Some(ino) = self.by_path.get(relative) {
            return *ino;
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.by_ino.insert(ino, relative.to_path_buf());
        self.by_path.insert(relative.to_path_buf(), ino);
        ino
    }

    fn forget_path(&mut self, relative: &Path) {
        if let Some(ino) = self.by_path.remove(relative) {
            self.by_ino.remove(&ino);
            self.pending.remove(&ino);
        }
    }

    /// Moves every path at or under `from` to the same place under `to`.
    fn move_paths(&mut self, from: &Path, to: &Path) {
        let moved: Vec<(PathBuf, u64)> = self
            .by_path
            .iter()
            .filter(|(path, _)| path.starts_with(from))
            .map(|(path, ino)| (path.clone(), *ino))
            .collect();
        for (old, ino) in moved {
            let new = match old.strip_prefix(from) {
                Ok(rest) if rest.as_os_str().is_empty() => to.to_path_buf(),
                Ok(rest) => to.join(rest),
                Err(_) => continue,
            };
            self.by_path.remove(&old);
            self.by_path.insert(new.clone(), ino);
            self.by_ino.insert(ino, new);
        }
    }
}

/// The file system over a backing directory.
pub struct PowerCutFs {
    backing_root: PathBuf,
    state: Mutex<State>,
}

fn kind_of(file_type: fs::FileType) -> FileType {
    FileType::from_std(file_type).unwrap_or(FileType::RegularFile)
}

fn time_of(seconds: i64, nanos: i64) -> SystemTime {
    let nanos = u32::try_from(nanos).unwrap_or(0);
    match u64::try_from(seconds) {
        Ok(s) => UNIX_EPOCH + Duration::new(s, nanos),
        Err(_) => UNIX_EPOCH,
    }
}

impl PowerCutFs {
    /// A file system showing `backing_root` (which must exist).
    pub fn new(backing_root: &Path) -> PowerCutFs {
        let mut state = State {
            by_ino: HashMap::new(),
            by_path: HashMap::new(),
            next_ino: INodeNo::ROOT.0,
            pending: HashMap::new(),
            counters: Counters::default(),
        };
        state.ino_for(Path::new(""));
        PowerCutFs {
            backing_root: backing_root.to_path_buf(),
            state: Mutex::new(state),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-changed in a way that matters
        // more than the panic itself; keep serving.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn full(&self, relative: &Path) -> PathBuf {
        self.backing_root.join(relative)
    }

    fn relative(&self, state: &State, ino: INodeNo) -> Result<PathBuf, Errno> {
        state.by_ino.get(&ino.0).cloned().ok_or(Errno::ENOENT)
    }

    fn attr(&self, state: &State, ino: u64, relative: &Path) -> Result<FileAttr, Errno> {
        let meta = fs::symlink_metadata(self.full(relative))?;
        let size = state.pending.get(&ino).map_or(meta.len(), Pending::len);
        Ok(FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: time_of(meta.atime(), meta.atime_nsec()),
            mtime: time_of(meta.mtime(), meta.mtime_nsec()),
            ctime: time_of(meta.ctime(), meta.ctime_nsec()),
            crtime: UNIX_EPOCH,
            kind: kind_of(meta.file_type()),
            perm: (meta.mode() & 0o7777) as u16,
            nlink: u32::try_from(meta.nlink()).unwrap_or(1),
            uid: meta.uid(),
            gid: meta.gid(),
            rdev: u32::try_from(meta.rdev()).unwrap_or(0),
            blksize: PAGE_BYTES as u32,
            flags: 0,
        })
    }

    fn entry(&self, parent: INodeNo, name: &OsStr) -> Result<FileAttr, Errno> {
        let mut state = self.state();
        let relative = self.relative(&state, parent)?.join(name);
        fs::symlink_metadata(self.full(&relative))?;
        let ino = state.ino_for(&relative);
        self.attr(&state, ino, &relative)
    }

    fn set_size(&self, ino: INodeNo, size: u64) -> Result<(), Errno> {
        let mut state = self.state();
        let relative = self.relative(&state, ino)?;
        let backing = File::open(self.full(&relative))?;
        let backing_len = backing.metadata()?.len();
        let pending = state
            .pending
            .entry(ino.0)
            .or_insert_with(|| Pending::new(backing_len));
        pending.truncate(size, &backing)?;
        Ok(())
    }

    fn sync(&self, ino: INodeNo) -> Result<(), Errno> {
        let mut state = self.state();
        let Some(pending) = state.pending.remove(&ino.0) else {
            return Ok(());
        };
        let relative = self.relative(&state, ino)?;
        let backing = OpenOptions::new().write(true).open(self.full(&relative))?;
        pending.write_back(&backing)?;
        state.counters.syncs += 1;
        state.counters.bytes_synced += pending.held_bytes();
        Ok(())
    }

    /// What has been written and synced so far.
    pub fn counters(&self) -> Counters {
        self.state().counters
    }
}

impl Filesystem for PowerCutFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.entry(parent, name) {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(errno) => reply.error(errno),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let state = self.state();
        let attr = self
            .relative(&state, ino)
            .and_then(|relative| self.attr(&state, ino.0, &relative));
        match attr {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(errno) => reply.error(errno),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let result = (|| -> Result<FileAttr, Errno> {
            let relative = self.relative(&self.state(), ino)?;
            let full = self.full(&relative);
            if let Some(mode) = mode {
                fs::set_permissions(&full, fs::Permissions::from_mode(mode & 0o7777))?;
            }
            if uid.is_some() || gid.is_some() {
                std::os::unix::fs::chown(&full, uid, gid)?;
            }
            if let Some(size) = size {
                self.set_size(ino, size)?;
            }
            let state = self.state();
            self.attr(&state, ino.0, &relative)
        })();
        match result {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(errno) => reply.error(errno),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let truncate = flags.0 & rustix::fs::OFlags::TRUNC.bits() as i32 != 0;
        let result = if truncate {
            self.set_size(ino, 0)
        } else {
            let state = self.state();
            self.relative(&state, ino).map(|_| ())
        };
        match result {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(errno) => reply.error(errno),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let result = (|| -> Result<Vec<u8>, Errno> {
            let state = self.state();
            let relative = self.relative(&state, ino)?;
            let backing = File::open(self.full(&relative))?;
            let data = match state.pending.get(&ino.0) {
                Some(pending) => pending.read(offset, size, &backing)?,
                None => {
                    let mut data = vec![0u8; size as usize];
                    let len = backing.metadata()?.len();
                    let end = len.min(offset.saturating_add(u64::from(size)));
                    data.truncate(end.saturating_sub(offset) as usize);
                    read_backing(&backing, offset, &mut data, len)?;
                    data
                }
            };
            Ok(data)
        })();
        match result {
            Ok(data) => reply.data(&data),
            Err(errno) => reply.error(errno),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let result = (|| -> Result<(), Errno> {
            let mut state = self.state();
            let relative = self.relative(&state, ino)?;
            let backing = File::open(self.full(&relative))?;
            let backing_len = backing.metadata()?.len();
            let pending = state
                .pending
                .entry(ino.0)
                .or_insert_with(|| Pending::new(backing_len));
            pending.write(offset, data, &backing)?;
            state.counters.writes += 1;
            Ok(())
        })();
        match result {
            Ok(()) => reply.written(u32::try_from(data.len()).unwrap_or(u32::MAX)),
            Err(errno) => reply.error(errno),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close(2) is not a sync: nothing becomes durable here.
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.sync(ino) {
            Ok(()) => reply.ok(),
            Err(errno) => reply.error(errno),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let result = (|| -> Result<Vec<(u64, FileType, std::ffi::OsString)>, Errno> {
            let mut state = self.state();
            let relative = self.relative(&state, ino)?;
            let mut names: Vec<(std::ffi::OsString, FileType)> =
                fs::read_dir(self.full(&relative))?
                    .filter_map(Result::ok)
                    .map(|entry| {
                        let kind = entry.file_type().map_or(FileType::RegularFile, kind_of);
                        (entry.file_name(), kind)
                    })
                    .collect();
            names.sort_by(|a, b| a.0.cmp(&b.0));
            let parent = relative
                .parent()
                .map_or(ino.0, |parent| state.ino_for(parent));
            let mut entries = vec![
                (ino.0, FileType::Directory, ".".into()),
                (parent, FileType::Directory, "..".into()),
            ];
            for (name, kind) in names {
                let child = state.ino_for(&relative.join(&name));
                entries.push((child, kind, name));
            }
            Ok(entries)
        })();
        match result {
            Ok(entries) => {
                for (index, (child, kind, name)) in
                    entries.into_iter().enumerate().skip(offset as usize)
                {
                    if reply.add(INodeNo(child), index as u64 + 1, kind, name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(errno) => reply.error(errno),
        }
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // Metadata is durable at once (see the module's model).
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match rustix::fs::statvfs(&self.backing_root) {
            Ok(stat) => reply.statfs(
                stat.f_blocks,
                stat.f_bfree,
                stat.f_bavail,
                stat.f_files,
                stat.f_ffree,
                u32::try_from(stat.f_bsize).unwrap_or(4096),
                u32::try_from(stat.f_namemax).unwrap_or(255),
                u32::try_from(stat.f_frsize).unwrap_or(4096),
            ),
            Err(error) => reply.error(Errno::from(io::Error::from(error))),
        }
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let result = (|| -> Result<FileAttr, Errno> {
            let mut state = self.state();
            let relative = self.relative(&state, parent)?.join(name);
            let exclusive = flags & rustix::fs::OFlags::EXCL.bits() as i32 != 0;
            let mut options = OpenOptions::new();
            options.write(true).mode(mode & !umask & 0o7777);
            if exclusive {
                options.create_new(true);
            } else {
                options.create(true);
            }
            options.open(self.full(&relative))?;
            let ino = state.ino_for(&relative);
            if flags & rustix::fs::OFlags::TRUNC.bits() as i32 != 0 {
                let backing = File::open(self.full(&relative))?;
                let backing_len = backing.metadata()?.len();
                state
                    .pending
                    .entry(ino)
                    .or_insert_with(|| Pending::new(backing_len))
                    .truncate(0, &backing)?;
            }
            self.attr(&state, ino, &relative)
        })();
        match result {
            Ok(attr) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(0),
                FopenFlags::empty(),
            ),
            Err(errno) => reply.error(errno),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let result = (|| -> Result<FileAttr, Errno> {
            let mut state = self.state();
            let relative = self.relative(&state, parent)?.join(name);
            let full = self.full(&relative);
            fs::create_dir(&full)?;
            fs::set_permissions(&full, fs::Permissions::from_mode(mode & !umask & 0o7777))?;
            let ino = state.ino_for(&relative);
            self.attr(&state, ino, &relative)
        })();
        match result {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(errno) => reply.error(errno),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let result = (|| -> Result<(), Errno> {
            let mut state = self.state();
            let relative = self.relative(&state, parent)?.join(name);
            fs::remove_file(self.full(&relative))?;
            state.forget_path(&relative);
            Ok(())
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(errno) => reply.error(errno),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let result = (|| -> Result<(), Errno> {
            let mut state = self.state();
            let relative = self.relative(&state, parent)?.join(name);
            fs::remove_dir(self.full(&relative))?;
            state.forget_path(&relative);
            Ok(())
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(errno) => reply.error(errno),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let result = (|| -> Result<(), Errno> {
            let mut state = self.state();
            let from = self.relative(&state, parent)?.join(name);
            let to = self.relative(&state, newparent)?.join(newname);
            fs::rename(self.full(&from), self.full(&to))?;
            state.forget_path(&to);
            state.move_paths(&from, &to);
            Ok(())
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(errno) => reply.error(errno),
        }
    }
}

/// Mounts a [`PowerCutFs`] of `backing_root` on `mountpoint` and serves it on a background
/// thread; dropping the session unmounts. The caller's process is the one to kill for a cut.
pub fn mount(backing_root: &Path, mountpoint: &Path) -> io::Result<fuser::BackgroundSession> {
    let mut config = fuser::Config::default();
    config.mount_options = vec![
        MountOption::FSName("powercut".to_owned()),
        MountOption::Subtype("powercut".to_owned()),
    ];
    config.acl = fuser::SessionACL::All;
    fuser::spawn_mount(PowerCutFs::new(backing_root), mountpoint, &config)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
mod tests {
    use super::*;

    fn backing(bytes: &[u8]) -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, bytes).unwrap();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        (dir, file)
    }

    fn on_disk(file: &File) -> Vec<u8> {
        let mut bytes = vec![0u8; file.metadata().unwrap().len() as usize];
        file.read_exact_at(&mut bytes, 0).unwrap();
        bytes
    }

    #[test]
    fn a_write_is_seen_at_once_and_reaches_the_disk_only_on_sync() {
        let (_dir, file) = backing(b"old contents");
        let mut pending = Pending::new(12);
        pending.write(4, b"NEW", &file).unwrap();
        assert_eq!(pending.read(0, 100, &file).unwrap(), b"old NEWtents");
        assert_eq!(
            on_disk(&file),
            b"old contents",
            "nothing durable before the sync"
        );
        pending.write_back(&file).unwrap();
        assert_eq!(on_disk(&file), b"old NEWtents");
    }

    #[test]
    fn writes_across_pages_and_past_the_end_grow_the_file_with_zeros_between() {
        let (_dir, file) = backing(b"");
        let mut pending = Pending::new(0);
        let at = PAGE_BYTES * 2 - 2;
        pending.write(at, b"abcd", &file).unwrap();
        assert_eq!(pending.len(), at + 4);
        let all = pending.read(0, u32::MAX, &file).unwrap();
        assert!(all[..at as usize].iter().all(|b| *b == 0));
        assert_eq!(&all[at as usize..], b"abcd");
        pending.write_back(&file).unwrap();
        assert_eq!(on_disk(&file), all);
    }

    #[test]
    fn a_shrink_then_growth_reads_zeros_where_the_old_bytes_were_and_the_sync_agrees() {
        let old = vec![0xAAu8; (PAGE_BYTES * 3) as usize];
        let (_dir, file) = backing(&old);
        let mut pending = Pending::new(old.len() as u64);
        pending.truncate(10, &file).unwrap();
        pending.write(PAGE_BYTES * 2, b"z", &file).unwrap();
        let seen = pending.read(0, u32::MAX, &file).unwrap();
        assert_eq!(seen.len() as u64, PAGE_BYTES * 2 + 1);
        assert!(seen[..10].iter().all(|b| *b == 0xAA));
        assert!(seen[10..(PAGE_BYTES * 2) as usize].iter().all(|b| *b == 0));
        assert_eq!(
            on_disk(&file),
            old,
            "the shrink is not durable before the sync"
        );
        pending.write_back(&file).unwrap();
        assert_eq!(on_disk(&file), seen);
    }

    #[test]
    fn dropping_the_pending_writes_leaves_the_disk_as_the_last_sync_left_it() {
        let (_dir, file) = backing(b"synced");
        let mut pending = Pending::new(6);
        pending.write(0, b"lost!!!!", &file).unwrap();
        pending.truncate(2, &file).unwrap();
        drop(pending); // the power cut
        assert_eq!(on_disk(&file), b"synced");
    }
}
