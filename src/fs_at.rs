//! File-system calls relative to an open folder (`openat`, `fstatat`, `renameat`, ...), so
//! that a path is resolved once and every later step works on what was resolved, never on
//! a path name that could have been swapped meanwhile.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The status of an entry as `fstat`/`fstatat` report it.
#[derive(Clone, Copy)]
pub struct Status(pub libc::stat);

impl Status {
    fn kind(&self) -> libc::mode_t {
        self.0.st_mode & libc::S_IFMT
    }

    pub fn is_file(&self) -> bool {
        self.kind() == libc::S_IFREG
    }

    pub fn is_dir(&self) -> bool {
        self.kind() == libc::S_IFDIR
    }

    pub fn is_symlink(&self) -> bool {
        self.kind() == libc::S_IFLNK
    }

    pub fn len(&self) -> u64 {
        self.0.st_size as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Modification time, seconds since the Unix epoch.
    pub fn modified(&self) -> i64 {
        self.0.st_mtime
    }

    /// Permission bits, setuid/setgid/sticky included.
    pub fn permissions(&self) -> u32 {
        self.0.st_mode & 0o7777
    }

    /// The device and inode: what the entry is, whatever its name.
    pub fn identity(&self) -> (u64, u64) {
        (self.0.st_dev, self.0.st_ino)
    }
}

impl std::fmt::Debug for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Status {{ mode: {:o}, size: {} }}", self.0.st_mode, self.0.st_size)
    }
}

/// Runs a libc call that returns -1 and sets errno on failure, retrying on EINTR.
fn check(mut call: impl FnMut() -> libc::c_int) -> io::Result<libc::c_int> {
    loop {
        let rc = call();
        if rc >= 0 {
            return Ok(rc);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// A name or path as a C string; a NUL byte in it is an invalid name.
pub fn c_name(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a name with a NUL byte"))
}

/// Opens `name` in `folder` (`openat(2)`); `O_CLOEXEC` is always added.
pub fn open_at(folder: BorrowedFd<'_>, name: &CStr, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
    let fd = check(|| unsafe {
        // SAFETY: a valid descriptor and NUL-terminated name for the duration of the call.
        libc::openat(folder.as_raw_fd(), name.as_ptr(), flags | libc::O_CLOEXEC, libc::c_uint::from(mode))
    })?;
    // SAFETY: openat returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens a folder by path, for `*at` calls on its entries.
pub fn open_folder(path: &Path) -> io::Result<OwnedFd> {
    let path = c_name(path.as_os_str().as_bytes())?;
    let fd = check(|| unsafe {
        // SAFETY: a NUL-terminated path for the duration of the call.
        libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC)
    })?;
    // SAFETY: open returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The status of `name` in `folder`; a symlink is described itself unless `follow`.
pub fn stat_at(folder: BorrowedFd<'_>, name: &CStr, follow: bool) -> io::Result<Status> {
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    // SAFETY: all-zero bytes are a valid libc::stat, filled in by the call.
    let mut status: libc::stat = unsafe { std::mem::zeroed() };
    check(|| unsafe {
        // SAFETY: valid descriptor, NUL-terminated name and a stat buffer that outlives the call.
        libc::fstatat(folder.as_raw_fd(), name.as_ptr(), &mut status, flags)
    })?;
    Ok(Status(status))
}

/// The status of an open descriptor.
pub fn stat_fd(fd: BorrowedFd<'_>) -> io::Result<Status> {
    // SAFETY: all-zero bytes are a valid libc::stat, filled in by the call.
    let mut status: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor and a stat buffer that outlives the call.
    check(|| unsafe { libc::fstat(fd.as_raw_fd(), &mut status) })?;
    Ok(Status(status))
}

/// Renames `from` in `from_folder` to `to` in `to_folder`, replacing what is there.
pub fn rename_at(from_folder: BorrowedFd<'_>, from: &CStr, to_folder: BorrowedFd<'_>, to: &CStr) -> io::Result<()> {
    check(|| unsafe {
        // SAFETY: valid descriptors and NUL-terminated names for the duration of the call.
        libc::renameat(from_folder.as_raw_fd(), from.as_ptr(), to_folder.as_raw_fd(), to.as_ptr())
    })
    .map(drop)
}

/// Removes `name` from `folder`: a file (or link), or with `folder_entry` an empty folder.
pub fn unlink_at(folder: BorrowedFd<'_>, name: &CStr, folder_entry: bool) -> io::Result<()> {
    let flags = if folder_entry { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: a valid descriptor and NUL-terminated name for the duration of the call.
    check(|| unsafe { libc::unlinkat(folder.as_raw_fd(), name.as_ptr(), flags) }).map(drop)
}

/// Creates the folder `name` in `folder` (permissions 0777 less the umask, as `mkdir`).
pub fn mkdir_at(folder: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    // SAFETY: a valid descriptor and NUL-terminated name for the duration of the call.
    check(|| unsafe { libc::mkdirat(folder.as_raw_fd(), name.as_ptr(), 0o777) }).map(drop)
}

/// True when this process may write `name` in `folder` (by its effective ids).
pub fn writable_at(folder: BorrowedFd<'_>, name: &CStr) -> bool {
    // SAFETY: a valid descriptor and NUL-terminated name for the duration of the call.
    unsafe { libc::faccessat(folder.as_raw_fd(), name.as_ptr(), libc::W_OK, libc::AT_EACCESS) == 0 }
}

/// Sets a file's permission bits and, where the process may, its owner and group, so a
/// replacement keeps the mode of the file it replaces.
pub fn copy_ownership_and_mode(file: &File, from: &Status) {
    let fd = file.as_raw_fd();
    // SAFETY: fchown/fchmod on an open descriptor; failures (no right to give a file away)
    // leave the file as the process created it, which is all it may do.
    unsafe {
        let _ = libc::fchown(fd, from.0.st_uid, from.0.st_gid);
        // After fchown, because a change of owner clears setuid and setgid bits.
        let _ = libc::fchmod(fd, from.permissions() & 0o1777);
    }
}

/// The names in an open folder (not `.` or `..`), read one at a time.
pub struct FolderNames {
    stream: *mut libc::DIR,
}

// SAFETY: the DIR stream is owned by this value alone and used from one thread at a time.
unsafe impl Send for FolderNames {}

impl FolderNames {
    /// Starts reading the folder `folder` (a duplicate of the descriptor is used).
    pub fn read(folder: BorrowedFd<'_>) -> io::Result<FolderNames> {
        let copy = folder.try_clone_to_owned()?;
        // SAFETY: fdopendir takes ownership of the duplicate on success.
        let stream = unsafe { libc::fdopendir(copy.as_raw_fd()) };
        if stream.is_null() {
            return Err(io::Error::last_os_error());
        }
        std::mem::forget(copy);
        // SAFETY: a valid stream; reading starts from the beginning of the folder.
        unsafe { libc::rewinddir(stream) };
        Ok(FolderNames { stream })
    }
}

impl Iterator for FolderNames {
    type Item = CString;

    fn next(&mut self) -> Option<CString> {
        loop {
            // SAFETY: a valid stream; the entry stays valid until the next readdir call, and
            // its name is copied out before that.
            let entry = unsafe { libc::readdir(self.stream) };
            if entry.is_null() {
                return None;
            }
            // SAFETY: d_name is a NUL-terminated array inside the entry.
            let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
            if name.to_bytes() != b"." && name.to_bytes() != b".." {
                return Some(name.to_owned());
            }
        }
    }
}

impl Drop for FolderNames {
    fn drop(&mut self) {
        // SAFETY: the stream was opened by fdopendir and is closed once, here.
        unsafe { libc::closedir(self.stream) };
    }
}
