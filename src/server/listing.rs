//! Directory listing formats: `ls -l` lines for LIST, facts for MLSD/MLST (RFC 3659), and
//! the timestamps of MDTM. Pure functions of an entry's recorded facts.

use crate::fs_at::Status;
pub use crate::protocol::timestamp::{civil_time, parse_timestamp, timestamp};

/// What a listing needs to know of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFacts {
    pub kind: EntryKind,
    pub size: u64,
    /// Modification time, seconds since the Unix epoch.
    pub modified: i64,
    /// Permission bits (the low 12 bits of st_mode).
    pub mode: u32,
    pub links: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
    Other,
}

impl EntryFacts {
    /// The facts of an entry from its status (as `fstat` or `fstatat` gave it).
    pub fn from_status(status: &Status) -> EntryFacts {
        let kind = if status.is_file() {
            EntryKind::File
        } else if status.is_dir() {
            EntryKind::Directory
        } else if status.is_symlink() {
            EntryKind::Symlink
        } else {
            EntryKind::Other
        };
        EntryFacts {
            kind,
            size: status.len(),
            modified: status.modified(),
            mode: status.permissions(),
            links: status.0.st_nlink,
        }
    }
}

/// One `ls -l` line (no line ending). Owner and group are shown as `ftp`: the server does
/// not reveal local account names. Entries of the last half year show the time, older
/// ones the year, as `ls` does.
pub fn long_line(name: &[u8], facts: &EntryFacts, now: i64) -> Vec<u8> {
    let type_char = match facts.kind {
        EntryKind::Directory => 'd',
        EntryKind::Symlink => 'l',
        EntryKind::File => '-',
        EntryKind::Other => '?',
    };
    let mut permissions = String::with_capacity(9);
    for shift in [6, 3, 0] {
        let bits = (facts.mode >> shift) & 7;
        permissions.push(if bits & 4 != 0 { 'r' } else { '-' });
        permissions.push(if bits & 2 != 0 { 'w' } else { '-' });
        permissions.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    let (year, month, day, hour, minute, _) = civil_time(facts.modified);
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let half_year = 183 * 24 * 3600;
    let when =
        if (now - facts.modified).abs() < half_year { format!("{hour:02}:{minute:02}") } else { format!(" {year}") };
    let mut line = format!(
        "{type_char}{permissions} {:>3} ftp      ftp      {:>12} {} {day:>2} {when:>5} ",
        facts.links,
        facts.size,
        MONTHS[month as usize - 1]
    )
    .into_bytes();
    line.extend_from_slice(name);
    line
}

/// RFC 3659 facts and the name: `type=file;size=3;modify=20261121124300;perm=r; name`.
pub fn facts_line(name: &[u8], facts: &EntryFacts, writable: bool) -> Vec<u8> {
    // RFC 3659 §7.5.1: a link the server will not follow, or a device or FIFO, is an
    // OS-specific type with no permissions, so no client tries to download it.
    let (kind, perm) = match (facts.kind, writable) {
        (EntryKind::Directory, false) => ("dir", "el"),
        (EntryKind::Directory, true) => ("dir", "elcmfp"),
        (EntryKind::File, false) => ("file", "r"),
        (EntryKind::File, true) => ("file", "radfw"),
        (EntryKind::Symlink, _) => ("OS.unix=slink", ""),
        (EntryKind::Other, _) => ("OS.unix=special", ""),
    };
    let mut line =
        format!("type={kind};size={};modify={};perm={perm}; ", facts.size, timestamp(facts.modified)).into_bytes();
    line.extend_from_slice(name);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-21 12:43:00 UTC.
    const NOW: i64 = 1_795_264_980;

    fn file(size: u64, modified: i64) -> EntryFacts {
        EntryFacts { kind: EntryKind::File, size, modified, mode: 0o644, links: 1 }
    }

    #[test]
    fn timestamps_are_utc_calendar_times() {
        assert_eq!(timestamp(0), "19700101000000");
        assert_eq!(timestamp(951_782_400), "20000229000000");
        assert_eq!(timestamp(NOW), "20261121124300");
    }

    #[test]
    fn mfmt_timestamps_parse_back_to_the_same_seconds() {
        for seconds in [0, 951_782_400, NOW, 4_102_444_799] {
            assert_eq!(parse_timestamp(timestamp(seconds).as_bytes()), Some(seconds));
        }
        for bad in [&b"20261321000000"[..], b"2026112112430", b"2026-11-21 12:4", b"20260230000000"] {
            assert_eq!(parse_timestamp(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_recent_file_shows_its_time() {
        let line = long_line(b"a.txt", &file(1234, NOW - 60), NOW);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "-rw-r--r--   1 ftp      ftp              1234 Nov 21 12:42 a.txt"
        );
    }

    #[test]
    fn an_old_file_shows_its_year() {
        let line = long_line(b"old", &file(1, 0), NOW);
        assert_eq!(String::from_utf8(line).unwrap(), "-rw-r--r--   1 ftp      ftp                 1 Jan  1  1970 old");
    }

    #[test]
    fn a_directory_line_starts_with_d_and_keeps_spaces_in_names() {
        let facts = EntryFacts { kind: EntryKind::Directory, size: 4096, modified: NOW, mode: 0o755, links: 2 };
        let line = String::from_utf8(long_line(b"my dir", &facts, NOW)).unwrap();
        assert!(line.starts_with("drwxr-xr-x   2 "), "{line}");
        assert!(line.ends_with(" my dir"), "{line}");
    }

    #[test]
    fn mlsd_facts_give_type_size_modify_and_perm() {
        let line = facts_line(b"a.txt", &file(3, NOW), false);
        assert_eq!(line, b"type=file;size=3;modify=20261121124300;perm=r; a.txt");
        let dir = EntryFacts { kind: EntryKind::Directory, size: 0, modified: NOW, mode: 0o755, links: 2 };
        assert!(facts_line(b"d", &dir, true).starts_with(b"type=dir;"));
    }
}
