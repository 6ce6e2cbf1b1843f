//! A real FTP client session (RFC 959): login, TYPE I, SIZE, data connections by EPSV, PASV
//! or (when the server refuses passive mode, as a COMP 431 server does) PORT/EPRT, and
//! downloads and uploads with progress, in clear text or under TLS (RFC 4217: explicit
//! AUTH TLS, or implicit `ftps://`). Shared by `get`, `put` and the lab session.

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::control::{ControlConnection, ServerReply, masked};
use super::listing::{RemoteEntry, glob_matches, parse_listing};
use crate::protocol::address::{format_eprt_argument, format_port_argument, parse_epsv_reply, parse_pasv_reply};
use crate::protocol::data::{Accepted, DataError, STREAM_RECEIVE_BUFFER, SendMethod, accept_from, receive, send_file};
use crate::protocol::timestamp::unix_seconds;
use crate::protocol::transport::{Channel, NOT_TLS};
use crate::signals::{self, TransferGuard};

/// How data connections are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataMode {
    /// EPSV, then PASV, then PORT/EPRT when the server refuses passive mode.
    Auto,
    /// EPSV or PASV only.
    Passive,
    /// PORT or EPRT only.
    Active,
}

/// Whether and how the session uses TLS.
#[derive(Clone)]
pub enum Security {
    Plain,
    /// AUTH TLS after the greeting, then PBSZ 0 and PROT P; a server that refuses is left
    /// before anything else is sent (no fall back to clear text).
    Explicit(Arc<rustls::ClientConfig>),
    /// TLS from the first byte (`ftps://`).
    Implicit(Arc<rustls::ClientConfig>),
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Security::Plain => "Plain",
            Security::Explicit(_) => "Explicit TLS",
            Security::Implicit(_) => "Implicit TLS",
        })
    }
}

impl Security {
    fn config(&self) -> Option<&Arc<rustls::ClientConfig>> {
        match self {
            Security::Plain => None,
            Security::Explicit(config) | Security::Implicit(config) => Some(config),
        }
    }
}

/// What went wrong in a session, in words a person can act on.
#[derive(Debug)]
pub enum FtpError {
    /// The network failed (worth another try).
    Io { context: String, source: io::Error },
    /// A local file failed (another try would fail the same way).
    Local { context: String, source: io::Error },
    /// The server answered with a failure.
    Refused { command: String, reply: ServerReply },
    /// A failure already put in words for the user (not worth another try).
    Explained(String),
    /// Nothing arrived within the timeout (worth another try).
    TimedOut { context: String, after: Duration },
    /// A signal (Ctrl-C) aborted the transfer.
    Interrupted,
}

impl fmt::Display for FtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FtpError::Io { context, source } | FtpError::Local { context, source } => write!(f, "{context}: {source}"),
            FtpError::Refused { command, reply } => write!(f, "the server refused {command}: {reply}"),
            FtpError::TimedOut { context, after } => write!(f, "{context}: no reply within {} s", after.as_secs()),
            FtpError::Explained(why) => f.write_str(why),
            FtpError::Interrupted => write!(f, "interrupted"),
        }
    }
}

impl std::error::Error for FtpError {}

impl FtpError {
    /// The server's reply code, when the server refused.
    pub fn reply_code(&self) -> Option<u16> {
        match self {
            FtpError::Refused { reply, .. } => Some(reply.code),
            FtpError::Io { .. }
            | FtpError::TimedOut { .. }
            | FtpError::Local { .. }
            | FtpError::Explained(_)
            | FtpError::Interrupted => None,
        }
    }

    /// Whether trying again may help: a broken connection, a timeout or a 4xx reply (a
    /// temporary condition, RFC 959 §4.2); not a 5xx (a missing file, a refused login), a
    /// local file's failure, or Ctrl-C.
    pub fn is_transient(&self) -> bool {
        match self {
            // A refused connection is a server that is not running: retrying will not start it.
            FtpError::Io { source, .. } => source.kind() != io::ErrorKind::ConnectionRefused,
            FtpError::TimedOut { .. } => true,
            FtpError::Refused { reply, .. } => (400..500).contains(&reply.code),
            FtpError::Local { .. } | FtpError::Explained(_) | FtpError::Interrupted => false,
        }
    }
}

/// A network failure: a bare timeout (the socket's EAGAIN, a reply's deadline) is said as
/// "no reply within N s", not as "os error 11".
fn io_error(context: impl Into<String>, timeout: Duration) -> impl FnOnce(io::Error) -> FtpError {
    let context = context.into();
    move |source| {
        let bare_timeout =
            matches!(source.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) && source.get_ref().is_none();
        if bare_timeout { FtpError::TimedOut { context, after: timeout } } else { FtpError::Io { context, source } }
    }
}

fn local_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> FtpError {
    let context = context.into();
    move |source| FtpError::Local { context, source }
}

/// A data connection being set up: connected already (passive) or waiting for the server.
enum PendingData {
    Connected(TcpStream),
    Listening(TcpListener),
}

/// A logged-in session.
pub struct FtpSession {
    control: ControlConnection,
    server: SocketAddr,
    mode: DataMode,
    /// Set once the server refused EPSV and PASV, so later transfers go active at once.
    passive_refused: bool,
    timeout: Duration,
    /// The TLS configuration and the server's name, when the session is under TLS: every
    /// data connection is too, and resumes the control connection's TLS session.
    tls: Option<(Arc<rustls::ClientConfig>, String)>,
    /// The FEAT reply's features (first words, upper case), asked once when needed.
    features: Option<Vec<String>>,
    /// The login folder (PWD), asked once when needed.
    home: Option<String>,
}

impl FtpSession {
    /// Connects, reads the greeting, logs in and sets binary type.
    pub fn open(
        host: &str,
        port: u16,
        user: &str,
        password: &str,
        mode: DataMode,
        timeout: Duration,
    ) -> Result<FtpSession, FtpError> {
        FtpSession::open_with(host, port, user, password, mode, timeout, &Security::Plain)
    }

    /// [`FtpSession::open`], with TLS as `security` says: the password is sent only once
    /// the control connection is under TLS.
    pub fn open_with(
        host: &str,
        port: u16,
        user: &str,
        password: &str,
        mode: DataMode,
        timeout: Duration,
        security: &Security,
    ) -> Result<FtpSession, FtpError> {
        let mut control = ControlConnection::connect(host, port, timeout)
            .map_err(io_error(format!("cannot connect to {host} port {port} (is the server running?)"), timeout))?;
        control.set_reply_timeout(timeout);
        let server = control.peer_addr().map_err(io_error("the connection broke", timeout))?;
        let tls = security.config().map(|config| (own_session_cache(config), host.to_string()));
        if let (Security::Implicit(_), Some((config, _))) = (security, &tls) {
            start_client_tls(&mut control, config, host, timeout).map_err(|err| match err {
                FtpError::Io { context, source } if source.to_string().contains(NOT_TLS) => FtpError::Io {
                    context: format!(
                        "{context} (the server answered in clear text: it may take explicit TLS, AUTH TLS after \
                         its greeting; use --tls or an ftpes:// URL instead of ftps://)"
                    ),
                    source,
                },
                other => other,
            })?;
        }
        let mut session =
            FtpSession { control, server, mode, passive_refused: false, timeout, tls, features: None, home: None };
        let greeting = session.control.read_server_reply().map_err(|err| {
            match (io_error("waiting for the server's greeting", timeout)(err), security) {
                // Silence where a greeting was due: a server with implicit TLS is waiting for
                // a handshake.
                (FtpError::TimedOut { context, after }, Security::Plain | Security::Explicit(_)) => {
                    FtpError::TimedOut {
                        context: format!(
                            "{context} (a server with implicit TLS, often on port 990, says nothing until a TLS \
                         handshake: if this is one, use an ftps:// URL)"
                        ),
                        after,
                    }
                }
                (error, _) => error,
            }
        })?;
        if !greeting.is_complete() {
            return Err(FtpError::Refused { command: "the connection".into(), reply: greeting });
        }
        if let (Security::Explicit(_), Some((config, _))) = (security, session.tls.clone()) {
            let reply = session.command("AUTH TLS")?;
            if reply.code != 234 {
                return Err(FtpError::Refused {
                    command: "AUTH TLS (so nothing more was sent: the password stays unsent)".into(),
                    reply,
                });
            }
            start_client_tls(&mut session.control, &config, host, timeout)?;
        }
        if session.tls.is_some() {
            session.expect_complete("PBSZ 0", "PBSZ 0")?;
            session.expect_complete("PROT P", "PROT P")?;
        }
        // A refusal names the user tried, never the password.
        let login = format!("the login as {user:?}");
        let mut reply = session.command(&format!("USER {user}"))?;
        if reply.code == 331 || reply.code == 332 {
            reply = session.command(&format!("PASS {password}"))?;
        }
        if !reply.is_complete() {
            return Err(FtpError::Refused { command: login, reply });
        }
        session.expect_complete("TYPE I", "TYPE I")?;
        Ok(session)
    }

    /// Sends a command and reads its reply, whatever it is.
    fn command(&mut self, command: &str) -> Result<ServerReply, FtpError> {
        let context = format!("waiting for the reply to {}", String::from_utf8_lossy(masked(command.as_bytes())));
        self.control.exchange(command).map_err(io_error(context, self.timeout))
    }

    /// Sends a command that must get a 2xx reply; `shown` is how it is named in errors.
    fn expect_complete(&mut self, command: &str, shown: &str) -> Result<ServerReply, FtpError> {
        let reply = self.command(command)?;
        if reply.is_complete() { Ok(reply) } else { Err(FtpError::Refused { command: shown.into(), reply }) }
    }

    /// The size of a remote file, when the server tells (SIZE is an extension).
    pub fn size(&mut self, path: &str) -> Option<u64> {
        let reply = self.command(&format!("SIZE {path}")).ok()?;
        (reply.code == 213).then(|| reply.text().trim().parse().ok()).flatten()
    }

    /// The modification time of a remote file, when the server tells (MDTM, RFC 3659).
    pub fn modified(&mut self, path: &str) -> Option<super::listing::Modified> {
        let reply = self.command(&format!("MDTM {path}")).ok().filter(|reply| reply.code == 213)?;
        super::listing::parse_modify(reply.text().trim().as_bytes())
    }

    /// Downloads `path` from byte `offset` on (REST, when not 0) into `out` through a buffer
    /// of `buffer_size` bytes (see
    /// [`FILE_RECEIVE_BUFFER`](crate::protocol::data::FILE_RECEIVE_BUFFER)); `on_progress`
    /// gets the running byte count of this call. Returns the bytes received.
    pub fn retrieve(
        &mut self,
        path: &str,
        offset: u64,
        out: &mut dyn Write,
        buffer_size: usize,
        on_progress: &mut dyn FnMut(u64),
    ) -> Result<u64, FtpError> {
        let command = format!("RETR {path}");
        let data = self.start_transfer(&command, offset)?;
        let transfer = TransferGuard::new(data.as_raw_fd());
        let received = receive(&data, out, buffer_size, on_progress);
        drop(transfer);
        self.conclude_transfer(&command, data, received, "writing the download failed")
    }

    /// Uploads bytes `offset..len` of `file` as `path` (copied: [`SendMethod::Copy`]): from the start with
    /// STOR, or continuing the remote file with REST+STOR (APPE where REST is refused).
    /// `on_progress` gets the running count of bytes sent by this call.
    pub fn store(
        &mut self,
        path: &str,
        offset: u64,
        file: &File,
        len: u64,
        on_progress: &mut dyn FnMut(u64),
    ) -> Result<u64, FtpError> {
        let mut command = format!("STOR {path}");
        let data = match self.start_transfer(&command, offset) {
            Err(FtpError::Refused { command: refused, .. }) if refused.starts_with("REST") => {
                command = format!("APPE {path}");
                self.start_transfer(&command, 0)?
            }
            other => other?,
        };
        let transfer = TransferGuard::new(data.as_raw_fd());
        let sent = send_file(SendMethod::Copy, file, offset, len, &data, self.timeout, on_progress);
        drop(transfer);
        self.conclude_transfer(&command, data, sent, "reading the local file failed")
    }

    /// The `ls -l` listing of `path` (or of the working directory), as the server sends it.
    pub fn list(&mut self, path: Option<&str>) -> Result<Vec<u8>, FtpError> {
        self.listing("LIST", path)
    }

    /// The data of a listing command (`LIST`, `MLSD`) for `path` or the working directory.
    fn listing(&mut self, verb: &str, path: Option<&str>) -> Result<Vec<u8>, FtpError> {
        let command = path.map_or_else(|| verb.to_string(), |path| format!("{verb} {path}"));
        let mut listing = ListingBuffer(Vec::new());
        let data = self.start_transfer(&command, 0)?;
        let received = receive(&data, &mut listing, STREAM_RECEIVE_BUFFER, &mut |_| {});
        self.conclude_transfer(&command, data, received, "reading the listing failed")?;
        Ok(listing.0)
    }

    /// Whether FEAT lists `feature` (such as `MLST` or `MFMT`); FEAT is asked once.
    pub fn supports(&mut self, feature: &str) -> bool {
        if self.features.is_none() {
            let reply = self.command("FEAT").ok().filter(|reply| reply.is_complete());
            let lines = reply.map(|reply| reply.lines).unwrap_or_default();
            let words = lines.iter().filter_map(|line| line.split_whitespace().next()).map(str::to_ascii_uppercase);
            self.features = Some(words.collect());
        }
        self.features.as_ref().is_some_and(|features| features.iter().any(|f| f == feature))
    }

    /// The entries of the folder `path` (the working directory when empty), uniform
    /// whatever the server: MLSD where FEAT offers MLST, LIST otherwise.
    pub fn entries(&mut self, path: &str) -> Result<Vec<RemoteEntry>, FtpError> {
        let path = (!path.is_empty()).then_some(path);
        let mlsd = self.supports("MLST");
        let bytes = self.listing(if mlsd { "MLSD" } else { "LIST" }, path)?;
        Ok(parse_listing(&bytes, mlsd, unix_seconds(SystemTime::now())))
    }

    /// The entries of `folder` whose names match the shell pattern `pattern`.
    pub fn entries_matching(&mut self, folder: &str, pattern: &str) -> Result<Vec<RemoteEntry>, FtpError> {
        let entries = self.entries(folder)?;
        Ok(entries.into_iter().filter(|entry| glob_matches(pattern.as_bytes(), &entry.name)).collect())
    }

    /// What `LIST path` lists, parsed: on most servers, a file's own line.
    pub fn listed(&mut self, path: &str) -> Result<Vec<RemoteEntry>, FtpError> {
        let bytes = self.list(Some(path))?;
        Ok(parse_listing(&bytes, false, unix_seconds(SystemTime::now())))
    }

    /// Whether `path` is a folder on the server (CWD into it and back). A server that
    /// will not say where it is (no PWD) cannot be taken back, so nothing is tried: no.
    pub fn is_folder(&mut self, path: &str) -> Result<bool, FtpError> {
        let home = match &self.home {
            Some(home) => home.clone(),
            None => match self.working_folder() {
                // It stays the same: every CWD here goes back to it.
                Ok(home) => self.home.insert(home).clone(),
                Err(FtpError::Refused { .. }) => return Ok(false),
                Err(err) => return Err(err),
            },
        };
        let inside = self.command(&format!("CWD {path}"))?.is_complete();
        if inside {
            self.expect_complete(&format!("CWD {home}"), "CWD (back)")?;
        }
        Ok(inside)
    }

    /// The working directory (PWD's quoted path, RFC 959 Appendix II).
    fn working_folder(&mut self) -> Result<String, FtpError> {
        let reply = self.expect_complete("PWD", "PWD")?;
        let text = reply.text();
        let quoted = text.split_once('"').map(|(_, rest)| rest);
        // Inside the quotes, "" stands for one quote.
        let path = quoted.and_then(|rest| {
            let mut path = String::new();
            let mut chars = rest.chars().peekable();
            while let Some(c) = chars.next() {
                match (c, chars.peek()) {
                    ('"', Some('"')) => {
                        path.push('"');
                        chars.next();
                    }
                    ('"', _) => return Some(path),
                    (c, _) => path.push(c),
                }
            }
            None
        });
        path.ok_or_else(|| FtpError::Refused { command: "PWD (no quoted path in the reply)".into(), reply })
    }

    /// Creates the folder `path` (MKD); one that is already there is fine.
    pub fn make_folder(&mut self, path: &str) -> Result<(), FtpError> {
        let reply = self.command(&format!("MKD {path}"))?;
        if reply.is_complete() || self.is_folder(path)? {
            return Ok(());
        }
        Err(FtpError::Refused { command: format!("MKD {path}"), reply })
    }

    /// Sets the modification time of `path` (MFMT), when the server offers it; returns
    /// whether it did.
    pub fn set_modified(&mut self, path: &str, seconds: i64) -> bool {
        if !self.supports("MFMT") {
            return false;
        }
        let stamp = crate::protocol::timestamp::timestamp(seconds);
        self.command(&format!("MFMT {stamp} {path}")).is_ok_and(|reply| reply.is_complete())
    }

    /// True when the server still answers (a NOOP gets a reply).
    pub fn is_alive(&mut self) -> bool {
        self.command("NOOP").is_ok()
    }

    /// Ends the session politely.
    pub fn quit(mut self) {
        let _ = self.command("QUIT");
    }

    /// Sets up the data connection, sends REST `offset` (when not 0) and `command`, and
    /// returns the connection once the server accepted the transfer (1xx), under TLS when
    /// the session is (this side is the TLS client in both directions, RFC 4217 §7).
    fn start_transfer(&mut self, command: &str, offset: u64) -> Result<Channel, FtpError> {
        let stream = self.open_transfer(command, offset)?;
        if let (Ok(local), Ok(peer)) = (stream.local_addr(), stream.peer_addr()) {
            self.control.note(format_args!("data connection {local} <-> {peer}"));
        }
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(Some(self.timeout));
        let channel = Channel::plain(stream);
        if let Some((config, host)) = &self.tls {
            let handshake = crate::tls::client_connection(config, host)
                .and_then(|connection| channel.start_tls(connection, self.timeout));
            if let Err(err) = handshake {
                let error = io_error("the TLS handshake on the data connection failed", self.timeout)(err);
                return Err(self.after_broken_transfer(command, channel, Some(error)));
            }
            let resumed = if channel.tls_resumed() { ", the control connection's session resumed" } else { "" };
            self.control.note(format_args!("data TLS {}{resumed}", channel.tls_summary().unwrap_or_default()));
        }
        Ok(channel)
    }

    fn open_transfer(&mut self, command: &str, offset: u64) -> Result<TcpStream, FtpError> {
        let pending = self.prepare_data()?;
        if offset > 0 {
            let rest = format!("REST {offset}");
            let reply = self.command(&rest)?;
            if reply.code != 350 {
                return Err(FtpError::Refused { command: rest, reply });
            }
        }
        // Ctrl-C in the lab while the data connection was being prepared: the transfer is
        // not begun (the lab goes back to its prompt; other clients are exiting).
        if signals::transfers_aborted() {
            return Err(FtpError::Interrupted);
        }
        let reply = self.command(command)?;
        if !reply.is_preliminary() {
            return Err(FtpError::Refused { command: command.into(), reply });
        }
        match pending {
            PendingData::Connected(stream) => Ok(stream),
            PendingData::Listening(listener) => {
                match accept_from(&listener, self.server.ip(), Some(self.control.raw_fd()), self.timeout) {
                    Ok(Accepted::Connection(stream)) => Ok(stream),
                    Ok(Accepted::Watched) => {
                        let reply =
                            self.control.read_server_reply().map_err(io_error("the connection broke", self.timeout))?;
                        Err(FtpError::Refused { command: command.into(), reply })
                    }
                    Ok(Accepted::TimedOut) => {
                        Err(io_error("waiting for the data connection", self.timeout)(io::ErrorKind::TimedOut.into()))
                    }
                    Err(err) => Err(io_error("waiting for the data connection", self.timeout)(err)),
                }
            }
        }
    }

    /// Ends a transfer whose bytes have `moved` (or not): a whole one by closing the data
    /// connection and reading the 2xx that must follow; a broken or interrupted one as
    /// [`Self::after_broken_transfer`] does, naming a local failure as `local_failure`.
    fn conclude_transfer(
        &mut self,
        command: &str,
        data: Channel,
        moved: Result<u64, DataError>,
        local_failure: &str,
    ) -> Result<u64, FtpError> {
        let error = match moved {
            Ok(bytes) if !signals::transfers_aborted() => {
                if data.is_tls() {
                    end_tls_data(&data);
                }
                drop(data);
                self.finish_transfer(command)?;
                return Ok(bytes);
            }
            Ok(_) => None,
            Err(DataError::Peer(err)) => Some(io_error("the data connection", self.timeout)(err)),
            Err(DataError::Local(err)) => Some(local_error(local_failure)(err)),
        };
        Err(self.after_broken_transfer(command, data, error))
    }

    /// Ends a transfer that went wrong on this side or was interrupted: the data connection
    /// is reset, so the server can never take a cut-off upload for a whole one (a local file
    /// that shrank, Ctrl-C), and the server's closing reply is read so that the session stays
    /// in step for the next command.
    fn after_broken_transfer(&mut self, command: &str, data: Channel, error: Option<FtpError>) -> FtpError {
        signals::reset_connection(data.as_raw_fd());
        drop(data);
        let closing = self.control.read_server_reply();
        if signals::transfers_aborted() {
            return FtpError::Interrupted;
        }
        match (error, closing) {
            // The server ended the transfer with a reason (552 disk full, 451) and closed
            // the connection, which is why sending broke: its reason is the news.
            (Some(FtpError::Io { .. } | FtpError::TimedOut { .. }), Ok(reply)) if reply.code >= 400 => {
                FtpError::Refused { command: command.into(), reply }
            }
            (Some(error), _) => error,
            (None, Ok(reply)) => FtpError::Refused { command: command.into(), reply },
            (None, Err(err)) => io_error(format!("waiting for the final reply to {command}"), self.timeout)(err),
        }
    }

    /// Reads the reply that closes a transfer; it must be 2xx.
    fn finish_transfer(&mut self, command: &str) -> Result<(), FtpError> {
        let reply = self
            .control
            .read_server_reply()
            .map_err(io_error(format!("waiting for the final reply to {command}"), self.timeout))?;
        if reply.is_complete() { Ok(()) } else { Err(FtpError::Refused { command: command.into(), reply }) }
    }

    fn prepare_data(&mut self) -> Result<PendingData, FtpError> {
        if self.mode != DataMode::Active && !self.passive_refused {
            match self.passive_address()? {
                Some(address) => {
                    let stream = TcpStream::connect_timeout(&address, self.timeout)
                        .map_err(io_error(format!("cannot open the data connection to {address}"), self.timeout))?;
                    return Ok(PendingData::Connected(stream));
                }
                None if self.mode == DataMode::Passive => {
                    return Err(io_error("passive mode", self.timeout)(io::Error::other(
                        "the server refuses EPSV and PASV; try --active",
                    )));
                }
                None => self.passive_refused = true,
            }
        }
        self.active_listener().map(PendingData::Listening)
    }

    /// EPSV, then PASV; `None` when the server refuses both. The address is always the
    /// server's own (as ftplib does, the IP inside a 227 reply is not trusted).
    fn passive_address(&mut self) -> Result<Option<SocketAddr>, FtpError> {
        let reply = self.command("EPSV")?;
        if let Some(port) = parse_epsv_reply(reply.text()).filter(|_| reply.code == 229) {
            return Ok(Some(SocketAddr::new(self.server.ip(), port)));
        }
        // PASV can only announce IPv4 addresses.
        if self.server.ip().to_canonical().is_ipv4() {
            let reply = self.command("PASV")?;
            return Ok(pasv_data_address(self.server.ip(), &reply));
        }
        Ok(None)
    }

    /// Listens on the control connection's local address and announces it with PORT (IPv4)
    /// or EPRT (IPv6).
    fn active_listener(&mut self) -> Result<TcpListener, FtpError> {
        let local = self.control.local_addr().map_err(io_error("the connection broke", self.timeout))?;
        let ip = local.ip().to_canonical();
        let listener = TcpListener::bind((ip, 0)).map_err(io_error("cannot open a local data port", self.timeout))?;
        let port = listener.local_addr().map_err(io_error("cannot open a local data port", self.timeout))?.port();
        let command = match ip {
            IpAddr::V4(v4) => format!("PORT {}", format_port_argument(std::net::SocketAddrV4::new(v4, port))),
            IpAddr::V6(_) => format!("EPRT {}", format_eprt_argument(SocketAddr::new(ip, port))),
        };
        let shown = command.clone();
        self.expect_complete(&command, &shown)?;
        Ok(listener)
    }
}

/// `config` with a session cache of its own, for one FTP session: its data connections
/// must resume the TLS session of its own control connection (vsftpd's
/// `require_ssl_reuse` refuses any other, even one of the same client's parallel
/// sessions), so tickets are not shared between sessions to the same server.
fn own_session_cache(config: &Arc<rustls::ClientConfig>) -> Arc<rustls::ClientConfig> {
    let mut own = (**config).clone();
    own.resumption = rustls::client::Resumption::in_memory_sessions(32);
    Arc::new(own)
}

/// Puts the control connection under TLS for `host`.
fn start_client_tls(
    control: &mut ControlConnection,
    config: &Arc<rustls::ClientConfig>,
    host: &str,
    timeout: Duration,
) -> Result<(), FtpError> {
    let connection = crate::tls::client_connection(config, host).map_err(local_error("cannot start TLS"))?;
    control.start_tls(connection).map_err(io_error(format!("the TLS handshake with {host} failed"), timeout))
}

/// Ends a whole TLS data connection: `close_notify` (the server knows the upload is whole),
/// then reads what the server still sent up to its end. That is where the session tickets
/// the server sent after the handshake are taken in: without them the next data
/// connection could not resume the TLS session, and a server that requires that (as
/// minftp and vsftpd do) would refuse it. Failures are left to the final reply to tell: a
/// server that closed first (after a download) makes `close_notify` fail harmlessly.
fn end_tls_data(data: &Channel) {
    use std::io::Read;
    let _ = data.finish();
    let _ = data.socket().shutdown(std::net::Shutdown::Write);
    let mut rest = [0u8; 4096];
    let mut reader = data;
    while matches!(reader.read(&mut rest), Ok(n) if n > 0) {}
}

/// Where the data connection of a PASV `reply` goes: to the port it names on `server`, the
/// control connection's address. The address in the reply is never used: a server (or a
/// NAT that rewrote it wrongly) could send the client to another host (FTP bounce).
fn pasv_data_address(server: IpAddr, reply: &ServerReply) -> Option<SocketAddr> {
    let announced = parse_pasv_reply(reply.text()).filter(|_| reply.code == 227)?;
    Some(SocketAddr::new(server, announced.port()))
}

/// The most one listing may hold: a folder of millions of entries fits, and a server that
/// sends a listing without end is stopped before it takes the machine's memory.
const MAX_LISTING_BYTES: usize = 256 << 20;

/// A listing's bytes, refused past [`MAX_LISTING_BYTES`].
struct ListingBuffer(Vec<u8>);

impl Write for ListingBuffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.0.len() + bytes.len() > MAX_LISTING_BYTES {
            let mib = MAX_LISTING_BYTES >> 20;
            return Err(io::Error::other(format!("the listing is over {mib} MiB (a server that sends without end?)")));
        }
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pasv_reply_gives_only_a_port_the_address_is_the_servers() {
        let reply = |code, text: &str| ServerReply { code, lines: vec![text.to_string()] };
        let server: IpAddr = "127.0.0.1".parse().unwrap();
        // 192.0.2.1 is a documentation address: decided here, never connected to.
        let elsewhere = reply(227, "Entering Passive Mode (192,0,2,1,4,1).");
        assert_eq!(pasv_data_address(server, &elsewhere), Some("127.0.0.1:1025".parse().unwrap()));
        assert_eq!(
            pasv_data_address(server, &reply(227, "Entering Passive Mode (127,0,0,1,0,21)")).unwrap().port(),
            21
        );
        assert_eq!(pasv_data_address(server, &reply(502, "Entering Passive Mode (127,0,0,1,4,1)")), None);
        assert_eq!(pasv_data_address(server, &reply(227, "no numbers")), None);
    }
}
