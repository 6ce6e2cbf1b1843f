//! The extended dialect's file-system work: listings, file facts, and the changes
//! `--writable` allows. Every path arrives already confined by the sandbox.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use super::listing::{EntryFacts, facts_line, long_line, timestamp};
use super::session::ListFormat;
use crate::atomic::TEMPORARY_PREFIX;

/// The facts of an entry, following a symlink when its target can be read.
pub fn entry_facts(path: &Path) -> io::Result<EntryFacts> {
    let metadata = fs::metadata(path).or_else(|_| fs::symlink_metadata(path))?;
    Ok(EntryFacts::from_metadata(&metadata))
}

/// A listing of `path` (a folder's entries sorted by name, or the one file) in `format`,
/// each line ending in CR LF, as sent on a data connection.
pub fn listing(path: &Path, format: ListFormat, writable: bool) -> io::Result<Vec<u8>> {
    let lines = listing_lines(path, format, writable)?;
    let mut out = Vec::with_capacity(lines.iter().map(|line| line.len() + 2).sum());
    for line in &lines {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    Ok(out)
}

/// The lines of a listing, without line endings (STAT sends them on the control
/// connection). Temporary upload files are not shown.
pub fn listing_lines(path: &Path, format: ListFormat, writable: bool) -> io::Result<Vec<Vec<u8>>> {
    let mut entries: Vec<(Vec<u8>, EntryFacts)> = Vec::new();
    if fs::metadata(path)?.is_dir() {
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            let name = entry.file_name().as_bytes().to_vec();
            if name.starts_with(TEMPORARY_PREFIX.as_bytes()) {
                continue;
            }
            // LIST shows a symlink as a link; the others describe what it points to.
            let facts = match format {
                ListFormat::Long => entry.metadata().map(|m| EntryFacts::from_metadata(&m)),
                _ => entry_facts(&entry.path()),
            };
            if let Ok(facts) = facts {
                entries.push((name, facts));
            }
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
    } else {
        let name = path.file_name().map_or_else(Vec::new, |n| n.as_bytes().to_vec());
        entries.push((name, entry_facts(path)?));
    }
    let now = unix_seconds(SystemTime::now());
    Ok(entries
        .into_iter()
        .map(|(name, facts)| match format {
            ListFormat::Long => long_line(&name, &facts, now),
            ListFormat::Names => name,
            ListFormat::Facts => facts_line(&name, &facts, writable),
        })
        .collect())
}

/// MDTM's `YYYYMMDDHHMMSS` for a file.
pub fn modification_time(path: &Path) -> io::Result<String> {
    Ok(timestamp(unix_seconds(fs::metadata(path)?.modified()?)))
}

fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs() as i64,
        Err(before) => -(before.duration().as_secs() as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_listing_is_sorted_and_hides_temporary_uploads() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("b"), b"").unwrap();
        fs::write(dir.path().join("a"), b"").unwrap();
        fs::write(dir.path().join(format!("{TEMPORARY_PREFIX}1-0")), b"").unwrap();
        let names = listing(dir.path(), ListFormat::Names, false).unwrap();
        assert_eq!(names, b"a\r\nb\r\n");
    }

    #[test]
    fn listing_a_file_lists_that_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f"), b"123").unwrap();
        let facts = listing(&dir.path().join("f"), ListFormat::Facts, false).unwrap();
        assert!(facts.starts_with(b"type=file;size=3;"), "{}", String::from_utf8_lossy(&facts));
        assert!(facts.ends_with(b"; f\r\n"));
    }
}
