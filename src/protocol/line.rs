//! Bounded line reading: bytes up to LF, with over-long lines streamed out instead of buffered.

use super::transport::Channel;
use std::borrow::Cow;
use std::cell::Cell;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The default cap on one line, its line ending included (SPEC §2, §7).
pub const DEFAULT_MAX_LINE: usize = 8 * 1024;

/// A connection as a line reader sees it: every read gives up once the current line (a
/// command for the server, a reply for a client) has taken longer than `limit`, counted
/// from the last [`DeadlineReader::restart`]. A peer dribbling one byte at a time
/// (slowloris, or a hostile server) is therefore cut off as surely as a silent one.
///
/// It shares the connection (`Arc`) with the writer side instead of duplicating the socket:
/// one descriptor per connection, not two.
pub struct DeadlineReader {
    stream: Arc<Channel>,
    limit: Cell<Duration>,
    deadline: Cell<Instant>,
}

impl DeadlineReader {
    pub fn new(stream: Arc<Channel>, limit: Duration) -> DeadlineReader {
        let deadline = Cell::new(Instant::now().checked_add(limit).unwrap_or_else(far_future));
        DeadlineReader { stream, limit: Cell::new(limit), deadline }
    }

    /// The next line may take the whole limit again.
    pub fn restart(&self) {
        self.deadline.set(Instant::now().checked_add(self.limit.get()).unwrap_or_else(far_future));
    }

    /// What is left of the time for the line under way.
    pub fn time_left(&self) -> Duration {
        self.deadline.get().saturating_duration_since(Instant::now())
    }

    /// The limit for one read's worth (a line or a reply).
    pub fn limit(&self) -> Duration {
        self.limit.get()
    }

    /// Changes the limit, from the next [`DeadlineReader::restart`] on.
    pub fn set_limit(&self, limit: Duration) {
        self.limit.set(limit);
    }

    pub fn stream(&self) -> &Arc<Channel> {
        &self.stream
    }
}

/// A deadline that never comes, for limits too long to add to now.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

impl Read for DeadlineReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.get().saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.socket().set_read_timeout(Some(left))?;
        (&*self.stream).read(buf)
    }
}

/// `bytes` with control bytes written as `\xNN`, so that a name or a line from a peer can
/// neither drive a terminal (escape sequences) nor forge another line (CR, LF): every byte
/// below 0x20 and DEL, except, with `keep_line_ends`, the CR LF or LF that ends a line.
/// Bytes above 0x7F stay (UTF-8 names).
pub fn escape_controls(bytes: &[u8], keep_line_ends: bool) -> Cow<'_, [u8]> {
    let is_line_end =
        |i: usize| keep_line_ends && (bytes[i] == b'\n' || (bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n')));
    let needs = |i: usize| (bytes[i] < 0x20 && !is_line_end(i)) || bytes[i] == 0x7f;
    if !(0..bytes.len()).any(needs) {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() + 16);
    for (i, &byte) in bytes.iter().enumerate() {
        if needs(i) {
            out.extend_from_slice(format!("\\x{byte:02x}").as_bytes());
        } else {
            out.push(byte);
        }
    }
    Cow::Owned(out)
}

/// One line as the peer sent it.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// The bytes of the line with its final LF (and a CR before it, if any).
    Complete(&'a [u8]),
    /// Bytes that the stream ended on without an LF.
    Unterminated(&'a [u8]),
    /// A line longer than the cap. Its bytes already went to the overflow sink;
    /// `terminated` says whether an LF ended it (false: the stream ended first).
    TooLong { terminated: bool },
}

/// Reads lines from a byte stream, never holding more than `max_line` bytes of one line.
pub struct LineReader<R> {
    inner: R,
    /// Starts small and grows (to `full_capacity`) only when a line needs it, so that an
    /// idle connection costs little memory.
    buf: Vec<u8>,
    full_capacity: usize,
    start: usize,
    end: usize,
    max_line: usize,
}

/// The buffer a line reader starts with: enough for the commands a client usually sends;
/// it doubles, up to the line limit, for a longer one. Idle sessions cost 10.0 KiB with 128
/// bytes here, 10.1 with 256, 10.4 with 512, 19.1 with the 16 KiB it used to be (bench/idle.py,
/// all on one day; absolute figures drift between days on this VM, the ratios did not).
const INITIAL_BUFFER: usize = 128;

impl<R: Read> LineReader<R> {
    pub fn new(inner: R, max_line: usize) -> Self {
        let max_line = max_line.max(1);
        // At most room for one whole line plus read-ahead, so pipelined commands need few reads.
        let full_capacity = max_line.max(4096) * 2;
        let buf = vec![0; INITIAL_BUFFER.min(full_capacity)];
        LineReader { inner, buf, full_capacity, start: 0, end: 0, max_line }
    }

    /// The underlying stream (for example to change its timeouts).
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Bytes already read from the stream but not yet returned as a line.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The next line; `Ok(None)` at a clean end of stream (nothing pending).
    ///
    /// An over-long line is handed to `overflow` piece by piece as it arrives (so a
    /// transcript can echo it) and reported as [`Line::TooLong`].
    pub fn next_line(&mut self, overflow: &mut dyn FnMut(&[u8])) -> io::Result<Option<Line<'_>>> {
        let mut scanned = 0; // bytes of the pending line already searched for LF
        loop {
            let pending = &self.buf[self.start..self.end];
            if let Some(i) = pending[scanned..].iter().position(|&b| b == b'\n') {
                let len = scanned + i + 1;
                if len <= self.max_line {
                    let line = self.start..self.start + len;
                    self.start += len;
                    return Ok(Some(Line::Complete(&self.buf[line])));
                }
            }
            scanned = pending.len();
            if pending.len() > self.max_line {
                return self.stream_overflow(overflow).map(Some);
            }
            if self.start > 0 && self.end == self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() && self.buf.len() < self.full_capacity {
                let grown = (self.buf.len() * 2).min(self.full_capacity);
                self.buf.resize(grown, 0);
            }
            let n = read_retrying(&mut self.inner, &mut self.buf[self.end..])?;
            if n == 0 {
                if self.start == self.end {
                    return Ok(None);
                }
                let line = self.start..self.end;
                self.start = self.end;
                return Ok(Some(Line::Unterminated(&self.buf[line])));
            }
            self.end += n;
        }
    }

    /// Passes the pending over-long line, and what follows up to its LF, to `overflow`.
    fn stream_overflow(&mut self, overflow: &mut dyn FnMut(&[u8])) -> io::Result<Line<'static>> {
        loop {
            let pending = &self.buf[self.start..self.end];
            if let Some(i) = pending.iter().position(|&b| b == b'\n') {
                overflow(&pending[..=i]);
                self.start += i + 1;
                return Ok(Line::TooLong { terminated: true });
            }
            overflow(pending);
            self.start = 0;
            self.end = 0;
            let n = read_retrying(&mut self.inner, &mut self.buf)?;
            if n == 0 {
                return Ok(Line::TooLong { terminated: false });
            }
            self.end = n;
        }
    }
}

fn read_retrying(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its bytes a few at a time, as a slow network does.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn all_lines(input: &[u8], max: usize, chunk: usize) -> Vec<(String, Vec<u8>)> {
        let mut reader = LineReader::new(Trickle(input, chunk), max);
        let mut out = Vec::new();
        loop {
            let mut spilled = Vec::new();
            let line = reader.next_line(&mut |b| spilled.extend_from_slice(b)).unwrap();
            match line {
                None => return out,
                Some(Line::Complete(b)) => out.push(("complete".into(), b.to_vec())),
                Some(Line::Unterminated(b)) => out.push(("unterminated".into(), b.to_vec())),
                Some(Line::TooLong { terminated }) => out.push((format!("toolong {terminated}"), spilled)),
            }
        }
    }

    #[test]
    fn lines_keep_their_exact_endings() {
        let got = all_lines(b"USER a\r\nPASS b\nQUIT", 100, 3);
        assert_eq!(
            got,
            vec![
                ("complete".into(), b"USER a\r\n".to_vec()),
                ("complete".into(), b"PASS b\n".to_vec()),
                ("unterminated".into(), b"QUIT".to_vec()),
            ]
        );
    }

    #[test]
    fn a_line_of_exactly_the_cap_is_accepted() {
        let got = all_lines(b"abcd\r\n", 6, 1);
        assert_eq!(got, vec![("complete".into(), b"abcd\r\n".to_vec())]);
    }

    #[test]
    fn an_over_long_line_is_streamed_whole_and_the_next_line_survives() {
        let mut input = vec![b'x'; 10_000];
        input.extend_from_slice(b"\r\nNOOP\r\n");
        let got = all_lines(&input, 64, 777);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, "toolong true");
        assert_eq!(got[0].1, input[..10_002].to_vec());
        assert_eq!(got[1], ("complete".into(), b"NOOP\r\n".to_vec()));
    }

    #[test]
    fn an_over_long_line_cut_by_end_of_stream_says_so() {
        let got = all_lines(&[b'y'; 300], 64, 50);
        assert_eq!(got, vec![("toolong false".into(), vec![b'y'; 300])]);
    }

    #[test]
    fn an_empty_stream_has_no_lines() {
        assert!(all_lines(b"", 10, 1).is_empty());
    }

    #[test]
    fn any_byte_value_passes_through() {
        let input: Vec<u8> = (0u8..=255).filter(|&b| b != b'\n').chain([b'\n']).collect();
        let got = all_lines(&input, 1000, 7);
        assert_eq!(got, vec![("complete".into(), input)]);
    }

    #[test]
    fn control_bytes_are_escaped_and_line_ends_kept_only_when_asked() {
        assert_eq!(&*escape_controls(b"NOOP\r\n", true), b"NOOP\r\n");
        assert_eq!(&*escape_controls(b"RETR \x1b[2Jx\r\n", true), b"RETR \\x1b[2Jx\r\n");
        assert_eq!(&*escape_controls(b"a\rb\x7f\r\n", true), b"a\\x0db\\x7f\r\n");
        assert_eq!(&*escape_controls("café\r\n".as_bytes(), true), "café\r\n".as_bytes());
        assert_eq!(&*escape_controls(b"evil\r\n230 x", false), b"evil\\x0d\\x0a230 x");
    }
}
