//! The one transport under every control and data connection: a TCP socket, either plain
//! or carrying TLS (RFC 4217, FTP over TLS). Reading and writing look the same either way;
//! what differs (the handshake, `close_notify`, no `sendfile` through TLS) is here.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::records::{self, RecordSealer};

/// A connection: its socket and, once a handshake made one, its TLS state. The control
/// connection is shared (`Arc<Channel>`) between its line reader and its reply writer,
/// both on the session's thread; the mutex makes it safe to share, and is never contended.
pub struct Channel {
    socket: TcpStream,
    tls: Mutex<Option<Tls>>,
    /// Encrypted bytes read from the socket and not yet given to rustls (bulk reads only,
    /// see [`BULK_READ`]), and where the unread ones start.
    inbound: Mutex<(Vec<u8>, usize)>,
}

/// A connection's TLS state. Boxed: either is over 1 KiB, which a plain connection should
/// not carry.
enum Tls {
    /// rustls runs the connection.
    Session(Box<rustls::Connection>),
    /// A server's TLS 1.3 connection whose sending rustls handed over for the rest of a
    /// download ([`Channel::seal_from_now`]); it only sends from then on.
    Sealing(Box<RecordSealer>),
    /// Neither: handing over failed half-way. Nothing can be sent or read.
    Failed,
}

/// Reads of at least this many bytes (a transfer's, not a command line's) go through
/// [`Channel::inbound`]: rustls reads the socket 4 KiB at a time, five system calls for one
/// 16 KiB record; reading 256 KiB at once and handing rustls slices of it made TLS
/// uploads faster (bench/run.py "TLS server STOR").
const BULK_READ: usize = 64 * 1024;

/// The size of [`Channel::inbound`] once a bulk read needs it.
const INBOUND_BUFFER: usize = 256 * 1024;

impl Channel {
    pub fn plain(socket: TcpStream) -> Channel {
        Channel { socket, tls: Mutex::new(None), inbound: Mutex::new((Vec::new(), 0)) }
    }

    /// The socket underneath: for addresses, options and polling. Bytes must go through
    /// the channel (its Read and Write), never straight to the socket, once TLS is on.
    pub fn socket(&self) -> &TcpStream {
        &self.socket
    }

    pub fn is_tls(&self) -> bool {
        self.state().is_some()
    }

    /// Whether this (server) connection resumed a TLS session made for `client`
    /// ([`crate::tls::resumed_for`]). False for plain connections.
    pub fn resumed_for(&self, client: std::net::IpAddr) -> bool {
        matches!(self.state().as_ref(), Some(Tls::Session(tls)) if crate::tls::resumed_for(tls, client))
    }

    /// Runs a TLS handshake with `tls` (a new server or client connection) over this
    /// socket; from then on every byte is encrypted. The whole handshake must finish
    /// within `limit`: a peer that stops or dribbles mid-handshake cannot hold the thread.
    /// Bytes that are not TLS end it with an error (and an alert to the peer).
    pub fn start_tls(&self, tls: impl Into<rustls::Connection>, limit: Duration) -> io::Result<()> {
        let mut tls = tls.into();
        let deadline = Instant::now() + limit;
        let previous = (self.socket.read_timeout()?, self.socket.write_timeout()?);
        let shaken = handshake(&mut tls, &self.socket, deadline);
        self.socket.set_read_timeout(previous.0)?;
        self.socket.set_write_timeout(previous.1)?;
        shaken?;
        *self.state() = Some(Tls::Session(Box::new(tls)));
        Ok(())
    }

    /// Takes the sending of a server's TLS 1.3 connection over from rustls for `bytes` of
    /// a download, which then go through [`Channel::send_records`]: true when it did. False,
    /// and nothing changes, for plain connections, clients, TLS 1.2, or more records than
    /// the sealer may send under one key. The server's download configuration must allow
    /// extracting secrets ([`crate::tls::ConnectionConfigs`]). From then on the connection
    /// only sends: nothing it receives can be read.
    pub fn seal_from_now(&self, bytes: u64) -> io::Result<bool> {
        let mut state = self.state();
        let Some(Tls::Session(tls)) = state.as_mut() else { return Ok(false) };
        let tls_13 = tls.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3);
        if !matches!(**tls, rustls::Connection::Server(_)) || !tls_13 || !RecordSealer::may_send(bytes) {
            return Ok(false);
        }
        // Extraction refuses while records wait to be sent (the session tickets).
        flush_records(tls, &self.socket)?;
        let Some(Tls::Session(tls)) = state.replace(Tls::Failed) else {
            return Err(handed_over()); // matched above, under the same lock
        };
        // Until the sealer is in place the connection is Failed, never plain: no byte may
        // leave unencrypted after a failure here.
        let secrets = tls.dangerous_extract_secrets().map_err(|err| io::Error::other(format!("TLS: {err}")))?;
        let sealer = RecordSealer::new(secrets.tx.0, &secrets.tx.1)
            .ok_or_else(|| io::Error::other("TLS: a cipher suite the record sealer does not know"))?;
        if !sealer.has_room_for(RecordSealer::records_for(bytes)) {
            return Err(io::Error::other("TLS: too many records for one key"));
        }
        *state = Some(Tls::Sealing(Box::new(sealer)));
        Ok(true)
    }

    /// Whether sending goes through [`Channel::send_records`] ([`Channel::seal_from_now`]).
    pub fn is_sealing(&self) -> bool {
        matches!(self.state().as_ref(), Some(Tls::Sealing(_)))
    }

    /// Seals the `filled` bytes of plaintext in `batch` (laid out as
    /// [`records::payload_slots`] says) and sends the records; the socket's write timeout
    /// applies. Only on a connection that [`Channel::seal_from_now`] took over.
    pub fn send_records(&self, batch: &mut [u8], filled: usize) -> io::Result<()> {
        let sealed = match self.state().as_mut() {
            Some(Tls::Sealing(sealer)) => sealer.seal_batch(batch, filled)?,
            _ => return Err(io::Error::other("records sent on a connection that does not seal them")),
        };
        (&self.socket).write_all(&batch[..sealed])
    }

    /// Ends the TLS stream cleanly (`close_notify`), so the peer knows the data is whole
    /// (OpenSSL 3 clients report an end without it as an error). Nothing for plain ones.
    pub fn finish(&self) -> io::Result<()> {
        let mut state = self.state();
        match state.as_mut() {
            Some(Tls::Session(tls)) => {
                tls.send_close_notify();
                flush_records(tls, &self.socket)
            }
            Some(Tls::Sealing(sealer)) => {
                let alert = sealer.close_notify()?;
                drop(state);
                (&self.socket).write_all(&alert)
            }
            Some(Tls::Failed) => Err(handed_over()),
            None => Ok(()),
        }
    }

    /// Whether a read would return bytes without waiting on the socket: TLS plaintext
    /// already decrypted, or encrypted bytes already read. Plain connections keep none.
    pub fn has_buffered_input(&self) -> bool {
        match self.state().as_mut() {
            // An error is input too: the next read reports it.
            Some(Tls::Session(tls)) => {
                tls.process_new_packets().map_or(true, |io| io.plaintext_bytes_to_read() > 0)
                    || self.has_inbound_bytes()
            }
            _ => false,
        }
    }

    fn state(&self) -> MutexGuard<'_, Option<Tls>> {
        self.tls.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Channel {
    fn has_inbound_bytes(&self) -> bool {
        let inbound = self.inbound.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        inbound.1 < inbound.0.len()
    }

    /// Gives rustls the next encrypted bytes from [`Channel::inbound`], refilled from the
    /// socket with one large read when empty. Returns what rustls took (0: end of stream).
    fn read_tls_buffered(&self, tls: &mut rustls::Connection) -> io::Result<usize> {
        let mut inbound = self.inbound.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (buffer, start) = &mut *inbound;
        if *start == buffer.len() {
            buffer.resize(INBOUND_BUFFER, 0);
            let n = match (&self.socket).read(buffer) {
                Ok(n) => n,
                Err(err) => {
                    buffer.clear();
                    *start = 0;
                    return Err(err);
                }
            };
            buffer.truncate(n);
            *start = 0;
            if n == 0 {
                // An empty slice is how rustls learns of the end of the stream.
                return tls.read_tls(&mut &[][..]);
            }
        }
        let mut pending = &buffer[*start..];
        let before = pending.len();
        tls.read_tls(&mut pending)?;
        let taken = before - pending.len();
        *start += taken;
        Ok(taken)
    }
}

impl AsRawFd for Channel {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// The handshake of [`Channel::start_tls`], each socket wait bounded by what is left.
fn handshake(tls: &mut rustls::Connection, socket: &TcpStream, deadline: Instant) -> io::Result<()> {
    let left = || {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::Error::new(io::ErrorKind::TimedOut, "the TLS handshake took too long"))
        } else {
            Ok(left)
        }
    };
    while tls.is_handshaking() {
        while tls.wants_write() {
            socket.set_write_timeout(Some(left()?))?;
            tls.write_tls(&mut &*socket)?;
        }
        if !tls.is_handshaking() {
            break;
        }
        socket.set_read_timeout(Some(left()?))?;
        if tls.read_tls(&mut &*socket)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the peer closed the connection mid-handshake"));
        }
        process(tls, socket)?;
    }
    // The last flight (a client's Finished, a server's session tickets).
    while tls.wants_write() {
        socket.set_write_timeout(Some(left()?))?;
        tls.write_tls(&mut &*socket)?;
    }
    Ok(())
}

/// Decrypts what arrived; a TLS error is sent to the peer as an alert and returned.
fn process(tls: &mut rustls::Connection, socket: &TcpStream) -> io::Result<()> {
    if let Err(err) = tls.process_new_packets() {
        let _ = tls.write_tls(&mut &*socket);
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {err}")));
    }
    Ok(())
}

/// [`Write`] under TLS: encrypts what rustls takes of `buf` and sends it.
fn write_plaintext(tls: &mut rustls::Connection, socket: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    let n = tls.writer().write(buf)?;
    flush_records(tls, socket)?;
    Ok(n)
}

/// Writes every pending TLS record; on a non-blocking socket, waits until it drains (a
/// stalled peer fails with the socket's write timeout, or after a minute).
fn flush_records(tls: &mut rustls::Connection, socket: &TcpStream) -> io::Result<()> {
    while tls.wants_write() {
        match tls.write_tls(&mut &*socket) {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                wait_writable(socket, socket.write_timeout()?.unwrap_or(Duration::from_secs(60)))?;
            }
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Waits until `socket` accepts more bytes, or fails after `timeout` ([`stopped_reading`]).
pub(crate) fn wait_writable(socket: &TcpStream, timeout: Duration) -> io::Result<()> {
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    let mut fd = libc::pollfd { fd: socket.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
    loop {
        // SAFETY: one valid pollfd structure for the whole call.
        match unsafe { libc::poll(&mut fd, 1, millis) } {
            0 => return Err(stopped_reading()),
            n if n > 0 => return Ok(()),
            _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => continue,
            _ => return Err(io::Error::last_os_error()),
        }
    }
}

/// A peer that accepted no bytes for the stall limit.
pub(crate) fn stopped_reading() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the peer stopped reading")
}

/// A read from a connection whose TLS only sends now, or any use of one whose hand-over
/// failed ([`Channel::seal_from_now`]).
fn handed_over() -> io::Error {
    io::Error::other("this TLS connection's keys were handed over for a download: it only sends")
}

/// A peer that sent nothing for `limit`.
pub(crate) fn no_data_for(limit: Duration) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("no data for {} s", limit.as_secs()))
}

impl Read for &Channel {
    /// Plain: the socket's bytes. TLS: decrypted bytes, reading records as needed; `Ok(0)`
    /// at the end of the stream, whether the peer sent `close_notify` or only closed TCP
    /// (as vsftpd accepts by default: some clients never send it). The socket's timeout
    /// and blocking mode apply: a non-blocking socket with nothing decrypted yet gives
    /// `WouldBlock`.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut state = self.state();
        match state.as_mut() {
            Some(Tls::Session(tls)) => self.read_plaintext(tls, buf),
            Some(Tls::Sealing(_) | Tls::Failed) => Err(handed_over()),
            None => {
                drop(state);
                (&self.socket).read(buf)
            }
        }
    }
}

impl Channel {
    /// [`Read`] under TLS: decrypted bytes, reading records as they are needed.
    fn read_plaintext(&self, tls: &mut rustls::Connection, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(err),
            }
            // Nothing decrypted yet: answer what the peer may wait for, then read a record.
            flush_records(tls, &self.socket)?;
            // At the end of TCP (0 bytes), the reader then says whether close_notify came
            // first. Bytes already in the inbound buffer come before any on the socket.
            if buf.len() >= BULK_READ || self.has_inbound_bytes() {
                self.read_tls_buffered(tls)?;
            } else {
                tls.read_tls(&mut &self.socket)?;
            }
            process(tls, &self.socket)?;
        }
    }
}

impl Write for &Channel {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut state = self.state();
        match state.as_mut() {
            Some(Tls::Session(tls)) => write_plaintext(tls, &self.socket, buf),
            Some(Tls::Sealing(_)) => {
                drop(state);
                let len = buf.len().min(records::MAX_PLAINTEXT);
                let mut record = vec![0; records::MAX_RECORD];
                records::payload_slots(&mut record, len)[0].copy_from_slice(&buf[..len]);
                self.send_records(&mut record, len)?;
                Ok(len)
            }
            Some(Tls::Failed) => Err(handed_over()),
            None => {
                drop(state);
                (&self.socket).write(buf)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.state().as_mut() {
            Some(Tls::Session(tls)) => flush_records(tls, &self.socket),
            _ => Ok(()),
        }
    }
}
