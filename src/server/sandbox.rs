//! The served folder as a sandbox, by construction: every file operation of the server
//! resolves its path from an open handle of the root with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS)` (or, where the kernel lacks it, a walk that opens one component at
//! a time without following links), and then works on what it opened with `*at` calls. No
//! path is checked first and opened by name later, so swapping a folder for a symlink
//! between the two cannot lead outside the root.

use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::session::RequestedPath;
use super::vpath::VirtualPath;
use crate::fs_at::{self, Status, c_name};
use crate::write_policy::Place;

/// The root folder: its canonical path (for messages) and an open handle that every
/// resolution starts from.
#[derive(Debug, Clone)]
pub struct Root {
    canonical: PathBuf,
    handle: Arc<OwnedFd>,
}

/// A file opened for sending, with its length at the time it was opened.
#[derive(Debug)]
pub struct OpenedFile {
    pub file: File,
    pub len: u64,
}

/// A folder inside the root, opened.
#[derive(Debug)]
pub struct Folder {
    pub handle: OwnedFd,
    pub path: VirtualPath,
}

/// An entry of a folder inside the root, named but not opened (it may not exist yet): the
/// place to create, remove, rename or write it.
#[derive(Debug)]
pub struct Entry {
    pub folder: OwnedFd,
    pub name: CString,
    pub path: VirtualPath,
}

impl Root {
    /// The folder `dir`, which must exist and be a directory.
    pub fn new(dir: &Path) -> io::Result<Root> {
        let canonical = fs::canonicalize(dir)?;
        if !canonical.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotADirectory, format!("{} is not a folder", dir.display())));
        }
        let handle = fs_at::open_folder(&canonical)?;
        Ok(Root { canonical, handle: Arc::new(handle) })
    }

    pub fn path(&self) -> &Path {
        &self.canonical
    }

    /// The relative path a COMP 431 RETR names (SPEC §3.4): one leading `/` or `\` is
    /// stripped, and what is left must be relative and not empty.
    fn comp431_relative(requested: &[u8]) -> Option<&[u8]> {
        let relative = requested.strip_prefix(b"/").or_else(|| requested.strip_prefix(b"\\")).unwrap_or(requested);
        (!relative.is_empty() && !relative.starts_with(b"/")).then_some(relative)
    }

    /// The one place a relative path is resolved: opened beneath the root handle with
    /// `flags`, never leaving the root (`..` above it, an absolute or outward symlink, a
    /// magic link: all refused). The empty path is the root itself.
    pub fn open_beneath(&self, relative: &[u8], flags: libc::c_int) -> io::Result<OwnedFd> {
        let name = c_name(if relative.is_empty() { b"." } else { relative })?;
        // SAFETY: all-zero bytes are a valid open_how; the fields are set below.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = (flags | libc::O_CLOEXEC) as u64;
        how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
        for _ in 0..16 {
            // SAFETY: a valid descriptor, a NUL-terminated path and an open_how of the size
            // given, all alive for the duration of the call.
            let fd = unsafe {
                libc::syscall(
                    libc::SYS_openat2,
                    self.handle.as_raw_fd(),
                    name.as_ptr(),
                    &how as *const libc::open_how,
                    std::mem::size_of::<libc::open_how>(),
                )
            };
            if fd >= 0 {
                // SAFETY: openat2 returned a new descriptor that nothing else owns.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) });
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                // A rename elsewhere in the tree raced the resolution: try again.
                Some(libc::EAGAIN | libc::EINTR) => continue,
                Some(libc::ENOSYS) => return self.walk_beneath(relative, flags),
                _ => return Err(err),
            }
        }
        Err(io::Error::new(io::ErrorKind::WouldBlock, "the folder kept changing while it was resolved"))
    }

    /// The fallback of [`Root::open_beneath`] for kernels without `openat2`: one component at
    /// a time, never following a symlink (so links inside the root do not work there).
    fn walk_beneath(&self, relative: &[u8], flags: libc::c_int) -> io::Result<OwnedFd> {
        let refused = || io::Error::new(io::ErrorKind::PermissionDenied, "the path leaves the served folder");
        let parts: Vec<&[u8]> = relative.split(|&b| b == b'/').filter(|p| !p.is_empty() && *p != b".").collect();
        let mut folders: Vec<OwnedFd> = Vec::new();
        let folder_flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            if *part == b".." {
                folders.pop().ok_or_else(refused)?;
                if last {
                    return self.reopen(folders.last(), flags);
                }
                continue;
            }
            let current = folders.last().map_or(self.handle.as_fd(), |f| f.as_fd());
            let fd =
                fs_at::open_at(current, &c_name(part)?, if last { flags | libc::O_NOFOLLOW } else { folder_flags }, 0)?;
            if last {
                return Ok(fd);
            }
            folders.push(fd);
        }
        self.reopen(folders.last(), flags)
    }

    /// Opens a folder already held (or the root) again with `flags`.
    fn reopen(&self, folder: Option<&OwnedFd>, flags: libc::c_int) -> io::Result<OwnedFd> {
        let folder = folder.map_or(self.handle.as_fd(), |f| f.as_fd());
        fs_at::open_at(folder, c".", flags, 0)
    }

    /// Opens a regular, readable file inside the root for sending; `None` means 550.
    pub fn open(&self, path: &RequestedPath) -> Option<OpenedFile> {
        let relative = match path {
            RequestedPath::Raw(requested) => Root::comp431_relative(requested)?,
            RequestedPath::Virtual(path) => path.relative(),
        };
        // O_NONBLOCK: opening a FIFO must not hang the session; it is refused below.
        let fd = self.open_beneath(relative, libc::O_RDONLY | libc::O_NONBLOCK).ok()?;
        let status = fs_at::stat_fd(fd.as_fd()).ok()?;
        if !status.is_file() {
            return None;
        }
        // Reads of a regular file never block; clear the flag all the same for sendfile.
        // SAFETY: fcntl on a descriptor this function owns.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, 0) };
        Some(OpenedFile { file: File::from(fd), len: status.len() })
    }

    /// The status of what `path` names (a symlink inside the root is followed).
    pub fn status(&self, path: &VirtualPath) -> Option<Status> {
        let fd = self.open_beneath(path.relative(), libc::O_PATH).ok()?;
        fs_at::stat_fd(fd.as_fd()).ok()
    }

    /// Sets the modification time of the regular file `path` names (MFMT); its access
    /// time is left alone.
    pub fn set_modification_time(&self, path: &VirtualPath, seconds: i64) -> io::Result<()> {
        let fd = self.open_beneath(path.relative(), libc::O_RDONLY | libc::O_NONBLOCK)?;
        if !fs_at::stat_fd(fd.as_fd())?.is_file() {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "not a regular file"));
        }
        let times =
            [libc::timespec { tv_sec: 0, tv_nsec: libc::UTIME_OMIT }, libc::timespec { tv_sec: seconds, tv_nsec: 0 }];
        // SAFETY: futimens on a descriptor this function owns, with two valid timespecs.
        if unsafe { libc::futimens(fd.as_raw_fd(), times.as_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The folder `path` names, opened.
    pub fn folder(&self, path: &VirtualPath) -> Option<Folder> {
        let handle = self.open_beneath(path.relative(), libc::O_RDONLY | libc::O_DIRECTORY).ok()?;
        Some(Folder { handle, path: path.clone() })
    }

    /// The entry `path` names, in its opened folder; never the root itself.
    pub fn entry(&self, path: &VirtualPath) -> Option<Entry> {
        if path.is_root() {
            return None;
        }
        let folder = self.folder(&path.parent())?;
        let name = c_name(path.file_name()).ok()?;
        Some(Entry { folder: folder.handle, name, path: path.clone() })
    }
}

impl Entry {
    /// The entry's own status (a symlink is not followed).
    pub fn status(&self) -> io::Result<Status> {
        fs_at::stat_at(self.folder.as_fd(), &self.name, false)
    }

    pub fn make_folder(&self) -> io::Result<()> {
        fs_at::mkdir_at(self.folder.as_fd(), &self.name)
    }

    /// Removes a file or a link (a folder is refused: use [`Entry::remove_folder`]).
    pub fn remove_file(&self) -> io::Result<()> {
        if self.status()?.is_dir() {
            return Err(io::Error::new(io::ErrorKind::IsADirectory, "a folder is removed with RMD"));
        }
        fs_at::unlink_at(self.folder.as_fd(), &self.name, false)
    }

    pub fn remove_folder(&self) -> io::Result<()> {
        fs_at::unlink_at(self.folder.as_fd(), &self.name, true)
    }

    /// Renames this entry to `to`. A symlink may only be renamed within its own folder: a
    /// relative link moved elsewhere would point somewhere else, perhaps out of the root.
    pub fn rename_to(&self, to: &Entry) -> io::Result<()> {
        if self.status()?.is_symlink() && self.path.parent() != to.path.parent() {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "a symlink may not leave its folder"));
        }
        fs_at::rename_at(self.folder.as_fd(), &self.name, to.folder.as_fd(), &to.name)
    }

    /// Where an upload to this entry is written (see [`crate::write_policy`]).
    pub fn into_place(self) -> Place {
        let shown = String::from_utf8_lossy(self.path.as_bytes()).into_owned();
        Place { folder: self.folder, name: self.name, shown }
    }

    pub fn folder_handle(&self) -> BorrowedFd<'_> {
        self.folder.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    struct Fixture {
        _outside: tempfile::TempDir,
        root: Root,
    }

    /// root/ holds a.txt, sub/b.txt, and links; a secret file sits outside the root.
    fn fixture() -> Fixture {
        let outside = tempfile::tempdir().unwrap();
        let root_dir = outside.path().join("root");
        fs::create_dir_all(root_dir.join("sub")).unwrap();
        fs::write(root_dir.join("a.txt"), b"a").unwrap();
        fs::write(root_dir.join("sub/b.txt"), b"bb").unwrap();
        fs::write(outside.path().join("secret"), b"s").unwrap();
        symlink(outside.path().join("secret"), root_dir.join("link-out")).unwrap();
        symlink(outside.path(), root_dir.join("dir-out")).unwrap();
        symlink("a.txt", root_dir.join("link-in")).unwrap();
        let root = Root::new(&root_dir).unwrap();
        Fixture { _outside: outside, root }
    }

    fn opens(f: &Fixture, path: &str) -> bool {
        f.root.open(&RequestedPath::Raw(path.as_bytes().to_vec())).is_some()
    }

    fn virtual_path(path: &str) -> VirtualPath {
        VirtualPath::root().join(path.as_bytes())
    }

    #[test]
    fn a_plain_file_opens_with_its_length() {
        let f = fixture();
        assert_eq!(f.root.open(&RequestedPath::Raw(b"sub/b.txt".to_vec())).unwrap().len, 2);
    }

    #[test]
    fn one_leading_slash_or_backslash_is_stripped() {
        let f = fixture();
        assert!(opens(&f, "/a.txt"));
        assert!(opens(&f, "\\a.txt"));
    }

    #[test]
    fn two_leading_slashes_are_refused() {
        assert!(!opens(&fixture(), "//a.txt"));
    }

    #[test]
    fn dot_dot_inside_the_root_is_allowed() {
        assert!(opens(&fixture(), "sub/../a.txt"));
    }

    #[test]
    fn dot_dot_leaving_the_root_is_refused() {
        let f = fixture();
        assert!(!opens(&f, "../secret"));
        assert!(!opens(&f, "sub/../../secret"));
        assert!(!opens(&f, "/../secret"));
    }

    #[test]
    fn absolute_paths_do_not_reach_the_real_root() {
        assert!(!opens(&fixture(), "/etc/passwd"));
    }

    #[test]
    fn a_symlink_pointing_out_is_refused() {
        let f = fixture();
        assert!(!opens(&f, "link-out"));
        assert!(!opens(&f, "dir-out/secret"));
    }

    #[test]
    fn a_symlink_staying_inside_is_followed() {
        assert!(opens(&fixture(), "link-in"));
    }

    #[test]
    fn directories_and_missing_files_are_refused() {
        let f = fixture();
        assert!(!opens(&f, "sub"));
        assert!(!opens(&f, "nope"));
        assert!(!opens(&f, "/"));
    }

    #[test]
    fn nul_bytes_are_refused() {
        assert!(!opens(&fixture(), "a.txt\0junk"));
    }

    #[test]
    fn a_fifo_is_refused_without_hanging() {
        let f = fixture();
        let fifo = f.root.path().join("fifo");
        let c_path = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(fifo.as_os_str())).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
        assert!(!opens(&f, "fifo"));
    }

    #[test]
    fn virtual_paths_resolve_inside_the_root_only() {
        let f = fixture();
        assert!(f.root.status(&VirtualPath::root()).is_some_and(|s| s.is_dir()));
        assert!(f.root.status(&virtual_path("sub/b.txt")).is_some_and(|s| s.len() == 2));
        assert!(f.root.status(&virtual_path("link-in")).is_some_and(|s| s.is_file()));
        assert!(f.root.status(&virtual_path("link-out")).is_none());
        assert!(f.root.status(&virtual_path("dir-out")).is_none());
        assert!(f.root.folder(&virtual_path("dir-out")).is_none());
        // ".." above the root stays at the root: /../a.txt is /a.txt.
        assert!(f.root.status(&virtual_path("../a.txt")).is_some());
    }

    #[test]
    fn entries_are_placed_in_existing_folders_inside_the_root() {
        let f = fixture();
        let entry = f.root.entry(&virtual_path("sub/new")).unwrap();
        assert_eq!(entry.name.as_bytes(), b"new");
        // A symlink as the last part is the entry itself, not its target.
        assert!(f.root.entry(&virtual_path("link-out")).unwrap().status().unwrap().is_symlink());
        assert!(f.root.entry(&virtual_path("dir-out/new")).is_none());
        assert!(f.root.entry(&virtual_path("missing/new")).is_none());
        assert!(f.root.entry(&VirtualPath::root()).is_none());
    }

    #[test]
    fn a_symlink_may_be_renamed_only_within_its_folder() {
        let f = fixture();
        symlink("../a.txt", f.root.path().join("sub/up")).unwrap();
        let link = f.root.entry(&virtual_path("sub/up")).unwrap();
        assert!(link.rename_to(&f.root.entry(&virtual_path("moved")).unwrap()).is_err());
        assert!(link.rename_to(&f.root.entry(&virtual_path("sub/renamed")).unwrap()).is_ok());
    }

    #[test]
    fn the_walk_without_openat2_refuses_links_and_dot_dot_above_the_root() {
        let f = fixture();
        let flags = libc::O_RDONLY;
        assert!(f.root.walk_beneath(b"sub/b.txt", flags).is_ok());
        assert!(f.root.walk_beneath(b"sub/../a.txt", flags).is_ok());
        assert!(f.root.walk_beneath(b"../secret", flags).is_err());
        assert!(f.root.walk_beneath(b"link-out", flags).is_err());
        assert!(f.root.walk_beneath(b"dir-out/secret", flags).is_err());
        assert!(f.root.walk_beneath(b"", libc::O_RDONLY | libc::O_DIRECTORY).is_ok());
    }
}
