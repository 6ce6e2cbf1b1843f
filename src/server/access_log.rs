//! The operator's access log (`--log FILE`, `--verbose` for standard error): one line per
//! session start and end, per transfer, change or login, and per TLS handshake of a control
//! connection (version and cipher suite, or why it failed), with the time (RFC 3339, UTC),
//! the session's number, the client's address and user, the command, the path, bytes,
//! seconds and the reply code. Sessions are told apart by their number. The log never goes
//! to standard output, which carries the transcript.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::protocol::line::escape_controls;

/// Where log lines go.
#[derive(Debug)]
enum Sink {
    File(File),
    Stderr,
}

/// The access log: a file, standard error, or both.
#[derive(Debug)]
pub struct AccessLog {
    sinks: Mutex<Vec<Sink>>,
}

/// One event of a session.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub session: u64,
    pub client: SocketAddr,
    /// The user name given (empty before USER).
    pub user: &'a [u8],
    /// CONNECT, DISCONNECT, or the FTP verb.
    pub command: &'a str,
    pub path: &'a [u8],
    pub bytes: Option<u64>,
    pub duration: Option<Duration>,
    pub code: u16,
}

impl AccessLog {
    /// A log into `file` (appended to, created if missing) and, with `verbose`, standard error.
    pub fn open(file: Option<&Path>, verbose: bool) -> io::Result<AccessLog> {
        let mut sinks = Vec::new();
        if let Some(path) = file {
            sinks.push(Sink::File(OpenOptions::new().create(true).append(true).open(path)?));
        }
        if verbose {
            sinks.push(Sink::Stderr);
        }
        Ok(AccessLog { sinks: Mutex::new(sinks) })
    }

    /// Writes one event's line (failures to write the log never stop the server).
    pub fn record(&self, event: &Event<'_>) {
        let line = format_line(event, SystemTime::now());
        let mut sinks = self.sinks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for sink in sinks.iter_mut() {
            let _ = match sink {
                Sink::File(file) => file.write_all(line.as_bytes()),
                Sink::Stderr => io::stderr().write_all(line.as_bytes()),
            };
        }
    }
}

/// `2026-11-29T23:30:01.123Z session=7 client=127.0.0.1:56316 user=anonymous RETR /f.bin
/// bytes=6 seconds=0.001 code=226` and a line feed. Names are escaped (no line can be forged).
pub fn format_line(event: &Event<'_>, now: SystemTime) -> String {
    let shown = |bytes: &[u8]| String::from_utf8_lossy(&escape_controls(bytes, false)).into_owned();
    let user = if event.user.is_empty() { "-".to_string() } else { shown(event.user) };
    let mut line = format!(
        "{} session={} client={} user={} {}",
        rfc3339(now),
        event.session,
        event.client,
        user.replace(' ', "\\x20"),
        event.command
    );
    if !event.path.is_empty() {
        line.push(' ');
        line.push_str(&shown(event.path));
    }
    if let Some(bytes) = event.bytes {
        line.push_str(&format!(" bytes={bytes}"));
    }
    if let Some(duration) = event.duration {
        line.push_str(&format!(" seconds={:.3}", duration.as_secs_f64()));
    }
    line.push_str(&format!(" code={}\n", event.code));
    line
}

/// A time as RFC 3339 in UTC with milliseconds.
fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let stamp = super::listing::timestamp(since.as_secs() as i64);
    format!(
        "{}-{}-{}T{}:{}:{}.{:03}Z",
        &stamp[0..4],
        &stamp[4..6],
        &stamp[6..8],
        &stamp[8..10],
        &stamp[10..12],
        &stamp[12..14],
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transfer_line_carries_time_session_address_user_command_path_bytes_seconds_code() {
        let event = Event {
            session: 7,
            client: "127.0.0.1:56316".parse().unwrap(),
            user: b"anonymous",
            command: "RETR",
            path: b"/dir/f.bin",
            bytes: Some(6),
            duration: Some(Duration::from_millis(1)),
            code: 226,
        };
        let at = UNIX_EPOCH + Duration::from_millis(1_795_264_980_123);
        assert_eq!(
            format_line(&event, at),
            "2026-11-21T12:43:00.123Z session=7 client=127.0.0.1:56316 user=anonymous RETR /dir/f.bin bytes=6 seconds=0.001 code=226\n"
        );
    }

    #[test]
    fn names_cannot_forge_a_log_line() {
        let event = Event {
            session: 1,
            client: "[::1]:2000".parse().unwrap(),
            user: b"",
            command: "DELE",
            path: b"/a\ncode=226",
            bytes: None,
            duration: None,
            code: 250,
        };
        let line = format_line(&event, UNIX_EPOCH);
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        assert!(line.contains("user=- DELE /a\\x0acode=226 code=250"), "{line}");
    }
}
