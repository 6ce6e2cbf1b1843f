//! The socket server: accepts control connections, one thread per session, and carries
//! out RETR over an active data connection.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use super::ServerConfig;
use super::data::{SendError, check_data_target, connect_active, is_own_address, send_file};
use super::sandbox::OpenedFile;
use super::session::{Channel, Session, Step};
use crate::protocol::line::{Line, LineReader};
use crate::protocol::reply::Reply;
use crate::transcript::Transcript;

/// Session threads do no deep recursion and keep buffers on the heap: a small stack keeps
/// hundreds of sessions cheap.
const SESSION_STACK: usize = 256 * 1024;

/// Serves connections from `listener` until the process is stopped.
pub fn serve(listener: TcpListener, config: ServerConfig, transcript: Transcript) -> io::Result<()> {
    // On standard error, so the transcript stays clean; tests read the chosen port here.
    eprintln!("minftp: serving {} on {}", config.root.path().display(), listener.local_addr()?);
    let config = Arc::new(config);
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            // A connection reset before accept, or a momentary lack of descriptors, must
            // not stop the server.
            Err(err) => {
                eprintln!("minftp: accept failed: {err}");
                continue;
            }
        };
        let Some(slot) = SessionSlot::claim(&active, config.limits.max_clients) else {
            transcript.reply(&Reply::TooManyConnections);
            let _ = (&stream).write_all(&Reply::TooManyConnections.to_wire());
            continue;
        };
        let config = Arc::clone(&config);
        let transcript = transcript.clone();
        let spawned = thread::Builder::new().name("session".into()).stack_size(SESSION_STACK).spawn(move || {
            let _slot = slot;
            if let Err(err) = ControlConnection::new(stream, &config, transcript).and_then(|c| c.run()) {
                eprintln!("minftp: session ended: {err}");
            }
        });
        if let Err(err) = spawned {
            eprintln!("minftp: cannot start a session thread: {err}");
        }
    }
    Ok(())
}

/// A place among the `max_clients` sessions, given back when dropped.
struct SessionSlot(Arc<AtomicUsize>);

impl SessionSlot {
    fn claim(active: &Arc<AtomicUsize>, max: usize) -> Option<SessionSlot> {
        active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1))
            .ok()
            .map(|_| SessionSlot(Arc::clone(active)))
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One client's control connection and session.
struct ControlConnection<'a> {
    stream: TcpStream,
    peer: SocketAddr,
    config: &'a ServerConfig,
    transcript: Transcript,
    session: Session,
}

impl<'a> ControlConnection<'a> {
    fn new(stream: TcpStream, config: &'a ServerConfig, transcript: Transcript) -> io::Result<Self> {
        let peer = stream.peer_addr()?;
        stream.set_read_timeout(Some(config.limits.idle_timeout))?;
        stream.set_nodelay(true)?;
        Ok(ControlConnection { stream, peer, config, transcript, session: Session::new(Channel::Socket) })
    }

    /// Prints a reply to the transcript, then sends it (SPEC §3.5: print before sending).
    fn send(&self, reply: &Reply) -> io::Result<()> {
        self.transcript.reply(reply);
        (&self.stream).write_all(&reply.to_wire())
    }

    fn run(mut self) -> io::Result<()> {
        self.send(&Reply::Greeting)?;
        let mut reader = LineReader::new(self.stream.try_clone()?, self.config.limits.max_line);
        loop {
            let transcript = &self.transcript;
            let line = match reader.next_line(&mut |chunk| transcript.write(chunk)) {
                Ok(line) => line,
                Err(err) if matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return self.send(&Reply::IdleTimeout);
                }
                // A reset connection ends the session silently, like a disconnect.
                Err(_) => return Ok(()),
            };
            let step = match line {
                // A disconnect, with or without a partial line, ends the session silently.
                None | Some(Line::Unterminated(_)) | Some(Line::TooLong { terminated: false }) => {
                    return Ok(());
                }
                Some(Line::TooLong { terminated: true }) => Step::Reply(self.session.handle_over_long_line()),
                Some(Line::Complete(bytes)) => {
                    self.transcript.write(bytes);
                    self.session.handle(bytes)
                }
            };
            match step {
                Step::Reply(reply) => self.send(&reply)?,
                Step::Quit(reply) => return self.send(&reply),
                Step::Retrieve { path, data_address } => match self.config.root.open_for_reading(&path) {
                    None => self.send(&Reply::FileUnavailable)?,
                    Some(opened) => {
                        self.session.start_transfer();
                        self.send(&Reply::FileStatusOk)?;
                        let outcome = self.send_over_active_connection(opened, SocketAddr::V4(data_address));
                        self.send(&outcome)?;
                    }
                },
            }
        }
    }

    /// Connects to the client's data port (if the bounce rule allows it) and sends the file;
    /// returns the reply that closes the transfer.
    fn send_over_active_connection(&self, opened: OpenedFile, target: SocketAddr) -> Reply {
        if let Err(refusal) = check_data_target(self.peer.ip(), target, is_own_address) {
            eprintln!("minftp: refused data connection to {target} for {}: {refusal:?}", self.peer);
            return Reply::CannotOpenData;
        }
        let data = match connect_active(target, self.config.limits.data_timeout) {
            Ok(data) => data,
            Err(err) => {
                eprintln!("minftp: data connection to {target} failed: {err}");
                return Reply::CannotOpenData;
            }
        };
        let result = send_file(&opened.file, opened.len, &data);
        drop(data);
        match result {
            Ok(_) => Reply::FileActionDone,
            Err(SendError::Peer(err)) => {
                eprintln!("minftp: data connection to {target} dropped: {err}");
                Reply::TransferAborted
            }
            Err(SendError::Local(err)) => {
                eprintln!("minftp: reading the file failed: {err}");
                Reply::LocalError
            }
        }
    }
}
