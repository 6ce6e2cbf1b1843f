//! The graded transcript on standard output: exact bytes, each piece written whole and flushed.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::thread;
use std::time::{Duration, Instant};

use crate::protocol::reply::Reply;

/// A shared, cloneable sink for transcript bytes. Every write holds the lock for the whole
/// piece and flushes it, so lines from concurrent sessions never interleave mid-line and
/// nothing is lost if the process is stopped.
#[derive(Clone)]
pub struct Transcript {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl Transcript {
    pub fn new(out: impl Write + Send + 'static) -> Self {
        Transcript { out: Arc::new(Mutex::new(Box::new(out))) }
    }

    /// Standard output, written without any buffer of its own beyond the lock.
    pub fn stdout() -> Self {
        Transcript::new(io::stdout())
    }

    /// Writes `bytes` exactly as given. A transcript that cannot be written (for example a
    /// closed pipe) must not stop the server, so errors are dropped here on purpose.
    pub fn write(&self, bytes: &[u8]) {
        let mut out = self.lock();
        let _ = out.write_all(bytes).and_then(|()| out.flush());
    }

    /// Writes a reply line: `CODE TEXT\r\n`.
    pub fn reply(&self, reply: &Reply) {
        self.write(&reply.to_wire());
    }

    /// Writes a line the program composes itself, ending it with LF.
    pub fn line(&self, text: impl AsRef<[u8]>) {
        let mut out = self.lock();
        let _ = out.write_all(text.as_ref()).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush());
    }

    /// Holds the transcript, so that no piece is half written.
    pub fn lock(&self) -> MutexGuard<'_, Box<dyn Write + Send>> {
        // A panic while writing leaves the writer usable; keep going with it.
        self.out.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Holds the transcript if it can be had within `limit` (used when shutting down: a
    /// write stalled on a full pipe must not keep the process alive).
    pub fn lock_within(&self, limit: Duration) -> Option<MutexGuard<'_, Box<dyn Write + Send>>> {
        let deadline = Instant::now() + limit;
        loop {
            match self.out.try_lock() {
                Ok(guard) => return Some(guard),
                Err(TryLockError::Poisoned(poisoned)) => return Some(poisoned.into_inner()),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                Err(TryLockError::WouldBlock) => return None,
            }
        }
    }
}

/// A writer into a shared buffer, so tests can read what a transcript received.
#[derive(Clone, Default)]
pub struct SharedBuffer(pub Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    pub fn contents(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
