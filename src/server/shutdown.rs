//! Signals for the socket server: Ctrl-C and SIGTERM finish the transcript line being
//! written, then exit 0; a file-size limit fails a write instead of killing the process.

use std::io;
use std::thread;

use crate::transcript::Transcript;

/// Blocks SIGINT and SIGTERM in this thread (and so in every thread it spawns later) and
/// starts a thread that waits for them with `sigwait`. On a signal it takes the transcript
/// lock, so no line is cut, and exits with status 0; the kernel closes every socket.
///
/// Must be called before any other thread is spawned.
pub fn exit_cleanly_on_interrupt(transcript: Transcript) -> io::Result<()> {
    // SAFETY: the sigset is initialised by sigemptyset before use; pthread_sigmask only
    // changes this thread's mask.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        set
    };
    thread::Builder::new().name("signals".into()).stack_size(64 * 1024).spawn(move || {
        let mut signal = 0;
        // SAFETY: `set` is a valid, initialised signal set and `signal` a valid out pointer.
        while unsafe { libc::sigwait(&set, &mut signal) } != 0 {}
        let _guard = transcript.lock();
        std::process::exit(0);
    })?;
    Ok(())
}

/// Ignores SIGXFSZ, so a write past a file-size limit (`ulimit -f`) fails with EFBIG, which
/// an upload answers with 552, instead of killing the whole server.
pub fn survive_file_size_limits() {
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
}
