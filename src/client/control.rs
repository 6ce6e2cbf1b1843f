//! A client's control connection: sending command lines and reading reply lines.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use crate::protocol::line::{DEFAULT_MAX_LINE, Line, LineReader};
use crate::protocol::reply::{ParsedReply, ReplyError, parse_reply};

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
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.text())
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

/// An open control connection.
pub struct ControlConnection {
    stream: TcpStream,
    reader: LineReader<TcpStream>,
}

impl ControlConnection {
    /// Connects to `host:port`, trying each address the name resolves to.
    pub fn connect(host: &str, port: u16, timeout: Duration) -> io::Result<ControlConnection> {
        let mut last_error = io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"));
        for address in (host, port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&address, timeout) {
                Ok(stream) => return ControlConnection::from_stream(stream),
                Err(err) => last_error = err,
            }
        }
        Err(last_error)
    }

    pub fn from_stream(stream: TcpStream) -> io::Result<ControlConnection> {
        stream.set_nodelay(true)?;
        let reader = LineReader::new(stream.try_clone()?, DEFAULT_MAX_LINE);
        Ok(ControlConnection { stream, reader })
    }

    /// Gives up on a reply (the connection is then treated as closed) after `timeout`.
    pub fn set_reply_timeout(&self, timeout: Duration) {
        let _ = self.stream.set_read_timeout(Some(timeout));
    }

    /// Sends `command` followed by CR LF.
    pub fn send(&mut self, command: &[u8]) -> io::Result<()> {
        let mut line = Vec::with_capacity(command.len() + 2);
        line.extend_from_slice(command);
        line.extend_from_slice(b"\r\n");
        self.stream.write_all(&line)
    }

    /// Reads one reply line and parses it by the grammar of SPEC §4.3.
    pub fn read_reply(&mut self) -> ReplyRead {
        match self.reader.next_line(&mut |_| {}) {
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
        let mut lines = Vec::new();
        let mut first_code = None;
        loop {
            let line = match self.reader.next_line(&mut |_| {})? {
                Some(Line::Complete(bytes)) => bytes,
                Some(Line::TooLong { .. }) => {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "the server sent an over-long reply line"));
                }
                Some(Line::Unterminated(_)) | None => return Err(closed()),
            };
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
        self.stream.local_addr()
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    pub fn raw_fd(&self) -> RawFd {
        self.stream.as_raw_fd()
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
    fn a_closed_connection_or_garbage_is_an_error() {
        assert!(control_receiving(b"").read_server_reply().is_err());
        assert!(control_receiving(b"hello\r\n").read_server_reply().is_err());
    }
}
