//! The served folder as a sandbox: every requested path goes through one function that
//! cannot return a file outside the root.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::session::RequestedPath;
use super::vpath::VirtualPath;

/// The root folder, canonical (absolute, no symlinks), so a prefix test is meaningful.
#[derive(Debug, Clone)]
pub struct Root {
    canonical: PathBuf,
}

/// A file opened for sending, with its length at the time it was opened.
#[derive(Debug)]
pub struct OpenedFile {
    pub file: File,
    pub len: u64,
}

impl Root {
    /// The folder `dir`, which must exist and be a directory.
    pub fn new(dir: &Path) -> io::Result<Root> {
        let canonical = fs::canonicalize(dir)?;
        if !canonical.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotADirectory, format!("{} is not a folder", dir.display())));
        }
        Ok(Root { canonical })
    }

    pub fn path(&self) -> &Path {
        &self.canonical
    }

    /// Where a requested path leads, if it stays inside the root and exists (SPEC §3.4).
    ///
    /// One leading `/` or `\` is stripped; what is left must be relative. `..` and
    /// symlinks are resolved by the file system, and the result must still lie in the root.
    pub fn resolve(&self, requested: &[u8]) -> Option<PathBuf> {
        let relative = requested.strip_prefix(b"/").or_else(|| requested.strip_prefix(b"\\")).unwrap_or(requested);
        if relative.is_empty() || relative.starts_with(b"/") {
            return None;
        }
        self.confine(relative)
    }

    /// The one place a relative path becomes a file-system path: resolved by the file system
    /// (`..`, symlinks) and returned only if the result still lies inside the root.
    fn confine(&self, relative: &[u8]) -> Option<PathBuf> {
        if relative.contains(&0) {
            return None;
        }
        let resolved = fs::canonicalize(self.canonical.join(OsStr::from_bytes(relative))).ok()?;
        resolved.starts_with(&self.canonical).then_some(resolved)
    }

    /// Where a virtual path leads, following symlinks, if it exists inside the root.
    pub fn resolve_virtual(&self, path: &VirtualPath) -> Option<PathBuf> {
        if path.is_root() {
            return Some(self.canonical.clone());
        }
        self.confine(path.relative())
    }

    /// The place of a path's last part, not followed if it is a symlink: for creating,
    /// deleting or renaming it. Its folder must exist inside the root; the root itself
    /// is never such a place.
    pub fn resolve_entry(&self, path: &VirtualPath) -> Option<PathBuf> {
        let name = path.file_name();
        if path.is_root() || name.contains(&0) {
            return None;
        }
        let folder = self.resolve_virtual(&path.parent())?;
        folder.is_dir().then(|| folder.join(OsStr::from_bytes(name)))
    }

    /// Opens a regular, readable file inside the root for sending; `None` means 550.
    pub fn open(&self, path: &RequestedPath) -> Option<OpenedFile> {
        let resolved = match path {
            RequestedPath::Raw(requested) => self.resolve(requested)?,
            RequestedPath::Virtual(path) => self.resolve_virtual(path)?,
        };
        // O_NOFOLLOW: a symlink swapped in after resolving is refused, not followed.
        // O_NONBLOCK: opening a FIFO must not hang the session; it is refused below.
        let file =
            OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(resolved).ok()?;
        let metadata = file.metadata().ok()?;
        metadata.is_file().then(|| OpenedFile { file, len: metadata.len() })
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
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
        assert!(!opens(&f, "fifo"));
    }

    #[test]
    fn virtual_paths_resolve_inside_the_root_only() {
        let f = fixture();
        assert_eq!(f.root.resolve_virtual(&VirtualPath::root()).as_deref(), Some(f.root.path()));
        assert!(f.root.resolve_virtual(&virtual_path("sub/b.txt")).is_some());
        assert!(f.root.resolve_virtual(&virtual_path("link-out")).is_none());
        assert!(f.root.resolve_virtual(&virtual_path("dir-out")).is_none());
        // ".." above the root stays at the root: /../a.txt is /a.txt.
        assert!(f.root.resolve_virtual(&virtual_path("../a.txt")).is_some());
    }

    #[test]
    fn entries_are_placed_in_existing_folders_inside_the_root() {
        let f = fixture();
        assert_eq!(f.root.resolve_entry(&virtual_path("sub/new")), Some(f.root.path().join("sub/new")));
        // A symlink as the last part is the entry itself, not its target.
        assert_eq!(f.root.resolve_entry(&virtual_path("link-out")), Some(f.root.path().join("link-out")));
        assert_eq!(f.root.resolve_entry(&virtual_path("dir-out/new")), None);
        assert_eq!(f.root.resolve_entry(&virtual_path("missing/new")), None);
        assert_eq!(f.root.resolve_entry(&VirtualPath::root()), None);
    }
}
