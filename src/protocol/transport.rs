//! The one transport under every control and data connection: a TCP socket, either plain
//! or carrying TLS (RFC 4217, FTP over TLS). Reading and writing look the same either way;
//! what differs (the handshake, `close_notify`, no `sendfile` through TLS) is here.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::records::{self, Opened, RecordOpener, RecordSealer};

/// A connection: its socket and, once a handshake made one, its TLS state. The control
/// connection is shared (`Arc<Channel>`) between its line reader and its reply writer,
/// both on the session's thread; the mutex makes it safe to share, and is never contended.
pub struct Channel {
    socket: TcpStream,
    tls: Mutex<Option<Tls>>,
    /// Encrypted bytes read from the socket and not yet used (bulk reads only, see
    /// [`BULK_READ`], and [`Channel::receive_records`]).
    inbound: Mutex<Inbound>,
}

/// [`Channel::inbound`]: `bytes[start..end]` are read and not yet used. The buffer keeps
/// its size between reads, so that no read pays for clearing it again.
#[derive(Default)]
struct Inbound {
    bytes: Vec<u8>,
    start: usize,
    end: usize,
}

impl Inbound {
    /// Moves the unused bytes to the front and reads after them from `socket`, into room
    /// for at least `room` bytes in all; returns what the read gave.
    fn refill(&mut self, mut socket: &TcpStream, room: usize) -> io::Result<usize> {
        self.bytes.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.bytes.len() < room.max(self.end + 1) {
            self.bytes.resize(room.max(self.end + 1), 0);
        }
        let n = socket.read(&mut self.bytes[self.end..])?;
        self.end += n;
        Ok(n)
    }
}

/// A connection's TLS state. Boxed: either is over 1 KiB, which a plain connection should
/// not carry.
enum Tls {
    /// rustls runs the connection.
    Session(Box<rustls::Connection>),
    /// A server's TLS 1.3 data connection whose record layer rustls handed over for the
    /// rest of a transfer ([`Channel::take_over_records`]).
    Records(Box<RecordLayer>),
    /// Neither: handing over failed half-way. Nothing can be sent or read.
    Failed,
}

/// Both directions of a connection's records after the hand-over.
struct RecordLayer {
    sealer: RecordSealer,
    opener: RecordOpener,
    /// The peer's `close_notify` came: every later read is the end.
    peer_closed: bool,
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
        Channel { socket, tls: Mutex::new(None), inbound: Mutex::new(Inbound::default()) }
    }

    /// The socket underneath: for addresses, options and polling. Bytes must go through
    /// the channel (its Read and Write), never straight to the socket, once TLS is on.
    pub fn socket(&self) -> &TcpStream {
        &self.socket
    }

    pub fn is_tls(&self) -> bool {
        self.state().is_some()
    }

    /// What `read` finds in the rustls connection once a handshake is over; None for a
    /// plain connection (and once its records were taken over).
    fn session<R>(&self, read: impl FnOnce(&rustls::Connection) -> R) -> Option<R> {
        match self.state().as_ref() {
            Some(Tls::Session(tls)) => Some(read(tls)),
            _ => None,
        }
    }

    /// Whether this (server) connection resumed a TLS session made for `client`
    /// ([`crate::tls::resumed_for`]). False for plain connections.
    pub fn resumed_for(&self, client: std::net::IpAddr) -> bool {
        self.session(|tls| crate::tls::resumed_for(tls, client)).unwrap_or(false)
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

    /// The peer's own certificate (DER) once a TLS handshake is over; None for plain
    /// connections, or when rustls has none (a peer that sent none).
    pub fn peer_certificate(&self) -> Option<Vec<u8>> {
        self.session(|tls| tls.peer_certificates()?.first().map(|der| der.to_vec())).flatten()
    }

    /// Whether the TLS handshake resumed an earlier session (a data connection that
    /// resumes its control connection's session). False for plain connections.
    pub fn tls_resumed(&self) -> bool {
        self.session(|tls| tls.handshake_kind() == Some(rustls::HandshakeKind::Resumed)).unwrap_or(false)
    }

    /// The negotiated TLS version and cipher suite, as `TLSv1.3/TLS13_AES_256_GCM_SHA384`
    /// (for the operator's log); `None` for a plain connection or before a handshake.
    pub fn tls_summary(&self) -> Option<String> {
        self.session(|tls| {
            let version = match tls.protocol_version()? {
                rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_string(),
                rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_string(),
                other => format!("{other:?}"),
            };
            let suite = tls.negotiated_cipher_suite().map_or_else(|| "?".to_string(), |s| format!("{:?}", s.suite()));
            Some(format!("{version}/{suite}"))
        })
        .flatten()
    }

    /// Takes the record layer of a server's TLS 1.3 data connection over from rustls for
    /// a transfer that sends `bytes` (0 for an upload): data is then sent with
    /// [`Channel::send_records`] and received with [`Channel::receive_records`], sealed
    /// and opened in place (super::records). True when it did; false, and nothing changes,
    /// for plain connections, clients, TLS 1.2, plaintext rustls already decrypted, or
    /// more records than one key may seal here. The server's data configurations must
    /// allow extracting secrets ([`crate::tls::ConnectionConfigs`]); the handshake read
    /// the socket record by record, so rustls holds no data record that would be lost.
    pub fn take_over_records(&self, bytes: u64) -> io::Result<bool> {
        let mut state = self.state();
        let Some(Tls::Session(tls)) = state.as_mut() else { return Ok(false) };
        let tls_13 = tls.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3);
        if !matches!(**tls, rustls::Connection::Server(_)) || !tls_13 || !RecordSealer::may_send(bytes) {
            return Ok(false);
        }
        if process(tls, &self.socket)?.plaintext_bytes_to_read() > 0 {
            return Ok(false);
        }
        // Extraction refuses while records wait to be sent (the session tickets).
        flush_records(tls, &self.socket)?;
        let Some(Tls::Session(tls)) = state.replace(Tls::Failed) else {
            return Err(handed_over()); // matched above, under the same lock
        };
        // Until the record layer is in place the connection is Failed, never plain: no
        // byte may leave unencrypted after a failure here.
        let secrets = tls.dangerous_extract_secrets().map_err(|err| io::Error::other(format!("TLS: {err}")))?;
        let unknown = || io::Error::other("TLS: a cipher suite the record layer does not know");
        let sealer = RecordSealer::new(secrets.tx.0, &secrets.tx.1).ok_or_else(unknown)?;
        let opener = RecordOpener::new(secrets.rx.0, &secrets.rx.1).ok_or_else(unknown)?;
        if !sealer.has_room_for(RecordSealer::records_for(bytes)) {
            return Err(io::Error::other("TLS: too many records for one key"));
        }
        *state = Some(Tls::Records(Box::new(RecordLayer { sealer, opener, peer_closed: false })));
        Ok(true)
    }

    /// Whether data goes through [`Channel::send_records`] and
    /// [`Channel::receive_records`] ([`Channel::take_over_records`]).
    pub fn has_record_layer(&self) -> bool {
        matches!(self.state().as_ref(), Some(Tls::Records(_)))
    }

    /// Seals the `filled` bytes of plaintext in `batch` (laid out as
    /// [`records::payload_slots`] says) and sends the records; the socket's write timeout
    /// applies. Only on a connection that [`Channel::take_over_records`] took over.
    pub fn send_records(&self, batch: &mut [u8], filled: usize) -> io::Result<()> {
        let sealed = match self.state().as_mut() {
            Some(Tls::Records(layer)) => layer.sealer.seal_batch(batch, filled)?,
            _ => return Err(io::Error::other("records sent on a connection that does not seal them")),
        };
        (&self.socket).write_all(&batch[..sealed])
    }

    /// Reads what the socket has (at most [`INBOUND_BUFFER`] bytes; the socket's blocking
    /// mode and timeout apply), opens every whole record in place and hands the data to
    /// `deliver` in one call; a record cut by the read waits for the next. Returns how
    /// many bytes were delivered: 0 only at the end (`close_notify`, or the end of TCP
    /// between records, as vsftpd accepts). Only on a connection that
    /// [`Channel::take_over_records`] took over.
    pub fn receive_records(&self, deliver: &mut dyn FnMut(&[io::IoSlice<'_>]) -> io::Result<()>) -> io::Result<usize> {
        let mut state = self.state();
        let Some(Tls::Records(layer)) = state.as_mut() else {
            return Err(io::Error::other("records read on a connection that does not open them"));
        };
        let mut inbound = self.inbound.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        loop {
            if layer.peer_closed {
                return Ok(0);
            }
            // A record cut by the last read moves to the front; this read goes after it.
            let kept = inbound.end - inbound.start;
            if inbound.refill(&self.socket, INBOUND_BUFFER.max(kept + records::MAX_RECORD))? == 0 {
                if kept > 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "TLS: the stream ended mid-record"));
                }
                return Ok(0);
            }
            let Inbound { bytes, start, end } = &mut *inbound;
            let mut data = Vec::new();
            while let Some(len) = RecordOpener::record_len(&bytes[*start..*end])? {
                if *start + len > *end {
                    break;
                }
                let record = *start..*start + len;
                *start += len;
                match layer.opener.open(&mut bytes[record.clone()])? {
                    Opened::Data(range) => data.push(record.start + range.start..record.start + range.end),
                    Opened::Closed => {
                        layer.peer_closed = true;
                        break;
                    }
                }
            }
            let delivered = data.iter().map(|range| range.len()).sum();
            if delivered > 0 {
                let slices: Vec<io::IoSlice<'_>> =
                    data.into_iter().map(|range| io::IoSlice::new(&bytes[range])).collect();
                deliver(&slices)?;
                return Ok(delivered);
            }
        }
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
            Some(Tls::Records(layer)) => {
                let alert = layer.sealer.close_notify()?;
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
        inbound.start < inbound.end
    }

    /// Gives rustls the next encrypted bytes from [`Channel::inbound`], refilled from the
    /// socket with one large read when empty. Returns what rustls took (0: end of stream).
    fn read_tls_buffered(&self, tls: &mut rustls::Connection) -> io::Result<usize> {
        let mut inbound = self.inbound.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if inbound.start == inbound.end && inbound.refill(&self.socket, INBOUND_BUFFER)? == 0 {
            // An empty slice is how rustls learns of the end of the stream.
            return tls.read_tls(&mut &[][..]);
        }
        let mut pending = &inbound.bytes[inbound.start..inbound.end];
        let before = pending.len();
        tls.read_tls(&mut pending)?;
        let taken = before - pending.len();
        inbound.start += taken;
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
        let record = read_one_record(socket, deadline)?;
        let mut unread = &record[..];
        while !unread.is_empty() {
            tls.read_tls(&mut unread)?;
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

/// One TLS record from `socket`, whole, and not a byte more: whatever follows the
/// handshake stays in the socket for whoever reads next (rustls' own reads could take the
/// first data records along, and it does not give them back when its keys are taken over,
/// [`Channel::take_over_records`]). Five bytes that cannot start a record are returned as
/// they are, for rustls to refuse.
fn read_one_record(socket: &TcpStream, deadline: Instant) -> io::Result<Vec<u8>> {
    let mut record = vec![0u8; records::HEADER];
    read_all(socket, &mut record, deadline)?;
    let len = records::declared_len(&record);
    // Content types 20-23: change_cipher_spec, alert, handshake, application_data.
    let plausible = (20..=23).contains(&record[0]) && record[1] == 0x03 && len <= records::MAX_PLAINTEXT + 2048;
    if plausible {
        record.resize(records::HEADER + len, 0);
        read_all(socket, &mut record[records::HEADER..], deadline)?;
    }
    Ok(record)
}

/// Fills `buf` from `socket` by `deadline` (each read waits only for what is left of it,
/// so a peer that dribbles cannot stretch the handshake); the end of the stream first is
/// an error.
fn read_all(mut socket: &TcpStream, buf: &mut [u8], deadline: Instant) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "the TLS handshake took too long"));
        }
        socket.set_read_timeout(Some(left))?;
        match socket.read(&mut buf[filled..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection mid-handshake",
                ));
            }
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Decrypts what arrived; a TLS error is sent to the peer as an alert and returned.
fn process(tls: &mut rustls::Connection, socket: &TcpStream) -> io::Result<rustls::IoState> {
    tls.process_new_packets().map_err(|err| {
        let _ = tls.write_tls(&mut &*socket);
        io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {}", tls_error_text(&err)))
    })
}

/// What a TLS error says when the peer sent something that is not TLS at all (the words
/// a client looks for to say what to do instead).
pub const NOT_TLS: &str = "the peer sent something that is not TLS (clear text?)";

/// A TLS error as a sentence: minftp's own certificate checks (crate::tls) explain
/// themselves, so their text is given without rustls' "unexpected error" or the debug
/// form of a wrapped error.
fn tls_error_text(err: &rustls::Error) -> String {
    match err {
        rustls::Error::General(text) => text.clone(),
        // The first bytes were not a TLS record: most often an FTP reply in clear text.
        rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => NOT_TLS.to_string(),
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
            format!("the server's certificate is refused: {}", other.0)
        }
        other => other.to_string(),
    }
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

/// A stream read from a connection whose records minftp seals and opens itself now
/// (they are read with [`Channel::receive_records`]), or any use of one whose hand-over
/// failed ([`Channel::take_over_records`]).
fn handed_over() -> io::Error {
    io::Error::other("this TLS connection's records were handed over for a transfer")
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
            Some(Tls::Records(_) | Tls::Failed) => Err(handed_over()),
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
            Some(Tls::Records(_)) => {
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
