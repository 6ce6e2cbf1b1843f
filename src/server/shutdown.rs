//! Stopping the server on SIGINT, SIGTERM or SIGHUP (SPEC §3.5: promptly, with status 0):
//! no new sessions, transfers in flight aborted (their clients get 426 and their temporary
//! files are removed), then exit within [`GRACE`]; and surviving file-size limits.

use std::io;
use std::process;
use std::thread;
use std::time::{Duration, Instant};

use crate::signals;
use crate::transcript::Transcript;
use crate::write_policy;

/// How long aborted transfers get to answer their clients before the process exits.
pub const GRACE: Duration = Duration::from_secs(2);

/// Stops the socket server cleanly on a terminating signal. Must be called before any
/// other thread is spawned.
pub fn stop_on_signals(transcript: Transcript) -> io::Result<()> {
    signals::take_terminating_signals(move |_| {
        signals::abort_transfers();
        let deadline = Instant::now() + GRACE;
        while signals::transfers_in_progress() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        let removed = write_policy::remove_in_flight_temporaries();
        if removed > 0 {
            crate::diag!("removed {removed} unfinished upload(s)");
        }
        // Wait (a bounded time: standard output may be stalled) for the transcript's last
        // lines, so that none is lost or cut.
        let _settled = transcript.settle_within(Duration::from_secs(1));
        process::exit(0);
    })
}

/// `serve --stdin` on a terminating signal: the copy in progress is removed, status 0.
pub fn stop_stdin_mode_on_signals() -> io::Result<()> {
    signals::take_terminating_signals(|_| {
        write_policy::remove_in_flight_temporaries();
        process::exit(0);
    })
}

/// True once the server is stopping: new connections are turned away.
pub fn stopping() -> bool {
    signals::transfers_aborted()
}

/// Ignores SIGXFSZ, so a write past a file-size limit (`ulimit -f`) fails with EFBIG, which
/// an upload answers with 552, instead of killing the whole server.
pub fn survive_file_size_limits() {
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
}
