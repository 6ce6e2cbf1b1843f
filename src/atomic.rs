//! Atomic file writes: bytes go to a temporary file beside the target, renamed into place
//! only when the transfer completed; dropped otherwise, so no partial file is ever left.
//! Used for the server's uploads and for every file a client saves.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Names of temporary files start with this; server listings hide them.
pub const TEMPORARY_PREFIX: &str = ".minftp-part-";

/// A write in progress. Dropping it without [`AtomicFile::commit`] removes the temporary file.
#[derive(Debug)]
pub struct AtomicFile {
    temporary: PathBuf,
    target: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    /// Starts writing `target` from nothing.
    pub fn create(target: &Path) -> io::Result<AtomicFile> {
        AtomicFile::begin(target, false, 0)
    }

    /// Starts writing `target`. With `append`, or a non-zero restart `offset`, the temporary
    /// file first gets the target's current bytes (up to `offset` when given).
    pub fn begin(target: &Path, append: bool, offset: u64) -> io::Result<AtomicFile> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let folder = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let unique = format!("{TEMPORARY_PREFIX}{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let temporary = folder.join(unique);
        let file = OpenOptions::new().write(true).create_new(true).mode(0o644).open(&temporary)?;
        let mut upload = AtomicFile { temporary, target: target.to_path_buf(), file: Some(file) };
        if append || offset > 0 {
            upload.copy_existing_prefix(if append { None } else { Some(offset) })?;
        }
        Ok(upload)
    }

    /// Copies the current target (all of it, or its first `limit` bytes) into the upload.
    fn copy_existing_prefix(&mut self, limit: Option<u64>) -> io::Result<()> {
        let file = self.file.as_mut().expect("the file is held until committed");
        match File::open(&self.target) {
            Ok(mut existing) => {
                io::copy(&mut existing, file)?;
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        if let Some(limit) = limit {
            let len = file.metadata()?.len();
            if limit > len {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "restart offset beyond the end of the file"));
            }
            file.set_len(limit)?;
        }
        file.seek(SeekFrom::End(0))?;
        Ok(())
    }

    /// The temporary file the bytes are written to.
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("the file is held until committed")
    }

    /// Closes the temporary file and renames it over the target.
    pub fn commit(mut self) -> io::Result<()> {
        drop(self.file.take());
        fs::rename(&self.temporary, &self.target)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // After a commit the temporary name is gone and this finds nothing to remove.
        let _ = fs::remove_file(&self.temporary);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_committed_upload_replaces_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        fs::write(&target, b"old").unwrap();
        let mut upload = AtomicFile::begin(&target, false, 0).unwrap();
        upload.file().write_all(b"new contents").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"old", "the target is untouched until the commit");
        upload.commit().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new contents");
        assert_eq!(names(dir.path()), ["t"]);
    }

    #[test]
    fn a_dropped_upload_leaves_the_old_target_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        fs::write(&target, b"old").unwrap();
        let mut upload = AtomicFile::begin(&target, false, 0).unwrap();
        upload.file().write_all(b"partial").unwrap();
        drop(upload);
        assert_eq!(fs::read(&target).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["t"]);
    }

    #[test]
    fn append_starts_from_the_current_contents() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        fs::write(&target, b"abc").unwrap();
        let mut upload = AtomicFile::begin(&target, true, 0).unwrap();
        upload.file().write_all(b"def").unwrap();
        upload.commit().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"abcdef");
    }

    #[test]
    fn restart_keeps_the_first_offset_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        fs::write(&target, b"abcxyz").unwrap();
        let mut upload = AtomicFile::begin(&target, false, 3).unwrap();
        upload.file().write_all(b"def").unwrap();
        upload.commit().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"abcdef");
    }

    #[test]
    fn restart_beyond_the_end_is_refused_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        fs::write(&target, b"ab").unwrap();
        assert!(AtomicFile::begin(&target, false, 10).is_err());
        assert_eq!(names(dir.path()), ["t"]);
    }
}
