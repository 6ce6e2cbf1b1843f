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
