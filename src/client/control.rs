//! A client's control connection: sending command lines and reading reply lines, and
//! showing that dialogue on standard error when asked (`-v`).

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::protocol::line::{DEFAULT_MAX_LINE, DeadlineReader, Line, LineReader, escape_controls};
use crate::protocol::reply::{ParsedReply, ReplyError, parse_reply};
use crate::protocol::transport::Channel;

/// What reading one reply gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyRead {
    Reply(ParsedReply),
    Malformed(ReplyError),
    /// The server closed the connection (or it broke) before a whole reply arrived.
    Closed,
}

impl ReplyRead {
    /// A well-formed reply that is not a 4xx or 5xx failure.
    pub fn is_success(&self) -> bool {
        matches!(self, ReplyRead::Reply(reply) if !reply.is_failure())
    }

    pub fn code(&self) -> Option<u16> {
        match self {
            ReplyRead::Reply(reply) => Some(reply.code),
            _ => None,
        }
    }
}

/// A whole reply of a real server, multi-line replies included (RFC 959 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReply {
    pub code: u16,
    /// The text of each line, without the code (the last line's text is the reply's text).
    pub lines: Vec<String>,
}

impl ServerReply {
    pub fn text(&self) -> &str {
        self.lines.last().map_or("", String::as_str)
    }

    /// 1xx: the server will send another reply when the action is done.
    pub fn is_preliminary(&self) -> bool {
        (100..200).contains(&self.code)
    }

    /// 2xx.
    pub fn is_complete(&self) -> bool {
        (200..300).contains(&self.code)
    }
}

impl std::fmt::Display for ServerReply {
    /// The reply as messages show it: control bytes escaped, so that a server cannot drive
    /// the user's terminal with escape sequences.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = escape_controls(self.text().as_bytes(), false);
        write!(f, "{} {}", self.code, String::from_utf8_lossy(&text))
    }
}

/// The code and separator of a reply line: `Some((code, true))` for `NNN-` (more lines follow).
fn reply_line_start(line: &[u8]) -> Option<(u16, bool)> {
    let digits = line.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = digits.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    match line.get(3) {
        Some(b'-') => Some((code, true)),
        Some(b' ' | b'\r' | b'\n') | None => Some((code, false)),
        Some(_) => None,
    }
}

/// The most lines one reply may have, and its most bytes: a hostile server's endless
/// multi-line reply costs at most this much (a FEAT or HELP reply has a few dozen lines).
pub const MAX_REPLY_LINES: usize = 1000;
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

/// The reply timeout until one is set.
const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether control connections show their dialogue on standard error ([`trace_dialogue`]).
static TRACE_DIALOGUE: AtomicBool = AtomicBool::new(false);

/// How many control connections have shown their dialogue: each one's lines carry its
/// number, so that parallel connections (`get -j`) can be told apart.
static TRACED_CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// From now on, every control connection opened shows its dialogue on standard error, as
/// `curl -v` does: `[N] > ` before each command sent (a password as `****`), `[N] < `
/// before each reply line, `[N] * ` before what happened (a connection, a TLS handshake).
/// Set once by the command line before any connection; the COMP 431 client never sets it,
/// so its standard output and error stay as the course specifies.
pub fn trace_dialogue() {
    TRACE_DIALOGUE.store(true, Ordering::Relaxed);
}

/// An open control connection. Every reply must arrive whole within the reply timeout,
/// however the server dribbles it.
pub struct ControlConnection {
    stream: Arc<Channel>,
    reader: LineReader<DeadlineReader>,
    /// This connection's number when it shows its dialogue ([`trace_dialogue`]).
    traced: Option<u64>,
}

impl ControlConnection {
    /// Connects to `host:port`, trying each address the name resolves to.
    pub fn connect(host: &str, port: u16, timeout: Duration) -> io::Result<ControlConnection> {
        let mut last_error = io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"));
        for address in (host, port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&address, timeout) {
                Ok(stream) => {
                    let connection = ControlConnection::from_stream(stream)?;
                    connection.note(format_args!("connected to {address}"));
                    return Ok(connection);
                }
                Err(err) => last_error = err,
            }
        }
        Err(last_error)
    }

    pub fn from_stream(stream: TcpStream) -> io::Result<ControlConnection> {
        stream.set_nodelay(true)?;
        let stream = Arc::new(Channel::plain(stream));
        let deadline = DeadlineReader::new(Arc::clone(&stream), DEFAULT_REPLY_TIMEOUT);
        let reader = LineReader::new(deadline, DEFAULT_MAX_LINE);
        let traced =
            TRACE_DIALOGUE.load(Ordering::Relaxed).then(|| TRACED_CONNECTIONS.fetch_add(1, Ordering::Relaxed) + 1);
        Ok(ControlConnection { stream, reader, traced })
    }

    /// Shows `[N] * what` on standard error when this connection shows its dialogue.
    pub fn note(&self, what: std::fmt::Arguments<'_>) {
        if self.traced.is_some() {
            show_dialogue(self.traced, '*', what.to_string().as_bytes());
        }
    }

    /// Gives up on a reply (the connection is then treated as closed) when it has not
    /// arrived whole `timeout` after it was awaited.
    pub fn set_reply_timeout(&self, timeout: Duration) {
        self.reader.get_ref().set_limit(timeout);
    }

    /// Sends `command` followed by CR LF.
    pub fn send(&mut self, command: &[u8]) -> io::Result<()> {
        show_dialogue(self.traced, '>', masked(command));
        let mut line = Vec::with_capacity(command.len() + 2);
        line.extend_from_slice(command);
        line.extend_from_slice(b"\r\n");
        (&*self.stream).write_all(&line)
    }

    /// Reads one reply line and parses it by the grammar of SPEC §4.3.
    pub fn read_reply(&mut self) -> ReplyRead {
        self.reader.get_ref().restart();
        let line = self.reader.next_line(&mut |_| {});
        if let Ok(Some(Line::Complete(bytes) | Line::Unterminated(bytes))) = &line {
            show_dialogue(self.traced, '<', bytes);
        }
        match line {
            Ok(Some(Line::Complete(bytes) | Line::Unterminated(bytes))) => match parse_reply(bytes) {
                Ok(reply) => ReplyRead::Reply(reply),
                Err(err) => ReplyRead::Malformed(err),
            },
            Ok(Some(Line::TooLong { .. })) => ReplyRead::Malformed(ReplyError::Text),
            Ok(None) | Err(_) => ReplyRead::Closed,
        }
    }

    /// Reads one whole reply of a real server, however many lines it has.
    pub fn read_server_reply(&mut self) -> io::Result<ServerReply> {
        let closed = || io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the control connection");
        let too_long = || io::Error::new(io::ErrorKind::InvalidData, "the server's reply is too long");
        self.reader.get_ref().restart();
        let mut lines = Vec::new();
        let mut bytes = 0;
        let mut first_code = None;
        loop {
            if lines.len() >= MAX_REPLY_LINES || bytes > MAX_REPLY_BYTES {
                return Err(too_long());
            }
            let line = match self.reader.next_line(&mut |_| {})? {
                Some(Line::Complete(bytes)) => bytes,
                Some(Line::TooLong { .. }) => {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "the server sent an over-long reply line"));
                }
                Some(Line::Unterminated(_)) | None => return Err(closed()),
            };
            bytes += line.len();
            show_dialogue(self.traced, '<', line);
            let text = String::from_utf8_lossy(line).trim_end_matches(['\r', '\n']).to_string();
            match (reply_line_start(line), first_code) {
                (Some((code, more)), None) => {
                    lines.push(text.get(4..).unwrap_or("").to_string());
                    if !more {
                        return Ok(ServerReply { code, lines });
                    }
                    first_code = Some(code);
                }
                // The last line of a multi-line reply repeats the code with a space.
                (Some((code, false)), Some(first)) if code == first => {
                    lines.push(text.get(4..).unwrap_or("").to_string());
                    return Ok(ServerReply { code, lines });
                }
                (_, Some(_)) => lines.push(text),
                (None, None) => {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, format!("not an FTP reply: {text:?}")));
                }
            }
        }
    }

    /// Sends `command` and reads its whole reply.
    pub fn exchange(&mut self, command: &str) -> io::Result<ServerReply> {
        self.send(command.as_bytes())?;
        self.read_server_reply()
    }

    /// True when reply bytes are already waiting in the read buffer.
    pub fn has_buffered_input(&self) -> bool {
        !self.reader.buffered().is_empty()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.socket().local_addr()
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.socket().peer_addr()
    }

    /// Turns the connection into TLS (after `AUTH TLS` was accepted, or at once for
    /// implicit `ftps://`), verified as `tls` says; the handshake must end within the
    /// reply timeout. Bytes the server sent before the handshake would be unprotected and
    /// out of place: they fail it (RFC 4217 §15, command injection).
    pub fn start_tls(&mut self, tls: rustls::ClientConnection) -> io::Result<()> {
        if self.has_buffered_input() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "the server sent more than its reply to AUTH TLS"));
        }
        self.stream.start_tls(tls, self.reader.get_ref().limit())?;
        if self.traced.is_some() {
            self.note(format_args!("TLS {}", self.stream.tls_summary().unwrap_or_default()));
            if let Some(der) = self.stream.peer_certificate() {
                self.note(format_args!("server certificate {}", crate::tls::describe_certificate(&der)));
            }
        }
        Ok(())
    }

    pub fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }

    pub fn raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }
}

/// Shows one line of the dialogue of connection `traced` (nothing when it is None):
/// `marker` is `>` for sent, `<` for received, `*` for an event. Control bytes in it are
/// escaped on the way out, as in every message (crate::diagnostics::shown), so that a
/// server cannot drive the user's terminal.
fn show_dialogue(traced: Option<u64>, marker: char, line: &[u8]) {
    if let Some(number) = traced {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        crate::diagnostics::stderr_line(&format!("[{number}] {marker} {}", String::from_utf8_lossy(line)));
    }
}

/// A command as the dialogue and error messages show it: a password as `****`.
pub(crate) fn masked(command: &[u8]) -> &[u8] {
    match command.get(..5) {
        Some(verb) if verb.eq_ignore_ascii_case(b"PASS ") => b"PASS ****",
        _ => command,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A control connection whose server side has already sent `bytes` and closed.
    fn control_receiving(bytes: &'static [u8]) -> ControlConnection {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        server.write_all(bytes).unwrap();
        ControlConnection::from_stream(client).unwrap()
    }

    #[test]
    fn a_single_line_reply_is_read_whole() {
        let mut control = control_receiving(b"220 hello there\r\n");
        let reply = control.read_server_reply().unwrap();
        assert_eq!((reply.code, reply.text()), (220, "hello there"));
    }

    #[test]
    fn a_multi_line_reply_ends_at_its_code_and_a_space() {
        let mut control = control_receiving(b"211-Features:\r\n EPSV\r\n211-not the end\r\n211 End\r\n230 next\r\n");
        let reply = control.read_server_reply().unwrap();
        assert_eq!(reply.code, 211);
        assert_eq!(reply.lines, ["Features:", " EPSV", "211-not the end", "End"]);
        assert_eq!(control.read_server_reply().unwrap().code, 230);
    }

    #[test]
    fn an_endless_multi_line_reply_is_cut_off() {
        let mut endless = b"220-welcome\r\n".to_vec();
        for _ in 0..2 * MAX_REPLY_LINES {
            endless.extend_from_slice(b" more\r\n");
        }
        let mut control = control_receiving(endless.leak());
        let err = control.read_server_reply().unwrap_err();
        assert!(err.to_string().contains("too long"), "{err}");
    }

    #[test]
    fn a_reply_dribbled_slower_than_the_timeout_is_given_up() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let dribbler = std::thread::spawn(move || {
            for byte in b"220 one byte at a time, each within the timeout but never a whole line" {
                if server.write_all(&[*byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let mut control = ControlConnection::from_stream(client).unwrap();
        control.set_reply_timeout(Duration::from_millis(500));
        let started = std::time::Instant::now();
        assert!(control.read_server_reply().is_err());
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        drop(control);
        dribbler.join().unwrap();
    }

    #[test]
    fn a_closed_connection_or_garbage_is_an_error() {
        assert!(control_receiving(b"").read_server_reply().is_err());
        assert!(control_receiving(b"hello\r\n").read_server_reply().is_err());
    }
}
