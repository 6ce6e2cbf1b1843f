//! The extended dialect's listings and file facts, read through the sandbox: every entry is
//! looked at with `*at` calls on its opened folder, and a symlink is described only when it
//! leads to something inside the root.

use std::ffi::CStr;
use std::io;
use std::os::fd::AsFd;
use std::time::SystemTime;

use crate::protocol::timestamp::unix_seconds;

use super::listing::{EntryFacts, facts_line, long_line, timestamp};
use super::sandbox::{Folder, Root};
use super::session::ListFormat;
use super::vpath::VirtualPath;
use crate::fs_at::{self, FolderNames, Status};
use crate::protocol::line::escape_controls;
use crate::write_policy::TEMPORARY_PREFIX;

/// A folder holding more entries than this is listed in the order the file system gives,
/// entry by entry, instead of sorted: a listing then costs the same memory however large
/// the folder is.
const SORTED_LISTING_LIMIT: usize = 10_000;

/// What a LIST, NLST, MLSD or STAT names: a folder's entries, or one file.
pub enum Listing {
    Folder(Folder),
    Entry { name: Vec<u8>, facts: EntryFacts },
}

impl Listing {
    /// The listing of `path`; `None` when it names nothing inside the root.
    pub fn open(root: &Root, path: &VirtualPath) -> Option<Listing> {
        let status = root.status(path)?;
        if status.is_dir() {
            return root.folder(path).map(Listing::Folder);
        }
        Some(Listing::Entry { name: path.file_name().to_vec(), facts: EntryFacts::from_status(&status) })
    }

    /// Gives each line of the listing (without line ending) to `line`, in `format`.
    /// Temporary upload files are not shown.
    pub fn each_line(
        &self,
        root: &Root,
        format: ListFormat,
        writable: bool,
        line: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        let now = unix_seconds(SystemTime::now());
        // A name with CR or LF would split into two listing lines: control bytes are escaped.
        let render = |name: &[u8], facts: &EntryFacts| {
            let name = escape_controls(name, false);
            match format {
                ListFormat::Long => long_line(&name, facts, now),
                ListFormat::Names => name.into_owned(),
                ListFormat::Facts => facts_line(&name, facts, writable),
            }
        };
        let folder = match self {
            Listing::Entry { name, facts } => return line(&render(name, facts)),
            Listing::Folder(folder) => folder,
        };
        let mut names = FolderNames::read(folder.handle.as_fd())?.filter(|n| !is_temporary(n));
        let mut first: Vec<_> = names.by_ref().take(SORTED_LISTING_LIMIT).collect();
        if first.len() < SORTED_LISTING_LIMIT {
            first.sort();
        }
        for name in first.into_iter().chain(names) {
            if format == ListFormat::Names {
                // NLST needs no facts: no stat per entry.
                line(&escape_controls(name.to_bytes(), false))?;
                continue;
            }
            // An entry removed meanwhile is simply not listed.
            if let Ok(facts) = folder_entry_facts(root, folder, &name, format) {
                line(&render(name.to_bytes(), &facts))?;
            }
        }
        Ok(())
    }
}

fn is_temporary(name: &CStr) -> bool {
    name.to_bytes().starts_with(TEMPORARY_PREFIX.as_bytes())
}

/// The facts of one entry of a folder. LIST shows a symlink as a link; the others describe
/// what it points to, when that is inside the root, and the link itself otherwise.
fn folder_entry_facts(root: &Root, folder: &Folder, name: &CStr, format: ListFormat) -> io::Result<EntryFacts> {
    let own = fs_at::stat_at(folder.handle.as_fd(), name, false)?;
    if own.is_symlink()
        && format != ListFormat::Long
        && let Some(target) = root.status(&folder.path.join(name.to_bytes()))
    {
        return Ok(EntryFacts::from_status(&target));
    }
    Ok(EntryFacts::from_status(&own))
}

/// The facts of what `path` names (MLST), a symlink followed only inside the root.
pub fn path_facts(root: &Root, path: &VirtualPath) -> Option<EntryFacts> {
    root.status(path).map(|status| EntryFacts::from_status(&status))
}

/// MDTM's `YYYYMMDDHHMMSS` for what `path` names.
pub fn modification_time(root: &Root, path: &VirtualPath) -> Option<String> {
    root.status(path).map(|status| timestamp(status.modified()))
}

/// The size of a regular file (SIZE).
pub fn file_size(root: &Root, path: &VirtualPath) -> Option<u64> {
    root.status(path).filter(Status::is_file).map(|status| status.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn lines(root: &Root, path: &str, format: ListFormat) -> Vec<Vec<u8>> {
        let path = VirtualPath::root().join(path.as_bytes());
        let mut out = Vec::new();
        Listing::open(root, &path)
            .unwrap()
            .each_line(root, format, false, &mut |line| {
                out.push(line.to_vec());
                Ok(())
            })
            .unwrap();
        out
    }

    #[test]
    fn a_folder_listing_is_sorted_and_hides_temporary_uploads() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("b"), b"").unwrap();
        fs::write(dir.path().join("a"), b"").unwrap();
        fs::write(dir.path().join(format!("{TEMPORARY_PREFIX}1-0")), b"").unwrap();
        let root = Root::new(dir.path()).unwrap();
        assert_eq!(lines(&root, "/", ListFormat::Names), [b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn listing_a_file_lists_that_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f"), b"123").unwrap();
        let root = Root::new(dir.path()).unwrap();
        let facts = lines(&root, "f", ListFormat::Facts).concat();
        assert!(facts.starts_with(b"type=file;size=3;"), "{}", String::from_utf8_lossy(&facts));
        assert!(facts.ends_with(b"; f"));
    }

    #[test]
    fn a_link_out_of_the_root_is_described_as_a_link_only() {
        let outer = tempfile::tempdir().unwrap();
        let root_dir = outer.path().join("root");
        fs::create_dir(&root_dir).unwrap();
        fs::write(outer.path().join("secret"), b"a secret of 24 bytes....").unwrap();
        std::os::unix::fs::symlink(outer.path().join("secret"), root_dir.join("out")).unwrap();
        let root = Root::new(&root_dir).unwrap();
        let facts = String::from_utf8(lines(&root, "/", ListFormat::Facts).concat()).unwrap();
        assert!(facts.starts_with("type=OS.unix=slink;"), "{facts}");
        assert!(!facts.contains("size=24"), "{facts}");
    }

    #[test]
    fn a_name_with_cr_lf_is_one_escaped_listing_line() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("evil\r\nforged"), b"").unwrap();
        let root = Root::new(dir.path()).unwrap();
        assert_eq!(lines(&root, "/", ListFormat::Names), [b"evil\\x0d\\x0aforged".to_vec()]);
        for format in [ListFormat::Long, ListFormat::Facts] {
            let listed = lines(&root, "/", format);
            assert_eq!(listed.len(), 1);
            assert!(listed[0].ends_with(b" evil\\x0d\\x0aforged"), "{}", String::from_utf8_lossy(&listed[0]));
        }
    }

    #[test]
    fn a_large_folder_is_listed_whole_without_sorting() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..SORTED_LISTING_LIMIT + 5 {
            fs::write(dir.path().join(i.to_string()), b"").unwrap();
        }
        let root = Root::new(dir.path()).unwrap();
        assert_eq!(lines(&root, "/", ListFormat::Names).len(), SORTED_LISTING_LIMIT + 5);
    }
}
