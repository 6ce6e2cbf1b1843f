//! The write policy: the one way minftp writes a file, for the server's uploads and for every
//! file a client saves (`get`, the lab client, the COMP 431 client's `retr_files/fileN`).
//!
//! - A new name, or an existing regular file written from the start: the bytes go to a
//!   temporary file beside it, renamed into place only when complete, so a failed or
//!   interrupted transfer leaves the old file (or nothing). The new file keeps the old one's
//!   permission bits, and its owner and group where the process may set them.
//! - Appending, or continuing at an offset (APPE, REST+STOR, `get --continue`): written in
//!   place, at a cost proportional to the new bytes, and what arrived is kept when the
//!   transfer breaks, so it can be continued again. In-place writers of one file take turns.
//! - A symlink named by a client: the file it points to is written; the link stays a link.
//! - Anything that is not a regular file (a device, a FIFO): a client writes into it directly,
//!   without temporary or rename; the server refuses it.
//! - A read-only file is not replaced; a folder is never a target.
//!
//! Temporary files in flight are registered, so that a signal handler can remove them all
//! before the process exits ([`remove_in_flight_temporaries`]), and a server starting up
//! removes those a killed process left behind ([`remove_stale_temporaries`]).

use std::collections::HashSet;
use std::ffi::CString;
use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::fs_at::{self, Status, c_name};

/// Names of temporary files start with this; server listings hide them.
pub const TEMPORARY_PREFIX: &str = ".minftp-part-";

/// Where a file is written: an open folder and a name in it.
#[derive(Debug)]
pub struct Place {
    pub folder: OwnedFd,
    pub name: CString,
    /// The name as messages show it.
    pub shown: String,
}

impl Place {
    /// The place a client saves `path` to: a symlink is followed to the file it points to
    /// (which may not exist yet), so the link stays a link. A folder is an error.
    pub fn for_local_path(path: &Path) -> io::Result<Place> {
        let mut path = path.to_path_buf();
        // As many links as the kernel follows in one path.
        for _ in 0..40 {
            match fs::symlink_metadata(&path) {
                Ok(metadata) if metadata.file_type().is_symlink() => {
                    let target = fs::read_link(&path)?;
                    path = match path.parent() {
                        Some(folder) if target.is_relative() => folder.join(target),
                        _ => target,
                    };
                }
                Ok(metadata) if metadata.is_dir() => {
                    let message = format!("{} is a folder", path.display());
                    return Err(io::Error::new(io::ErrorKind::IsADirectory, message));
                }
                _ => break,
            }
        }
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{} names no file", path.display())))?;
        let folder_path = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let folder = fs_at::open_folder(folder_path)?;
        Ok(Place { folder, name: c_name(name.as_bytes())?, shown: path.display().to_string() })
    }
}

/// Where the new bytes begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// A whole new file (atomic).
    Fresh,
    /// After the current end of the file (in place); a missing file is created.
    Append,
    /// At this offset of the existing file, which is cut there first (in place).
    At(u64),
}

/// What to do when the target exists and is not a regular file (a device, a FIFO, a socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecialFiles {
    /// Write into it directly (a client asked for it by name: `-o /dev/stdout`).
    WriteInto,
    /// Refuse (the server never writes to anything but regular files).
    Refuse,
}

/// A write in progress. Dropping it without [`Writing::commit`] removes a temporary file;
/// bytes written in place stay.
#[derive(Debug)]
pub struct Writing {
    file: File,
    finish: Finish,
}

#[derive(Debug)]
enum Finish {
    /// Rename the temporary over the name.
    Rename { folder: OwnedFd, temporary: CString, name: CString, replaces: bool, _registration: Registration },
    /// Written in place; nothing to do but let other writers of the file go on.
    InPlace { _turn: WriterTurn },
    /// Written straight into a special file.
    Direct,
}

impl Writing {
    /// Starts writing `place` as `start` says, by the rules of this module.
    pub fn begin(place: Place, start: Start, special: SpecialFiles) -> io::Result<Writing> {
        let status = match fs_at::stat_at(place.folder.as_fd(), &place.name, false) {
            Ok(status) => Some(status),
            Err(err) if err.kind() == io::ErrorKind::NotFound => None,
            Err(err) => return Err(err),
        };
        let refuse = |kind: io::ErrorKind, why: &str| Err(io::Error::new(kind, format!("{} {why}", place.shown)));
        match status {
            None => match start {
                Start::Fresh => Writing::atomic(place, None),
                Start::Append => Writing::in_place(place, start, true),
                Start::At(0) => Writing::in_place(place, start, true),
                Start::At(_) => refuse(io::ErrorKind::InvalidInput, "does not exist, so it cannot be continued"),
            },
            Some(status) if status.is_dir() => refuse(io::ErrorKind::IsADirectory, "is a folder"),
            // Only the server gets here (clients resolve links first): a new upload replaces
            // the link itself, and nothing is ever written through it.
            Some(status) if status.is_symlink() => match start {
                Start::Fresh => Writing::atomic(place, None),
                _ => refuse(io::ErrorKind::PermissionDenied, "is a symlink"),
            },
            Some(status) if status.is_file() => {
                if !fs_at::writable_at(place.folder.as_fd(), &place.name) {
                    return refuse(io::ErrorKind::PermissionDenied, "is read-only; it was not replaced");
                }
                match start {
                    Start::Fresh => Writing::atomic(place, Some(status)),
                    _ => Writing::in_place(place, start, false),
                }
            }
            Some(_) => match special {
                SpecialFiles::WriteInto => Writing::direct(place),
                SpecialFiles::Refuse => refuse(io::ErrorKind::Unsupported, "is not a regular file"),
            },
        }
    }

    /// Starts a client's write of the local `path` (special files are written into). The
    /// first write into a folder also removes what killed minftp processes left there
    /// ([`remove_stale_temporaries_once`]).
    pub fn to_local_path(path: &Path, start: Start) -> io::Result<Writing> {
        let place = Place::for_local_path(path)?;
        let removed = remove_stale_temporaries_once(place.folder.as_fd());
        if removed > 0 {
            let folder = Path::new(&place.shown).parent().filter(|p| !p.as_os_str().is_empty());
            let folder = folder.map_or_else(|| ".".into(), |p| p.display().to_string());
            crate::diag!("removed {removed} unfinished download(s) left in {folder} by a stopped minftp");
        }
        Writing::begin(place, start, SpecialFiles::WriteInto)
    }

    fn atomic(place: Place, replaced: Option<Status>) -> io::Result<Writing> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let unique = format!("{TEMPORARY_PREFIX}{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let temporary = c_name(unique.as_bytes())?;
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
        let fd = fs_at::open_at(place.folder.as_fd(), &temporary, flags, 0o666)?;
        let registration = Registration::new(&place.folder, &temporary)?;
        let file = File::from(fd);
        if let Some(replaced) = replaced {
            fs_at::copy_ownership_and_mode(&file, &replaced);
        }
        let replaces = replaced.is_some();
        let finish =
            Finish::Rename { folder: place.folder, temporary, name: place.name, replaces, _registration: registration };
        Ok(Writing { file, finish })
    }

    fn in_place(place: Place, start: Start, create: bool) -> io::Result<Writing> {
        let mut flags = libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK;
        if start == Start::Append {
            flags |= libc::O_APPEND;
        }
        if create {
            flags |= libc::O_CREAT | libc::O_EXCL;
        }
        let fd = fs_at::open_at(place.folder.as_fd(), &place.name, flags, 0o666)?;
        let opened = fs_at::stat_fd(fd.as_fd())?;
        if !opened.is_file() {
            return Err(io::Error::new(io::ErrorKind::Unsupported, format!("{} is not a regular file", place.shown)));
        }
        // SAFETY: fcntl on a descriptor this function owns; writes to a file never block.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags & libc::O_APPEND) };
        let turn = WriterTurn::wait(opened.identity());
        let mut file = File::from(fd);
        if let Start::At(offset) = start {
            let len = file.metadata()?.len();
            if offset > len {
                let message = format!("{} has {len} bytes; it cannot be continued at {offset}", place.shown);
                return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
            }
            file.set_len(offset)?;
            file.seek(SeekFrom::Start(offset))?;
        }
        Ok(Writing { file, finish: Finish::InPlace { _turn: turn } })
    }

    fn direct(place: Place) -> io::Result<Writing> {
        let fd = fs_at::open_at(place.folder.as_fd(), &place.name, libc::O_WRONLY | libc::O_NOFOLLOW, 0)?;
        Ok(Writing { file: File::from(fd), finish: Finish::Direct })
    }

    /// The file the bytes are written to.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Drops what was written so far and starts again at byte 0 (a download whose server
    /// cannot continue it).
    pub fn restart(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.rewind().map(|_| ())
    }

    /// True when the bytes go to a temporary that replaces the target only at the commit.
    pub fn is_atomic(&self) -> bool {
        matches!(self.finish, Finish::Rename { .. })
    }

    /// True when the commit will replace an existing regular file.
    pub fn replaces_a_file(&self) -> bool {
        matches!(self.finish, Finish::Rename { replaces: true, .. })
    }

    /// Puts the bytes in place: renames a temporary over the name; nothing more to do for
    /// a file written in place or directly.
    pub fn commit(self) -> io::Result<()> {
        let Writing { file, finish } = self;
        drop(file);
        match &finish {
            // Dropping `finish` afterwards removes the temporary if the rename failed.
            Finish::Rename { folder, temporary, name, .. } => {
                fs_at::rename_at(folder.as_fd(), temporary, folder.as_fd(), name)
            }
            Finish::InPlace { .. } | Finish::Direct => Ok(()),
        }
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        // After a commit the temporary name is gone and this finds nothing to remove.
        if let Finish::Rename { folder, temporary, .. } = self {
            let _ = fs_at::unlink_at(folder.as_fd(), temporary, false);
        }
    }
}

/// The temporaries being written now, for [`remove_in_flight_temporaries`].
static IN_FLIGHT: Mutex<Vec<(u64, OwnedFd, CString)>> = Mutex::new(Vec::new());

fn in_flight() -> MutexGuard<'static, Vec<(u64, OwnedFd, CString)>> {
    IN_FLIGHT.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A temporary's entry in [`IN_FLIGHT`], removed when dropped.
#[derive(Debug)]
struct Registration(u64);

impl Registration {
    fn new(folder: &OwnedFd, temporary: &CString) -> io::Result<Registration> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        in_flight().push((id, folder.try_clone()?, temporary.clone()));
        Ok(Registration(id))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        in_flight().retain(|(id, ..)| *id != self.0);
    }
}

/// Removes every temporary file still being written (called on SIGINT, SIGTERM, SIGHUP just
/// before the process exits); returns how many there were.
pub fn remove_in_flight_temporaries() -> usize {
    let mut registered = in_flight();
    let count = registered.len();
    for (_, folder, temporary) in registered.drain(..) {
        let _ = fs_at::unlink_at(folder.as_fd(), &temporary, false);
    }
    count
}

/// The files being written in place now, by device and inode.
static WRITING_IN_PLACE: Mutex<Option<HashSet<(u64, u64)>>> = Mutex::new(None);
static TURN_ENDED: Condvar = Condvar::new();

/// The right to write one file in place, waited for and given back when dropped, so that
/// concurrent APPEs of one file each add their bytes whole.
#[derive(Debug)]
struct WriterTurn((u64, u64));

impl WriterTurn {
    fn wait(identity: (u64, u64)) -> WriterTurn {
        let mut writing = WRITING_IN_PLACE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while writing.get_or_insert_with(HashSet::new).contains(&identity) {
            writing = TURN_ENDED.wait(writing).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        writing.get_or_insert_with(HashSet::new).insert(identity);
        WriterTurn(identity)
    }
}

impl Drop for WriterTurn {
    fn drop(&mut self) {
        let mut writing = WRITING_IN_PLACE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(set) = writing.as_mut() {
            set.remove(&self.0);
        }
        TURN_ENDED.notify_all();
    }
}

/// Removes, under `root`, the temporary files of minftp processes that no longer run
/// (killed with SIGKILL, or by a power loss); returns how many were removed. Symlinks are
/// not followed, and another running minftp's temporaries are left alone.
pub fn remove_stale_temporaries(root: &Path) -> usize {
    let mut removed = 0;
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else { continue };
            let name = entry.file_name();
            if kind.is_dir() {
                folders.push(entry.path());
            } else if kind.is_file() && is_stale_temporary(name.as_bytes()) && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

/// Removes, in the open `folder` alone (not below it), the temporary files of minftp
/// processes that no longer run, the first time this process asks for that folder; returns
/// how many were removed. A client killed with SIGKILL cannot remove its own, and no later
/// download could tell whose they were; a folder is read once, so a tree of many files
/// costs one read per folder.
fn remove_stale_temporaries_once(folder: BorrowedFd<'_>) -> usize {
    static SWEPT: Mutex<Option<HashSet<(u64, u64)>>> = Mutex::new(None);
    let Ok(status) = fs_at::stat_fd(folder) else { return 0 };
    let first = SWEPT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get_or_insert_with(HashSet::new)
        .insert(status.identity());
    if !first {
        return 0;
    }
    let Ok(names) = fs_at::FolderNames::read(folder) else { return 0 };
    names
        .filter(|name| is_stale_temporary(name.to_bytes()))
        .filter(|name| fs_at::stat_at(folder, name, false).is_ok_and(|status| status.is_file()))
        .filter(|name| fs_at::unlink_at(folder, name, false).is_ok())
        .count()
}

/// True for `.minftp-part-PID-N` when process PID no longer exists.
fn is_stale_temporary(name: &[u8]) -> bool {
    let Some(rest) = name.strip_prefix(TEMPORARY_PREFIX.as_bytes()) else { return false };
    let pid = rest.split(|&b| b == b'-').next().and_then(|p| std::str::from_utf8(p).ok()?.parse::<libc::pid_t>().ok());
    match pid {
        Some(pid) if pid > 0 => {
            // SAFETY: kill with signal 0 only checks whether the process exists.
            let rc = unsafe { libc::kill(pid, 0) };
            rc != 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
        }
        _ => false,
    }
}

/// The path a client saves to when it names `path`: inside it, as `name`, when `path` is an
/// existing folder (as cp, wget and lftp do); `path` itself otherwise.
pub fn local_target(path: &Path, name: &str) -> PathBuf {
    if path.is_dir() { path.join(name) } else { path.to_path_buf() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::{FileTypeExt, PermissionsExt, symlink};

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    fn begin(path: &Path, start: Start) -> io::Result<Writing> {
        Writing::to_local_path(path, start)
    }

    #[test]
    fn a_committed_write_replaces_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        fs::write(&target, b"old").unwrap();
        let mut upload = begin(&target, Start::Fresh).unwrap();
        assert!(upload.is_atomic());
        upload.file().write_all(b"new contents").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"old", "the target is untouched until the commit");
        upload.commit().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new contents");
        assert_eq!(names(dir.path()), ["t"]);
    }

    #[test]
    fn a_dropped_write_leaves_the_old_target_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        fs::write(&target, b"old").unwrap();
        let mut upload = begin(&target, Start::Fresh).unwrap();
        upload.file().write_all(b"partial").unwrap();
        drop(upload);
        assert_eq!(fs::read(&target).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["t"]);
    }

    #[test]
    fn a_replacement_keeps_the_old_permission_bits() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        fs::write(&target, b"old").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
        let mut upload = begin(&target, Start::Fresh).unwrap();
        upload.file().write_all(b"new").unwrap();
        upload.commit().unwrap();
        assert_eq!(fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn append_writes_in_place_and_keeps_what_arrived() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        fs::write(&target, b"abc").unwrap();
        let mut upload = begin(&target, Start::Append).unwrap();
        assert!(!upload.is_atomic());
        upload.file().write_all(b"def").unwrap();
        drop(upload);
        assert_eq!(fs::read(&target).unwrap(), b"abcdef", "an interrupted append keeps its bytes");
        assert_eq!(names(dir.path()), ["t"]);
    }

    #[test]
    fn continuing_at_an_offset_cuts_there_and_writes_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        fs::write(&target, b"abcxyz").unwrap();
        let mut upload = begin(&target, Start::At(3)).unwrap();
        upload.file().write_all(b"def").unwrap();
        upload.commit().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"abcdef");
    }

    #[test]
    fn continuing_beyond_the_end_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        fs::write(&target, b"ab").unwrap();
        assert!(begin(&target, Start::At(10)).is_err());
        assert_eq!(fs::read(&target).unwrap(), b"ab");
        assert_eq!(names(dir.path()), ["t"]);
    }

    #[test]
    fn a_symlink_is_written_through_and_stays_a_link() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("real"), b"old").unwrap();
        symlink("real", dir.path().join("link")).unwrap();
        let mut write = begin(&dir.path().join("link"), Start::Fresh).unwrap();
        write.file().write_all(b"new").unwrap();
        write.commit().unwrap();
        assert!(fs::symlink_metadata(dir.path().join("link")).unwrap().file_type().is_symlink());
        assert_eq!(fs::read(dir.path().join("real")).unwrap(), b"new");
    }

    #[test]
    fn a_fifo_is_written_into_directly_by_a_client_and_refused_by_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path inside the test's own folder.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
        let place = Place::for_local_path(&fifo).unwrap();
        assert!(Writing::begin(place, Start::Fresh, SpecialFiles::Refuse).is_err());
        let reader = std::thread::spawn({
            let fifo = fifo.clone();
            move || fs::read(fifo).unwrap()
        });
        let mut write = begin(&fifo, Start::Fresh).unwrap();
        assert!(!write.is_atomic());
        write.file().write_all(b"through the fifo").unwrap();
        write.commit().unwrap();
        assert_eq!(reader.join().unwrap(), b"through the fifo");
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    }

    #[test]
    fn a_folder_is_never_a_target() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Place::for_local_path(dir.path()).unwrap_err().kind(), io::ErrorKind::IsADirectory);
    }

    #[test]
    fn in_flight_temporaries_are_removed_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let write = begin(&dir.path().join("t"), Start::Fresh).unwrap();
        assert_eq!(names(dir.path()).len(), 1);
        assert!(remove_in_flight_temporaries() >= 1);
        assert!(names(dir.path()).is_empty());
        drop(write);
    }

    #[test]
    fn stale_temporaries_are_those_of_processes_that_are_gone() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        // PID 1 is always alive; a PID above pid_max never is.
        let alive = format!("{TEMPORARY_PREFIX}1-0");
        let gone = format!("{TEMPORARY_PREFIX}{}-0", i32::MAX);
        fs::write(dir.path().join(&alive), b"").unwrap();
        fs::write(dir.path().join("sub").join(&gone), b"").unwrap();
        fs::write(dir.path().join("ordinary"), b"").unwrap();
        assert_eq!(remove_stale_temporaries(dir.path()), 1);
        assert!(dir.path().join(&alive).exists());
        assert!(!dir.path().join("sub").join(&gone).exists());
    }

    #[test]
    fn a_folder_as_destination_receives_the_file_under_its_name() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(local_target(dir.path(), "f.bin"), dir.path().join("f.bin"));
        assert_eq!(local_target(&dir.path().join("x"), "f.bin"), dir.path().join("x"));
    }
}
