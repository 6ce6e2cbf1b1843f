//! SIGINT, SIGTERM and SIGHUP in every mode: the signals are blocked in all threads and
//! taken by one thread with `sigwait`, which then does what the mode asks — remove every
//! temporary file in flight, abort transfers, exit with the right status. Nothing is done
//! inside a signal handler, so locks and allocation are safe there.
//!
//! Transfers register their data connection ([`TransferGuard`]), so that a signal can abort
//! them: the connection is reset (RST), never closed cleanly, so the peer can never take
//! a cut-off upload for a complete one.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;

/// The signals that end a program.
const TERMINATING: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Blocks the terminating signals in this thread (and so in every thread it spawns later)
/// and starts a thread that runs `on_signal(signal)` for each one that arrives. Must be
/// called before any other thread is spawned.
pub fn take_terminating_signals(on_signal: impl Fn(libc::c_int) + Send + 'static) -> io::Result<()> {
    let set = block_terminating_signals()?;
    thread::Builder::new().name("signals".into()).stack_size(64 * 1024).spawn(move || {
        loop {
            let mut signal = 0;
            // SAFETY: `set` is a valid, initialised signal set and `signal` a valid out pointer.
            if unsafe { libc::sigwait(&set, &mut signal) } == 0 {
                on_signal(signal);
            }
        }
    })?;
    Ok(())
}

/// Blocks the terminating signals in this thread and every thread it spawns later (so that
/// only the `sigwait` thread of [`take_terminating_signals`] takes them); returns the set.
/// Call it before spawning any thread that must not be killed by them.
pub fn block_terminating_signals() -> io::Result<libc::sigset_t> {
    // SAFETY: the sigset is initialised by sigemptyset before use; pthread_sigmask only
    // changes this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in TERMINATING {
            libc::sigaddset(&mut set, signal);
        }
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(set)
    }
}

/// The exit status of a program ended by `signal`, as shells report it (130 for SIGINT).
pub fn exit_status_for(signal: libc::c_int) -> i32 {
    128 + signal
}

/// The data connections of transfers in progress.
static TRANSFERS: Mutex<Vec<(u64, RawFd)>> = Mutex::new(Vec::new());
/// Set once a signal aborted the transfers; checked before anything received is kept.
static ABORTED: AtomicBool = AtomicBool::new(false);

fn transfers() -> MutexGuard<'static, Vec<(u64, RawFd)>> {
    TRANSFERS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A transfer in progress on a data connection; unregistered when dropped. The connection
/// must outlive the guard.
pub struct TransferGuard(u64);

impl TransferGuard {
    /// Registers `data_connection`. A connection registered after a signal aborted the
    /// transfers (it was being opened meanwhile) is reset at once, as the signal would have.
    pub fn new(data_connection: RawFd) -> TransferGuard {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        transfers().push((id, data_connection));
        // After the push: a signal either finds the connection registered or its abort is
        // seen here (both are SeqCst), and a second reset does no harm.
        if data_connection >= 0 && transfers_aborted() {
            reset_connection(data_connection);
        }
        TransferGuard(id)
    }

    /// A transfer whose data connection is not open yet (a command waiting for its
    /// replies): it counts as in progress, and an abort is seen by [`transfers_aborted`].
    pub fn before_connection() -> TransferGuard {
        TransferGuard::new(-1)
    }
}

/// True when a signal aborted the transfers: what arrived must not be kept as complete.
pub fn transfers_aborted() -> bool {
    ABORTED.load(Ordering::SeqCst)
}

impl Drop for TransferGuard {
    fn drop(&mut self) {
        transfers().retain(|(id, _)| *id != self.0);
    }
}

/// Aborts every registered transfer: each data connection is reset, which wakes the thread
/// blocked on it with an error. Returns how many there were.
pub fn abort_transfers() -> usize {
    ABORTED.store(true, Ordering::SeqCst);
    let registered = transfers();
    for &(_, fd) in registered.iter().filter(|(_, fd)| *fd >= 0) {
        reset_connection(fd);
    }
    registered.len()
}

/// Lets transfers run again after [`abort_transfers`] (the lab client goes back to its prompt).
pub fn clear_abort() {
    ABORTED.store(false, Ordering::SeqCst);
}

/// True while any transfer is registered.
pub fn transfers_in_progress() -> bool {
    !transfers().is_empty()
}

/// Resets a TCP connection from any thread, so the peer sees an RST and never a clean end.
/// `connect(AF_UNSPEC)` disconnects the socket at once with an RST and wakes a thread
/// waiting in `poll` on it (every data loop here waits in `poll`); the descriptor stays
/// open, so its owner cannot confuse it with another. Where the kernel refuses (a thread
/// blocked inside a read or write), a zero linger makes the final close an RST, and the
/// read side is shut down to wake that thread.
pub fn reset_connection(fd: RawFd) {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: setsockopt, connect and shutdown on a descriptor with valid, correctly sized
    // arguments alive for each call; a descriptor that is no socket just makes them fail.
    unsafe {
        let size = std::mem::size_of::<libc::linger>() as libc::socklen_t;
        libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_LINGER, (&linger as *const libc::linger).cast(), size);
        let mut address: libc::sockaddr = std::mem::zeroed();
        address.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
        let size = std::mem::size_of::<libc::sockaddr>() as libc::socklen_t;
        if libc::connect(fd, &address, size) != 0 {
            libc::shutdown(fd, libc::SHUT_RD);
        }
    }
}
