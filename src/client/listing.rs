//! Remote listings made uniform: MLSD facts (RFC 3659) and the `LIST` layouts servers send
//! (Unix `ls -l`, Windows/IIS `MM-DD-YY  HH:MMPM  <DIR>`) parsed into one [`RemoteEntry`],
//! shell-style name patterns, and the forms `minftp ls` prints (names, long lines, JSON).

use crate::protocol::timestamp::{civil_time, date_and_minute, parse_timestamp, seconds_from_civil};

/// What a listed name is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteKind {
    File,
    Directory,
    /// A symbolic link, with its target when the listing gives it.
    Symlink(Option<Vec<u8>>),
    /// A device, FIFO or anything else no client should fetch.
    Other,
}

/// How exact a listed modification time is: MLSD gives seconds, `ls -l` minutes (recent
/// files) or days (older ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Second,
    Minute,
    Day,
}

impl Precision {
    pub fn seconds(self) -> i64 {
        match self {
            Precision::Second => 1,
            Precision::Minute => 60,
            Precision::Day => 86_400,
        }
    }
}

/// A modification time in seconds since the epoch (UTC), with its precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modified {
    pub seconds: i64,
    pub precision: Precision,
}

impl Modified {
    /// `2026-11-29 12:34` (UTC), the day alone when the listing gave no time of day.
    pub fn display(&self) -> String {
        let shown = date_and_minute(self.seconds);
        match self.precision {
            // The date, and spaces where the time would be, so that columns line up.
            Precision::Day => format!("{}      ", &shown[..10]),
            _ => shown,
        }
    }

    /// RFC 3339, to the precision the server gave.
    pub fn rfc3339(&self) -> String {
        let (year, month, day, hour, minute, second) = civil_time(self.seconds);
        match self.precision {
            Precision::Day => format!("{year:04}-{month:02}-{day:02}"),
            _ => format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z"),
        }
    }

    /// Whether a copy modified at `other` (seconds) is at least as new as this, within this
    /// time's precision (a minute-precise listing cannot tell 12:34:10 from 12:34:50).
    pub fn not_newer_than(&self, other: i64) -> bool {
        other + self.precision.seconds() > self.seconds
    }
}

/// `YYYYMMDDHHMMSS[.sss]` (UTC), as MLSD's modify fact and MDTM's reply give it; the
/// fraction is dropped.
pub fn parse_modify(text: &[u8]) -> Option<Modified> {
    let whole = text.split(|&b| b == b'.').next().unwrap_or(text);
    parse_timestamp(whole).map(|seconds| Modified { seconds, precision: Precision::Second })
}

/// A remote path's folder and last name: `("d/e", "f")` for `d/e/f`, `("/", "f")` for
/// `/f`, `("", "f")` for `f` (the login folder); a trailing `/` is ignored.
pub fn split_remote(path: &str) -> (&str, &str) {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", last)) => ("/", last),
        Some((parent, last)) => (parent, last),
        None => ("", path.trim_end_matches('/')),
    }
}

/// One entry of a remote folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    /// The name as the server sent it (any bytes but `/`, CR and LF).
    pub name: Vec<u8>,
    pub kind: RemoteKind,
    pub size: Option<u64>,
    pub modified: Option<Modified>,
}

impl RemoteEntry {
    /// The name as UTF-8, when it is (FTP commands are sent as text).
    pub fn utf8_name(&self) -> Option<&str> {
        std::str::from_utf8(&self.name).ok()
    }

    /// Whether the name can be one component of a local path: not empty, `.` or `..`, and
    /// without `/` or NUL. A hostile server's `../../.bashrc` is refused by this.
    pub fn is_safe_name(&self) -> bool {
        is_safe_component(&self.name)
    }
}

/// See [`RemoteEntry::is_safe_name`].
pub fn is_safe_component(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.iter().any(|&b| b == b'/' || b == 0)
}

/// Parses a whole MLSD or LIST reply (`mlsd` says which), skipping `.`, `..`, `total N`
/// and lines that are not entries. `now` (seconds) places `ls -l` dates that have no year.
pub fn parse_listing(bytes: &[u8], mlsd: bool, now: i64) -> Vec<RemoteEntry> {
    bytes
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty())
        .filter_map(|line| if mlsd { parse_mlsd_line(line) } else { parse_list_line(line, now) })
        .filter(|entry| entry.name != b"." && entry.name != b"..")
        .collect()
}

/// `type=file;size=3;modify=20261121124300;perm=r; name` (RFC 3659 §7). The current and
/// parent folders (`cdir`, `pdir`) are not entries.
pub fn parse_mlsd_line(line: &[u8]) -> Option<RemoteEntry> {
    let space = line.iter().position(|&b| b == b' ')?;
    let (facts, name) = (&line[..space], &line[space + 1..]);
    let mut entry = RemoteEntry { name: name.to_vec(), kind: RemoteKind::Other, size: None, modified: None };
    let mut kind = None;
    for fact in facts.split(|&b| b == b';').filter(|f| !f.is_empty()) {
        let Some(eq) = fact.iter().position(|&b| b == b'=') else { continue };
        let (key, value) = (fact[..eq].to_ascii_lowercase(), &fact[eq + 1..]);
        match key.as_slice() {
            b"type" => kind = Some(value.to_ascii_lowercase()),
            b"size" | b"sizd" => entry.size = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()),
            b"modify" => entry.modified = parse_modify(value),
            _ => {}
        }
    }
    entry.kind = match kind?.as_slice() {
        b"file" => RemoteKind::File,
        b"dir" => RemoteKind::Directory,
        b"cdir" | b"pdir" => return None,
        b"os.unix=slink" | b"os.unix=symlink" => RemoteKind::Symlink(None),
        other if other.starts_with(b"os.unix=slink:") => RemoteKind::Symlink(Some(other[14..].to_vec())),
        _ => RemoteKind::Other,
    };
    if entry.kind != RemoteKind::File {
        entry.size = entry.size.filter(|_| entry.kind == RemoteKind::Directory);
    }
    Some(entry)
}

/// One `LIST` line in the Unix layout or the Windows/IIS one.
pub fn parse_list_line(line: &[u8], now: i64) -> Option<RemoteEntry> {
    parse_unix_line(line, now).or_else(|| parse_windows_line(line))
}

const MONTHS: [&[u8]; 12] =
    [b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec"];

/// The whitespace-separated fields of `line` with where each starts.
fn fields(line: &[u8]) -> Vec<(usize, &[u8])> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && line[i] == b' ' {
            i += 1;
        }
        let start = i;
        while i < line.len() && line[i] != b' ' {
            i += 1;
        }
        if start < i {
            out.push((start, &line[start..i]));
        }
    }
    out
}

fn number<T: std::str::FromStr>(text: &[u8]) -> Option<T> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// `drwxr-xr-x 2 owner group 4096 Nov 29 12:34 name` (group or link count may be missing,
/// as some servers leave them out): the date is found as `SIZE MON DAY TIME-OR-YEAR`, and
/// the name is everything after the one space that follows it.
fn parse_unix_line(line: &[u8], now: i64) -> Option<RemoteEntry> {
    let kind = match line.first()? {
        b'-' => RemoteKind::File,
        b'd' => RemoteKind::Directory,
        b'l' => RemoteKind::Symlink(None),
        b'b' | b'c' | b'p' | b's' | b'?' => RemoteKind::Other,
        _ => return None,
    };
    let fields = fields(line);
    let at = (2..fields.len().saturating_sub(3)).find(|&i| {
        MONTHS.contains(&fields[i + 1].1.to_ascii_lowercase().as_slice()) && number::<u64>(fields[i].1).is_some()
    })?;
    let size: u64 = number(fields[at].1)?;
    let month = MONTHS.iter().position(|m| *m == fields[at + 1].1.to_ascii_lowercase().as_slice())? as i64 + 1;
    let day: i64 = number(fields[at + 2].1)?;
    let (when_start, when) = fields[at + 3];
    let name_start = when_start + when.len() + 1;
    let mut name = line.get(name_start..)?.to_vec();
    let modified = if let Some(colon) = when.iter().position(|&b| b == b':') {
        let (hour, minute): (i64, i64) = (number(&when[..colon])?, number(&when[colon + 1..])?);
        // No year: the most recent such date that is not more than a day ahead of now.
        let (this_year, ..) = civil_time(now);
        let mut seconds = seconds_from_civil(this_year, month, day, hour, minute, 0);
        if seconds > now + 86_400 {
            seconds = seconds_from_civil(this_year - 1, month, day, hour, minute, 0);
        }
        Modified { seconds, precision: Precision::Minute }
    } else {
        let year: i64 = number(when)?;
        Modified { seconds: seconds_from_civil(year, month, day, 0, 0, 0), precision: Precision::Day }
    };
    if !(1..=31).contains(&day) || name.is_empty() {
        return None;
    }
    let kind = match kind {
        RemoteKind::Symlink(_) => {
            let arrow = name.windows(4).position(|w| w == b" -> ");
            let target = arrow.map(|i| name[i + 4..].to_vec());
            if let Some(i) = arrow {
                name.truncate(i);
            }
            RemoteKind::Symlink(target)
        }
        other => other,
    };
    let size = matches!(kind, RemoteKind::File | RemoteKind::Directory).then_some(size);
    Some(RemoteEntry { name, kind, size, modified: Some(modified) })
}

/// `11-29-26  12:34PM       <DIR>          name` or `11-29-2026  09:05AM  1234 name`.
fn parse_windows_line(line: &[u8]) -> Option<RemoteEntry> {
    let fields = fields(line);
    let [(_, date), (_, time), (_, size_or_dir), (name_start, _), ..] = fields.as_slice() else { return None };
    let date: Vec<i64> = date.split(|&b| b == b'-').map(number).collect::<Option<_>>()?;
    let [month, day, year] = date.as_slice() else { return None };
    let year = match *year {
        y if y < 70 => 2000 + y,
        y if y < 100 => 1900 + y,
        y => y,
    };
    let (clock, half) = time.split_at(time.len().checked_sub(2)?);
    let colon = clock.iter().position(|&b| b == b':')?;
    let (mut hour, minute): (i64, i64) = (number(&clock[..colon])?, number(&clock[colon + 1..])?);
    match half.to_ascii_uppercase().as_slice() {
        b"AM" if hour == 12 => hour = 0,
        b"PM" if hour < 12 => hour += 12,
        b"AM" | b"PM" => {}
        _ => return None,
    }
    if !(1..=12).contains(month) || !(1..=31).contains(day) || hour > 23 || minute > 59 {
        return None;
    }
    let (kind, size) = if size_or_dir.eq_ignore_ascii_case(b"<DIR>") {
        (RemoteKind::Directory, None)
    } else {
        (RemoteKind::File, Some(number(size_or_dir)?))
    };
    let modified =
        Modified { seconds: seconds_from_civil(year, *month, *day, hour, minute, 0), precision: Precision::Minute };
    Some(RemoteEntry { name: line[*name_start..].to_vec(), kind, size, modified: Some(modified) })
}

/// Whether `name` matches the shell pattern `pattern`: `*` any run of bytes, `?` one byte,
/// `[abc]`, `[a-z]`, `[!...]` one of (or none of) a set, `\x` a literal `x`.
pub fn glob_matches(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    // Where the last `*` was, and how much of the name it has taken so far.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let step = match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
                continue;
            }
            Some(b'?') => Some(1),
            Some(b'[') => match_class(&pattern[p..], name[n]),
            Some(b'\\') if p + 1 < pattern.len() => (pattern[p + 1] == name[n]).then_some(2),
            Some(&literal) => (literal == name[n]).then_some(1),
            None => None,
        };
        match (step, star) {
            (Some(len), _) => {
                p += len;
                n += 1;
            }
            (None, Some((star_at, taken))) => {
                star = Some((star_at, taken + 1));
                p = star_at + 1;
                n = taken + 1;
            }
            (None, None) => return false,
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// Matches `byte` against the class at the start of `pattern` (`[...]`): the class's length
/// when it matches; `None` when it does not. An unclosed `[` is a literal `[`.
fn match_class(pattern: &[u8], byte: u8) -> Option<usize> {
    let negated = matches!(pattern.get(1), Some(b'!' | b'^'));
    let first = if negated { 2 } else { 1 };
    // A `]` right after the opening is a member, as in the shell.
    let close = first + 1 + pattern.get(first + 1..)?.iter().position(|&b| b == b']')?;
    let set = &pattern[first..close];
    let mut found = false;
    let mut i = 0;
    while i < set.len() {
        if i + 2 < set.len() && set[i + 1] == b'-' {
            found |= (set[i]..=set[i + 2]).contains(&byte);
            i += 3;
        } else {
            found |= set[i] == byte;
            i += 1;
        }
    }
    (found != negated).then_some(close + 1)
}

/// Whether `text` has a glob character (`*`, `?` or `[`).
pub fn has_glob(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

/// The type letter of `ls -l`.
fn type_letter(kind: &RemoteKind) -> char {
    match kind {
        RemoteKind::File => '-',
        RemoteKind::Directory => 'd',
        RemoteKind::Symlink(_) => 'l',
        RemoteKind::Other => '?',
    }
}

/// One `minftp ls -l` line: `TYPE SIZE MODIFIED NAME[ -> TARGET]`, the size in human units
/// or (with `bytes`) in bytes, names with control bytes escaped (`escape`) when printed on
/// a terminal.
pub fn long_form(entry: &RemoteEntry, bytes: bool, escape: bool) -> Vec<u8> {
    let size = match entry.size {
        Some(size) if entry.kind == RemoteKind::File => {
            if bytes {
                size.to_string()
            } else {
                super::progress::human_size(size)
            }
        }
        _ => "-".into(),
    };
    let modified = entry.modified.map_or_else(|| "-".repeat(16), |m| m.display());
    let mut line = format!("{} {size:>12}  {modified}  ", type_letter(&entry.kind)).into_bytes();
    line.extend(shown_name(&entry.name, escape));
    if let RemoteKind::Symlink(Some(target)) = &entry.kind {
        line.extend_from_slice(b" -> ");
        line.extend(shown_name(target, escape));
    }
    line
}

/// A name as printed: as the server sent it, or with control bytes escaped on a terminal
/// (so that a server cannot drive the user's terminal).
pub fn shown_name(name: &[u8], escape: bool) -> Vec<u8> {
    if escape { crate::protocol::line::escape_controls(name, false).into_owned() } else { name.to_vec() }
}

/// One entry as a JSON object on one line: `name` (with `name_bytes`, the raw bytes, when
/// the name is not UTF-8), `type`, `size`, `modified` (RFC 3339), `target` for links.
pub fn json_form(entry: &RemoteEntry) -> String {
    let mut out = format!("{{\"name\":{}", json_string(&String::from_utf8_lossy(&entry.name)));
    if entry.utf8_name().is_none() {
        let bytes: Vec<String> = entry.name.iter().map(u8::to_string).collect();
        out.push_str(&format!(",\"name_bytes\":[{}]", bytes.join(",")));
    }
    let kind = match entry.kind {
        RemoteKind::File => "file",
        RemoteKind::Directory => "dir",
        RemoteKind::Symlink(_) => "symlink",
        RemoteKind::Other => "other",
    };
    out.push_str(&format!(",\"type\":\"{kind}\""));
    match entry.size.filter(|_| entry.kind == RemoteKind::File) {
        Some(size) => out.push_str(&format!(",\"size\":{size}")),
        None => out.push_str(",\"size\":null"),
    }
    match entry.modified {
        Some(modified) => out.push_str(&format!(",\"modified\":\"{}\"", modified.rfc3339())),
        None => out.push_str(",\"modified\":null"),
    }
    if let RemoteKind::Symlink(Some(target)) = &entry.kind {
        out.push_str(&format!(",\"target\":{}", json_string(&String::from_utf8_lossy(target))));
    }
    out.push('}');
    out
}

/// A JSON string literal (RFC 8259: quotes, backslashes and control characters escaped).
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-29 12:00:00 UTC.
    const NOW: i64 = 1_795_953_600;

    fn file(name: &str, size: u64, seconds: i64, precision: Precision) -> RemoteEntry {
        RemoteEntry {
            name: name.into(),
            kind: RemoteKind::File,
            size: Some(size),
            modified: Some(Modified { seconds, precision }),
        }
    }

    #[test]
    fn mlsd_facts_give_kind_size_time_and_the_whole_name() {
        let got = parse_mlsd_line(b"type=file;size=3;modify=20261129120000;perm=r; my  file.txt").unwrap();
        assert_eq!(got, file("my  file.txt", 3, NOW, Precision::Second));
        let dir = parse_mlsd_line(b"Type=dir;Modify=20261129120000.123;UNIX.mode=0755; sub").unwrap();
        assert_eq!((dir.kind, dir.name.as_slice()), (RemoteKind::Directory, &b"sub"[..]));
        assert!(parse_mlsd_line(b"type=cdir;modify=20261129120000; .").is_none());
        let link = parse_mlsd_line(b"type=OS.unix=slink:/etc/passwd; l").unwrap();
        assert_eq!(link.kind, RemoteKind::Symlink(Some(b"/etc/passwd".to_vec())));
        assert_eq!(parse_mlsd_line(b"type=OS.unix=special;size=0; fifo").unwrap().kind, RemoteKind::Other);
        assert!(parse_mlsd_line(b"no facts").is_none());
    }

    #[test]
    fn unix_lines_with_time_or_year_with_and_without_group() {
        let recent = parse_list_line(b"-rw-r--r--    1 ftp      ftp            3 Nov 29 12:00 a b.txt", NOW).unwrap();
        assert_eq!(recent, file("a b.txt", 3, NOW, Precision::Minute));
        let old = parse_list_line(b"-rw-r--r-- 1 owner 1234 Jan  5  2024  lead", NOW).unwrap();
        assert_eq!(old, file(" lead", 1234, seconds_from_civil(2024, 1, 5, 0, 0, 0), Precision::Day));
        // December with no year, seen in November: last year's December.
        let last_year = parse_list_line(b"-rw-r--r-- 1 u g 1 Dec 24 10:00 x", NOW).unwrap();
        assert_eq!(last_year.modified.unwrap().seconds, seconds_from_civil(2025, 12, 24, 10, 0, 0));
        let dir = parse_list_line(b"drwxr-xr-x 2 u g 4096 Nov 29 12:00 sub", NOW).unwrap();
        assert_eq!(dir.kind, RemoteKind::Directory);
        let link = parse_list_line(b"lrwxrwxrwx 1 u g 7 Nov 29 12:00 here -> ../away", NOW).unwrap();
        assert_eq!((link.name.as_slice(), link.kind), (&b"here"[..], RemoteKind::Symlink(Some(b"../away".to_vec()))));
    }

    #[test]
    fn windows_lines_for_files_and_folders() {
        let dir = parse_list_line(b"11-29-26  12:00PM       <DIR>          My Folder", NOW).unwrap();
        assert_eq!((dir.kind, dir.name.as_slice()), (RemoteKind::Directory, &b"My Folder"[..]));
        assert_eq!(dir.modified.unwrap().seconds, NOW);
        let f = parse_list_line(b"11-29-2026  12:30AM                 1234 data.csv", NOW).unwrap();
        assert_eq!(f, file("data.csv", 1234, NOW - 11 * 3600 - 30 * 60, Precision::Minute));
    }

    #[test]
    fn totals_dots_and_junk_are_not_entries() {
        let listing = b"total 8\r\ndrwxr-xr-x 2 u g 4096 Nov 29 12:00 .\r\ndrwxr-xr-x 2 u g 4096 Nov 29 12:00 ..\r\n\
                        -rw-r--r-- 1 u g 3 Nov 29 12:00 a\r\nrandom words here\r\n";
        let got = parse_listing(listing, false, NOW);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, b"a");
    }

    #[test]
    fn unsafe_names_are_recognised() {
        for bad in [&b""[..], b".", b"..", b"../x", b"a/b", b"a\0b"] {
            assert!(!is_safe_component(bad), "{bad:?}");
        }
        assert!(is_safe_component(b"...") && is_safe_component(b"a b") && is_safe_component(b"\xff"));
    }

    #[test]
    fn globs_match_as_the_shell_does() {
        let yes = [("*.csv", "a.csv"), ("*", ""), ("a?c", "abc"), ("[ab]x", "bx"), ("[!a]x", "cx"), ("[a-c]*", "b1")];
        for (pattern, name) in yes {
            assert!(glob_matches(pattern.as_bytes(), name.as_bytes()), "{pattern} {name}");
        }
        let no =
            [("*.csv", "a.csv.gz"), ("a?c", "ac"), ("[ab]x", "cx"), ("[!a]x", "ax"), ("\\*", "a"), ("a*b*c", "abx")];
        for (pattern, name) in no {
            assert!(!glob_matches(pattern.as_bytes(), name.as_bytes()), "{pattern} {name}");
        }
        assert!(glob_matches(b"\\*", b"*") && glob_matches(b"*a*b", b"xxaxxb"));
        assert!(has_glob("*.csv") && !has_glob("plain.txt"));
    }

    #[test]
    fn long_and_json_forms() {
        let entry = file("a\"b", 1536, NOW, Precision::Second);
        assert_eq!(
            String::from_utf8(long_form(&entry, false, false)).unwrap(),
            "-     1.50 KiB  2026-11-29 12:00  a\"b"
        );
        assert_eq!(
            String::from_utf8(long_form(&entry, true, false)).unwrap(),
            "-         1536  2026-11-29 12:00  a\"b"
        );
        assert_eq!(json_form(&entry), r#"{"name":"a\"b","type":"file","size":1536,"modified":"2026-11-29T12:00:00Z"}"#);
        let odd = RemoteEntry { name: b"\xff\n".to_vec(), kind: RemoteKind::Other, size: None, modified: None };
        assert_eq!(
            json_form(&odd),
            "{\"name\":\"\u{fffd}\\n\",\"name_bytes\":[255,10],\"type\":\"other\",\"size\":null,\"modified\":null}"
        );
    }

    #[test]
    fn a_time_matches_within_its_precision() {
        let minute = Modified { seconds: NOW, precision: Precision::Minute };
        assert!(minute.not_newer_than(NOW) && minute.not_newer_than(NOW - 59) && !minute.not_newer_than(NOW - 60));
        let second = Modified { seconds: NOW, precision: Precision::Second };
        assert!(second.not_newer_than(NOW) && !second.not_newer_than(NOW - 1));
    }
}
