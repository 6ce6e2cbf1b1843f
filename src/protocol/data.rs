//! Data connections, for both sides: accepting only the expected peer (while watching the
//! control connection), sending a file (`sendfile(2)`, or copied where TLS or the reader
//! wants it), and receiving into a writer or a file (`splice(2)` where the kernel can).

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use super::records;
use super::transport::{Channel, no_data_for, stopped_reading, wait_writable};

/// The receive buffer for data written to a file: large writes into the page cache were
/// fastest (1 MiB: 2.4 GB/s STOR on loopback; 256 KiB: 1.9; 64 KiB: 0.9; bench/README.md).
pub const FILE_RECEIVE_BUFFER: usize = 1024 * 1024;

/// The receive buffer for data passed on to a pipe or standard output. Re-measured once
/// buffers were page-aligned (`minftp get -o -` of 256 MiB, medians of 7 alternating runs
/// against curl, in GB/s): from minftp's server 64 KiB 2.38, 128 KiB 2.89, 256 KiB 2.88;
/// from pyftpdlib 4.74, 4.74, 3.87; from vsftpd 2.40, 2.42, 2.35. 128 KiB is the best
/// everywhere (1.03x to 1.31x curl).
pub const STREAM_RECEIVE_BUFFER: usize = 128 * 1024;

/// Bytes per `sendfile(2)` call. One call for the whole file lets the kernel send in large
/// corked bursts; 64 KiB calls on a non-blocking socket with TCP_NODELAY measured about 25%
/// faster on loopback (bench/README.md), as pyftpdlib does.
const SENDFILE_CHUNK: usize = 64 * 1024;

/// The most bytes a data connection to a peer on this machine leaves queued in the kernel
/// beyond what TCP has sent (`TCP_NOTSENT_LOWAT`): the sender waits for room rather than
/// filling its whole send buffer. Over loopback the kernel processes a segment in the
/// system call that transmits it, receiving side included; a sender faster than its peer
/// that keeps megabytes queued has them transmitted by the window updates the receiver
/// sends, inside the receiver's system calls, so the client paid for the server's sending.
/// Measured with curl downloading 1 GiB into a file over loopback (6 alternating runs of
/// each): clear text 1.06 s -> 0.84 s (curl's CPU 1.02 -> 0.83 s, the server's 0.13 ->
/// 0.26 s: it now sleeps and wakes each time the queue drains), TLS 1.38 s -> 1.21 s; 1,000
/// concurrent 10 MiB downloads 6.1-6.9 s -> 5.0-5.5 s, server CPU 1.4 -> 2.5-2.9 s. 16, 32
/// and 64 KiB were within noise of each other, 256 KiB no better than none. Over a network
/// the receiver's work is done on its own machine and the window updates arrive in
/// interrupts, so the limit would only add the server's wake-ups: it is set for loopback
/// peers only.
const LOOPBACK_UNSENT_LIMIT: libc::c_int = 64 * 1024;

/// Sets [`LOOPBACK_UNSENT_LIMIT`] on a data connection about to send, when its peer is on
/// loopback; a kernel without the option sends as before.
fn limit_unsent_on_loopback(socket: &TcpStream) {
    if !socket.peer_addr().is_ok_and(|peer| is_loopback_peer(peer.ip())) {
        return;
    }
    let limit = LOOPBACK_UNSENT_LIMIT;
    // SAFETY: a valid descriptor, and a pointer to a c_int that lives through the call
    // with its exact size.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NOTSENT_LOWAT,
            (&limit as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Whether `peer` is on loopback (IPv4-mapped IPv6 addresses included).
fn is_loopback_peer(peer: IpAddr) -> bool {
    peer.to_canonical().is_loopback()
}

/// What happened while a data connection was awaited.
#[derive(Debug)]
pub enum Accepted {
    Connection(TcpStream),
    /// The watched descriptor (the control connection) became readable first.
    Watched,
    TimedOut,
}

/// Waits up to `timeout` for the peer `expected_peer` to connect to `listener`. Connections
/// from any other address are closed at once (port-stealing protection). When `watch` is
/// given and becomes readable before a connection arrives, returns [`Accepted::Watched`];
/// a ready listener always wins, since a server connects before it sends its final reply.
pub fn accept_from(
    listener: &TcpListener,
    expected_peer: IpAddr,
    watch: Option<RawFd>,
    timeout: Duration,
) -> io::Result<Accepted> {
    let deadline = Instant::now().checked_add(timeout);
    let expected_peer = expected_peer.to_canonical();
    loop {
        let left = deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()));
        match first_readable(listener.as_raw_fd(), watch, left)? {
            Readable::Neither => return Ok(Accepted::TimedOut),
            Readable::Watched => return Ok(Accepted::Watched),
            Readable::Main => {
                let (stream, from) = listener.accept()?;
                if from.ip().to_canonical() == expected_peer {
                    stream.set_nonblocking(false)?;
                    return Ok(Accepted::Connection(stream));
                }
                crate::diag!("ignored a data connection from {from} (expected {expected_peer})");
            }
        }
    }
}

/// Which of two descriptors has input first.
#[derive(Debug)]
pub enum Readable {
    /// The main one (it wins when both are ready).
    Main,
    Watched,
    /// Neither within the time allowed.
    Neither,
}

/// Waits up to `timeout` until `main` or `watch` is readable (or closed).
pub fn first_readable(main: RawFd, watch: Option<RawFd>, timeout: Duration) -> io::Result<Readable> {
    // No deadline when the timeout is too long to add (Duration::MAX: wait for ever).
    let deadline = Instant::now().checked_add(timeout);
    loop {
        let left = deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()));
        let mut fds = vec![libc::pollfd { fd: main, events: libc::POLLIN, revents: 0 }];
        if let Some(fd) = watch {
            fds.push(libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
        }
        // A wait longer than c_int::MAX milliseconds (24 days) is made of several.
        let millis = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures for the whole call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) };
        if ready < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if ready == 0 {
            if deadline.is_some() {
                return Ok(Readable::Neither);
            }
            continue;
        }
        return Ok(if fds[0].revents != 0 { Readable::Main } else { Readable::Watched });
    }
}

/// Which side ended a transfer early: the data connection, or this side's file or output.
#[derive(Debug)]
pub enum DataError {
    /// The peer closed, reset or stalled the data connection.
    Peer(io::Error),
    /// The local side failed: a file that could not be read whole (truncated or failing while
    /// sent), or received bytes that could not be written.
    Local(io::Error),
}

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataError::Peer(err) => write!(f, "the data connection failed: {err}"),
            DataError::Local(err) => write!(f, "the local side failed: {err}"),
        }
    }
}

/// A file that ended before the length it had when its transfer began.
fn file_shrank(position: u64, len: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the file shrank while it was sent ({position} of {len} bytes)"),
    )
}

/// How [`send_file`] moves a file's bytes into a socket; which is faster depends on who
/// reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendMethod {
    /// `sendfile(2)`: the bytes never pass through user space. The server's downloads: no
    /// other way measured faster into curl, wget or minftp's client (bench/README.md).
    Sendfile,
    /// `pread` into a page-aligned buffer of [`COPY_SEND_BUFFER`] bytes and a blocking
    /// write: the client's uploads. `minftp put` of 1 GiB against `curl -T` (tmpfs, medians
    /// of 7 alternating runs), sendfile then this: into minftp's server 0.97x then 0.99x,
    /// pyftpdlib 0.82x then 1.16x, vsftpd 0.77x then 1.07x. Servers that read into small
    /// buffers took the copied stream faster (64 KiB: 0.93x, 1.15x, 1.05x; 32 KiB: 0.92x,
    /// 1.14x, 1.14x; 1 MiB: 1.06x, 1.03x, 0.92x).
    Copy,
}

/// The buffer of [`SendMethod::Copy`] (see there for the measurements).
pub const COPY_SEND_BUFFER: usize = 128 * 1024;

/// Sends bytes `offset..len` of `file` to `socket` the way `method` says; a peer that
/// accepts nothing for `stall_timeout` ends the transfer. `on_progress` gets the running
/// total after each call.
pub fn send_file(
    method: SendMethod,
    file: &File,
    offset: u64,
    len: u64,
    data: &Channel,
    stall_timeout: Duration,
    on_progress: &mut dyn FnMut(u64),
) -> Result<u64, DataError> {
    match method {
        SendMethod::Sendfile if !data.is_tls() => {
            sendfile_loop(file, offset, len, data.socket(), stall_timeout, on_progress)
        }
        // No sendfile through TLS: the bytes must be encrypted in user space. A server's
        // TLS 1.3 download seals its records itself (super::records), or rustls does.
        SendMethod::Sendfile => {
            data.take_over_records(len.saturating_sub(offset)).map_err(DataError::Local)?;
            copy_loop(file, offset, len, data, stall_timeout, on_progress)
        }
        SendMethod::Copy => copy_loop(file, offset, len, data, stall_timeout, on_progress),
    }
}

/// Full records per read and write when the channel seals them (128 KiB of plaintext, as
/// [`COPY_SEND_BUFFER`]).
const SEALED_RECORDS_PER_WRITE: usize = COPY_SEND_BUFFER / records::MAX_PLAINTEXT;

/// [`SendMethod::Copy`], and TLS downloads: blocking writes, with the stall limit as the
/// socket's write timeout (a write that moves nothing for that long fails). On a channel
/// that seals its records, the file is read straight into the records' payload slots.
fn copy_loop(
    file: &File,
    offset: u64,
    len: u64,
    data: &Channel,
    stall_timeout: Duration,
    on_progress: &mut dyn FnMut(u64),
) -> Result<u64, DataError> {
    use std::os::unix::fs::FileExt;
    let socket = data.socket();
    let previous_timeout = socket.write_timeout().map_err(DataError::Peer)?;
    socket.set_write_timeout(Some(stall_timeout.max(Duration::from_millis(1)))).map_err(DataError::Peer)?;
    limit_unsent_on_loopback(socket);
    let sealing = data.has_record_layer();
    let (buffer_len, chunk) = if sealing {
        (SEALED_RECORDS_PER_WRITE * records::MAX_RECORD, SEALED_RECORDS_PER_WRITE * records::MAX_PLAINTEXT)
    } else {
        (COPY_SEND_BUFFER, COPY_SEND_BUFFER)
    };
    let mut owned = PageAlignedBuffer::take(buffer_len);
    let buffer = owned.as_mut_slice();
    let mut position = offset;
    let mut out = data;
    let sent = loop {
        if position >= len {
            break Ok(len.saturating_sub(offset));
        }
        let want = usize::try_from(len - position).unwrap_or(usize::MAX).min(chunk);
        let read = if sealing {
            read_into_slots(file, records::payload_slots(buffer, want), position)
        } else {
            file.read_at(&mut buffer[..want], position)
        };
        let n = match read {
            Ok(0) => {
                break Err(DataError::Local(file_shrank(position, len)));
            }
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => break Err(DataError::Local(err)),
        };
        let written = if sealing { data.send_records(buffer, n) } else { out.write_all(&buffer[..n]) };
        if let Err(err) = written {
            break Err(DataError::Peer(match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => stopped_reading(),
                _ => err,
            }));
        }
        position += n as u64;
        on_progress(position - offset);
    };
    owned.give_back();
    let _ = socket.set_write_timeout(previous_timeout);
    sent
}

/// One `preadv(2)` from `position` into `slots`, in order: a short read fills a prefix.
fn read_into_slots(file: &File, slots: Vec<&mut [u8]>, position: u64) -> io::Result<usize> {
    let vectors: Vec<libc::iovec> =
        slots.into_iter().map(|slot| libc::iovec { iov_base: slot.as_mut_ptr().cast(), iov_len: slot.len() }).collect();
    let count = libc::c_int::try_from(vectors.len()).map_err(io::Error::other)?;
    let position = libc::off_t::try_from(position).map_err(io::Error::other)?;
    // SAFETY: every iovec points into a distinct, live, writable slice of the caller's
    // buffer for the whole call, and the kernel writes at most iov_len bytes into each.
    let n = unsafe { libc::preadv(file.as_raw_fd(), vectors.as_ptr(), count, position) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// [`SendMethod::Sendfile`]: the socket is made non-blocking and waited on with poll.
fn sendfile_loop(
    file: &File,
    offset: u64,
    len: u64,
    socket: &TcpStream,
    stall_timeout: Duration,
    on_progress: &mut dyn FnMut(u64),
) -> Result<u64, DataError> {
    let local = |e: std::num::TryFromIntError| DataError::Local(io::Error::other(e));
    let mut position = libc::off_t::try_from(offset).map_err(local)?;
    let end = libc::off_t::try_from(len).map_err(local)?;
    socket.set_nonblocking(true).map_err(DataError::Peer)?;
    limit_unsent_on_loopback(socket);
    while position < end {
        let count = usize::try_from(end - position).unwrap_or(SENDFILE_CHUNK).min(SENDFILE_CHUNK);
        // SAFETY: both descriptors are open for the duration of the call, and `position` is a
        // valid pointer; sendfile neither keeps nor frees either.
        let sent = unsafe { libc::sendfile(socket.as_raw_fd(), file.as_raw_fd(), &mut position, count) };
        if sent < 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => {
                    wait_writable(socket, stall_timeout).map_err(DataError::Peer)?;
                    continue;
                }
                Some(libc::EPIPE | libc::ECONNRESET | libc::ETIMEDOUT) => return Err(DataError::Peer(err)),
                _ => return Err(DataError::Local(err)),
            }
        }
        if sent == 0 {
            return Err(DataError::Local(file_shrank(position as u64, len)));
        }
        on_progress(position as u64 - offset);
    }
    socket.set_nonblocking(false).map_err(DataError::Peer)?;
    Ok(len.saturating_sub(offset))
}

/// Like [`receive`], while watching `watch` (the control connection) as SPEC §4.2 asks: when
/// it has input while the data connection has none, `on_watch` is called once to read it,
/// and returns true to stop receiving at once (a 425 or 426 from a server that left the
/// data connection open), false to go on to the end of the data. No data for `idle` ends
/// the transfer.
pub fn receive_watching(
    data: &Channel,
    out: &mut dyn Write,
    buffer_size: usize,
    watch: RawFd,
    idle: Duration,
    on_watch: &mut dyn FnMut() -> bool,
) -> Result<u64, DataError> {
    let mut watch = Some(Watch { fd: watch, idle, on_watch });
    receive_loop(data, out, buffer_size, &mut watch, &mut |_| {})
}

/// Copies `data` into `out` through a buffer of `buffer_size` bytes until end of stream;
/// `on_progress` gets the running total.
pub fn receive(
    data: &Channel,
    out: &mut dyn Write,
    buffer_size: usize,
    on_progress: &mut dyn FnMut(u64),
) -> Result<u64, DataError> {
    receive_loop(data, out, buffer_size, &mut None, on_progress)
}

/// Copies `data` into `file`, from the file's current position, until end of stream:
/// through `splice(2)` (socket → pipe → file, so the bytes are never copied into user
/// space; issue 15 measured STOR into tmpfs 0.86 → 1.31 GB/s), or through a buffer of
/// [`FILE_RECEIVE_BUFFER`] bytes where the kernel refuses to splice (a file system without
/// splice support, a file opened for appending). `on_progress` gets the running total.
pub fn receive_to_file(data: &Channel, file: &mut File, on_progress: &mut dyn FnMut(u64)) -> Result<u64, DataError> {
    let socket = data.socket();
    let read_timeout = socket.read_timeout().map_err(DataError::Peer)?.unwrap_or(Duration::MAX);
    let pipe = if data.is_tls() {
        // Under TLS 1.3 the server opens the upload's records itself (super::records).
        data.take_over_records(0).map_err(DataError::Local)?;
        None
    } else {
        SplicePipe::new().ok()
    };
    let spliced = match pipe {
        Some(pipe) => {
            socket.set_nonblocking(true).map_err(DataError::Peer)?;
            let spliced = splice_to_file(socket, file, &pipe, read_timeout, on_progress);
            let _ = socket.set_nonblocking(false);
            spliced
        }
        // TLS (the bytes must be decrypted here), or no pipe to be had (out of
        // descriptors): the buffered loop.
        None => Spliced::Refused { so_far: 0 },
    };
    match spliced {
        Spliced::Ended(result) => result,
        Spliced::Refused { so_far } => {
            let rest = receive_loop(data, file, FILE_RECEIVE_BUFFER, &mut None, &mut |n| on_progress(so_far + n));
            rest.map(|n| so_far + n)
        }
    }
}

/// How a splice transfer ended.
enum Spliced {
    /// At the end of the stream, or with an error.
    Ended(Result<u64, DataError>),
    /// The kernel refused to splice after `so_far` bytes reached the file (all of them
    /// written): the rest goes through a buffer.
    Refused { so_far: u64 },
}

/// A pipe for splicing, as large as an unprivileged process may make it (fewer system calls
/// per byte); closed when dropped. A new one per transfer: a pipe's size is charged to the
/// user (fs/pipe-user-pages-soft) whether it holds bytes or not, so idle sessions keep none.
struct SplicePipe {
    read: std::os::fd::OwnedFd,
    write: std::os::fd::OwnedFd,
    capacity: usize,
}

impl SplicePipe {
    /// The size asked for: fs/pipe-max-size's default, the most an unprivileged process gets.
    const WANTED: libc::c_int = 1024 * 1024;

    fn new() -> io::Result<SplicePipe> {
        use std::os::fd::FromRawFd;
        let mut ends = [0 as libc::c_int; 2];
        // SAFETY: `ends` has room for the two descriptors pipe2 returns.
        if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded: both descriptors are open and owned by nothing else.
        let (read, write) =
            unsafe { (std::os::fd::OwnedFd::from_raw_fd(ends[0]), std::os::fd::OwnedFd::from_raw_fd(ends[1])) };
        // Refused when the user's pipes already hold their quota: the default size then works.
        // SAFETY: fcntl on a descriptor owned here.
        let size = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, Self::WANTED) };
        // SAFETY: as above.
        let size = if size > 0 { size } else { unsafe { libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ) } };
        Ok(SplicePipe { read, write, capacity: usize::try_from(size).unwrap_or(4096).max(4096) })
    }
}

/// The splice loop of [`receive_to_file`]: `data` is non-blocking, every wait is in poll
/// (so a signal that resets the connection wakes it), and the pipe is emptied into the file
/// after each splice from the socket, so it never holds bytes across a wait.
fn splice_to_file(
    data: &TcpStream,
    file: &mut File,
    pipe: &SplicePipe,
    read_timeout: Duration,
    on_progress: &mut dyn FnMut(u64),
) -> Spliced {
    let mut total = 0u64;
    loop {
        // SAFETY: all three descriptors are open for the call; null offsets use the socket's
        // stream and the pipe's own order.
        let moved = unsafe {
            libc::splice(
                data.as_raw_fd(),
                std::ptr::null_mut(),
                pipe.write.as_raw_fd(),
                std::ptr::null_mut(),
                pipe.capacity,
                libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
            )
        };
        if moved == 0 {
            return Spliced::Ended(Ok(total));
        }
        if moved < 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => match first_readable(data.as_raw_fd(), None, read_timeout) {
                    Ok(Readable::Neither) => return Spliced::Ended(Err(DataError::Peer(no_data_for(read_timeout)))),
                    Ok(_) => continue,
                    Err(err) => return Spliced::Ended(Err(DataError::Peer(err))),
                },
                Some(libc::EINVAL | libc::ENOSYS) if total == 0 => return Spliced::Refused { so_far: 0 },
                _ => return Spliced::Ended(Err(DataError::Peer(err))),
            }
        }
        let moved = moved as usize;
        if let Err(ended) = empty_pipe_into(pipe, moved, file) {
            return match ended {
                // The file refused the first splice: what is in the pipe was copied instead.
                PipeEmptied::Copied => Spliced::Refused { so_far: total + moved as u64 },
                PipeEmptied::Failed(err) => Spliced::Ended(Err(DataError::Local(err))),
            };
        }
        total += moved as u64;
        on_progress(total);
    }
}

/// Why the pipe was not emptied into the file by splicing alone.
enum PipeEmptied {
    /// The file refused splice; the bytes in the pipe were read and written instead.
    Copied,
    Failed(io::Error),
}

/// Moves the `len` bytes held in `pipe` into `file` at its position.
fn empty_pipe_into(pipe: &SplicePipe, mut len: usize, file: &mut File) -> Result<(), PipeEmptied> {
    while len > 0 {
        // SAFETY: both descriptors are open for the call; a null offset writes at (and
        // advances) the file's position.
        let written = unsafe {
            libc::splice(
                pipe.read.as_raw_fd(),
                std::ptr::null_mut(),
                file.as_raw_fd(),
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_MOVE,
            )
        };
        if written < 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EINVAL | libc::ENOSYS) => {
                    let mut held = vec![0u8; len];
                    let mut pipe_end = File::from(pipe.read.try_clone().map_err(PipeEmptied::Failed)?);
                    pipe_end.read_exact(&mut held).map_err(PipeEmptied::Failed)?;
                    file.write_all(&held).map_err(PipeEmptied::Failed)?;
                    return Err(PipeEmptied::Copied);
                }
                _ => return Err(PipeEmptied::Failed(err)),
            }
        }
        if written == 0 {
            return Err(PipeEmptied::Failed(io::Error::new(io::ErrorKind::WriteZero, "the file accepted no bytes")));
        }
        len -= written as usize;
    }
    Ok(())
}

/// A zeroed receive buffer that starts on a page boundary: a buffer straddling page
/// boundaries was measured to read up to 63% slower from a socket (issue 19), and where
/// the allocator happens to place a `Vec` is not under our control. It is an anonymous
/// mapping: page-aligned, and zero without being written, so a small transfer touches only
/// the pages it uses (an aligned allocation zeroed by hand touched all of a 1 MiB buffer
/// and made 1,000 small uploads 1.8x slower).
struct PageAlignedBuffer {
    start: std::ptr::NonNull<u8>,
    len: usize,
}

impl PageAlignedBuffer {
    fn new(len: usize) -> PageAlignedBuffer {
        let len = len.max(1);
        // SAFETY: a private anonymous mapping of `len` bytes, owned by the value returned.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if start == libc::MAP_FAILED {
            std::alloc::handle_alloc_error(std::alloc::Layout::from_size_align(len, 4096).expect("a valid size"));
        }
        PageAlignedBuffer { start: std::ptr::NonNull::new(start.cast()).expect("mmap never returns null"), len }
    }

    /// A buffer of `len` bytes: the one this thread used last when it has that size (a
    /// session of 1,000 small uploads maps one buffer, not 1,000), else a new one.
    fn take(len: usize) -> PageAlignedBuffer {
        let cached = LAST_BUFFER.with(|last| last.borrow_mut().take()).filter(|buffer| buffer.len == len.max(1));
        cached.unwrap_or_else(|| PageAlignedBuffer::new(len))
    }

    /// Keeps this buffer for the thread's next transfer.
    fn give_back(self) {
        LAST_BUFFER.with(|last| *last.borrow_mut() = Some(self));
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `start` points to `len` initialised bytes (zero when mapped, later what
        // was read into them) mapped for this value alone.
        unsafe { std::slice::from_raw_parts_mut(self.start.as_ptr(), self.len) }
    }
}

thread_local! {
    /// The receive buffer this thread used last (see [`PageAlignedBuffer::take`]).
    static LAST_BUFFER: std::cell::RefCell<Option<PageAlignedBuffer>> = const { std::cell::RefCell::new(None) };
}

impl Drop for PageAlignedBuffer {
    fn drop(&mut self) {
        // SAFETY: mapped in `new` with this length, and unmapped once.
        unsafe { libc::munmap(self.start.as_ptr().cast(), self.len) };
    }
}

/// A descriptor watched while receiving ([`receive_watching`]).
struct Watch<'a> {
    fd: RawFd,
    idle: Duration,
    on_watch: &'a mut dyn FnMut() -> bool,
}

/// The one receive loop; `watch` is dropped once it fired and the transfer goes on.
fn receive_loop(
    data: &Channel,
    out: &mut dyn Write,
    buffer_size: usize,
    watch: &mut Option<Watch>,
    on_progress: &mut dyn FnMut(u64),
) -> Result<u64, DataError> {
    let mut owned = PageAlignedBuffer::take(buffer_size);
    let buffer = owned.as_mut_slice();
    let mut total = 0u64;
    // Reads are non-blocking and every wait is in poll, never inside a read: no extra
    // system call while data flows, the watched descriptor is looked at whenever the data
    // connection has nothing, and a signal can reset the connection
    // (crate::signals::reset_connection) and wake this loop.
    let socket = data.socket();
    let read_timeout = socket.read_timeout().map_err(DataError::Peer)?.unwrap_or(Duration::MAX);
    socket.set_nonblocking(true).map_err(DataError::Peer)?;
    // A TLS connection whose records are opened in place hands its data straight from
    // where it was read (see Channel::receive_records); any other is read into `buffer`.
    let records = data.has_record_layer();
    let received = loop {
        let mut write_error = None;
        let got = if records {
            data.receive_records(&mut |slices| {
                write_all_slices(out, slices).map_err(|err| {
                    write_error = Some(err);
                    io::Error::other("the write failed")
                })
            })
        } else {
            { data }.read(buffer)
        };
        if let Some(err) = write_error {
            break Err(DataError::Local(err));
        }
        let n = match got {
            Ok(0) => break Ok(total),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                let watched = watch.as_ref().map(|w| w.fd);
                let idle = watch.as_ref().map_or(read_timeout, |w| w.idle);
                match first_readable(data.as_raw_fd(), watched, idle) {
                    Ok(Readable::Main) => continue,
                    Ok(Readable::Watched) => {
                        let stop = watch.as_mut().is_some_and(|w| (w.on_watch)());
                        *watch = None;
                        if stop {
                            let ended = io::Error::other("the server ended the transfer with a reply");
                            break Err(DataError::Peer(ended));
                        }
                        continue;
                    }
                    Ok(Readable::Neither) => break Err(DataError::Peer(no_data_for(idle))),
                    Err(err) => break Err(DataError::Peer(err)),
                }
            }
            Err(err) => break Err(DataError::Peer(err)),
        };
        if !records && let Err(err) = out.write_all(&buffer[..n]) {
            break Err(DataError::Local(err));
        }
        total += n as u64;
        on_progress(total);
    };
    let _ = socket.set_nonblocking(false);
    owned.give_back();
    received
}

/// Writes all of `slices` to `out`, in as few calls as it takes (`write_all_vectored` is
/// not stable yet).
fn write_all_slices(out: &mut dyn Write, slices: &[io::IoSlice<'_>]) -> io::Result<()> {
    let mut owned = slices.to_vec();
    let mut left = &mut owned[..];
    while !left.is_empty() {
        match out.write_vectored(left) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => io::IoSlice::advance_slices(&mut left, n),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `bytes` over a fresh loopback connection and receives them with
    /// [`receive_to_file`] into `file`; returns the count and the last progress total.
    fn received_over_loopback(bytes: &[u8], file: &mut File) -> (u64, u64) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let sent = bytes.to_vec();
        let sender = std::thread::spawn(move || {
            let mut socket = TcpStream::connect(address).unwrap();
            // In pieces, so the receiver waits for data more than once.
            for piece in sent.chunks(300_000) {
                socket.write_all(piece).unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let (data, _) = listener.accept().unwrap();
        data.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut last = 0;
        let count = receive_to_file(&Channel::plain(data), file, &mut |n| last = n).unwrap();
        sender.join().unwrap();
        (count, last)
    }

    fn patterned(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 4096) as u8).collect()
    }

    /// Receives `len` bytes into a file that holds `head`, opened for appending or for
    /// writing at the end of `head`; checks the file is `head` and then every byte sent.
    fn check_received_after(head: &[u8], append: bool, len: usize) {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("upload");
        std::fs::write(&path, head).unwrap();
        let mut file = std::fs::OpenOptions::new().write(!append).append(append).open(&path).unwrap();
        io::Seek::seek(&mut file, io::SeekFrom::End(0)).unwrap();
        let bytes = patterned(len);
        assert_eq!(received_over_loopback(&bytes, &mut file), (len as u64, len as u64));
        let mut expected = head.to_vec();
        expected.extend_from_slice(&bytes);
        assert!(std::fs::read(&path).unwrap() == expected, "the file differs from what was sent");
    }

    #[test]
    fn received_files_are_byte_exact_from_their_position() {
        check_received_after(b"kept-", false, 3_000_000);
    }

    #[test]
    fn a_file_that_refuses_splice_gets_every_byte_by_copying() {
        // Linux refuses to splice into a file opened for appending (EINVAL): the bytes
        // already in the pipe and the rest of the stream must still arrive, in order.
        check_received_after(b"head", true, 2_500_000);
    }

    #[test]
    fn an_empty_stream_makes_an_empty_file() {
        let folder = tempfile::tempdir().unwrap();
        let mut file = File::create(folder.path().join("empty")).unwrap();
        assert_eq!(received_over_loopback(b"", &mut file), (0, 0));
        assert_eq!(file.metadata().unwrap().len(), 0);
    }

    /// Sends `len` bytes of a file with `method` to a peer that reads them all; returns the
    /// bytes the peer got and the last progress total.
    fn sent_over_loopback(method: SendMethod, bytes: &[u8], offset: u64) -> (Vec<u8>, u64) {
        let (got, last, _) = sent_over_loopback_with_limit(method, bytes, offset);
        (got, last)
    }

    /// [`sent_over_loopback`], and the sending socket's TCP_NOTSENT_LOWAT afterwards.
    fn sent_over_loopback_with_limit(method: SendMethod, bytes: &[u8], offset: u64) -> (Vec<u8>, u64, libc::c_int) {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("sent");
        std::fs::write(&path, bytes).unwrap();
        let file = File::open(&path).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let reader = std::thread::spawn(move || {
            let mut socket = TcpStream::connect(address).unwrap();
            let mut got = Vec::new();
            socket.read_to_end(&mut got).unwrap();
            got
        });
        let socket = Channel::plain(listener.accept().unwrap().0);
        let mut last = 0;
        let sent =
            send_file(method, &file, offset, bytes.len() as u64, &socket, Duration::from_secs(10), &mut |n| last = n)
                .unwrap();
        assert_eq!(sent, bytes.len() as u64 - offset);
        let mut limit: libc::c_int = 0;
        let mut size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: a valid descriptor; `limit` and `size` outlive the call, `size` is limit's.
        let got = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_NOTSENT_LOWAT,
                (&mut limit as *mut libc::c_int).cast(),
                &mut size,
            )
        };
        assert_eq!(got, 0, "getsockopt: {}", io::Error::last_os_error());
        drop(socket);
        (reader.join().unwrap(), last, limit)
    }

    #[test]
    fn a_data_connection_to_loopback_keeps_little_unsent_and_one_to_the_network_is_left_alone() {
        for method in [SendMethod::Sendfile, SendMethod::Copy] {
            let bytes = patterned(300_001);
            let (got, _, limit) = sent_over_loopback_with_limit(method, &bytes, 0);
            assert!(got == bytes, "{method:?}: the bytes differ");
            assert_eq!(limit, LOOPBACK_UNSENT_LIMIT, "{method:?}");
        }
        for peer in ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback_peer(peer.parse().unwrap()), "{peer}");
        }
        for peer in ["192.0.2.1", "10.0.0.1", "2001:db8::1", "::ffff:192.0.2.1"] {
            assert!(!is_loopback_peer(peer.parse().unwrap()), "{peer}");
        }
    }

    #[test]
    fn both_send_methods_send_the_bytes_from_the_offset() {
        let bytes = patterned(1_000_003);
        for method in [SendMethod::Sendfile, SendMethod::Copy] {
            for offset in [0, 1, 131_072, 1_000_003] {
                let (got, last) = sent_over_loopback(method, &bytes, offset);
                assert!(got == bytes[offset as usize..], "{method:?} from {offset}: the bytes differ");
                assert_eq!(last, if offset == 1_000_003 { 0 } else { 1_000_003 - offset }, "{method:?}");
            }
        }
    }

    #[test]
    fn a_peer_that_stops_reading_ends_either_send_method_after_the_stall_limit() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("big");
        // More than loopback's socket buffers hold, so the sender must wait.
        std::fs::write(&path, vec![7u8; 64 << 20]).unwrap();
        let file = File::open(&path).unwrap();
        for method in [SendMethod::Sendfile, SendMethod::Copy] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let silent = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let socket = Channel::plain(listener.accept().unwrap().0);
            let started = Instant::now();
            let sent = send_file(method, &file, 0, 64 << 20, &socket, Duration::from_millis(300), &mut |_| {});
            let waited = started.elapsed();
            match sent {
                Err(DataError::Peer(err)) => assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{method:?}: {err}"),
                other => panic!("{method:?}: expected a stalled peer, got {other:?}"),
            }
            assert!(waited < Duration::from_secs(5), "{method:?} waited {waited:?}");
            drop(silent);
        }
    }

    #[test]
    fn receive_buffers_start_on_a_page_boundary() {
        for len in [1, 4096, 65 * 1024, 1 << 20] {
            let mut buffer = PageAlignedBuffer::new(len);
            let slice = buffer.as_mut_slice();
            assert_eq!(slice.as_ptr() as usize % 4096, 0);
            assert_eq!(slice.len(), len);
            assert!(slice.iter().all(|&b| b == 0));
        }
    }
}
