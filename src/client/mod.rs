//! FTP clients: the COMP 431 stdin-driven session, one-shot transfers and the COSC 328 lab
//! session, built on a shared control connection and FTP session.

pub mod batch;
pub mod comp431;
pub mod control;
pub mod ftp;
pub mod lab;
pub mod listing;
pub mod login;
pub mod ls;
pub mod oneshot;
pub mod progress;
pub mod request;
pub mod target;

use std::io;
use std::net::Ipv4Addr;
use std::process;
use std::time::Duration;

use crate::{signals, write_policy};

/// A validated client configuration.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The data port of the first PORT after each CONNECT.
    pub first_data_port: u16,
    /// The address to advertise in PORT instead of the host name's.
    pub data_ip: Option<Ipv4Addr>,
    /// How long to wait to connect, for a reply, or for the data connection.
    pub timeout: Duration,
}

/// What SIGINT, SIGTERM and SIGHUP do in a client: an upload in flight is reset (so the
/// server discards it), every temporary file being written is removed, and the program exits
/// with 128 + the signal's number. With `interruptible_transfers` (the lab's prompt), SIGINT
/// during a transfer aborts only that transfer; a second one before the transfer has ended
/// (a server that does not answer) exits as above. Must be called before any thread is
/// spawned.
pub fn stop_on_signals(interruptible_transfers: bool) -> io::Result<()> {
    signals::take_terminating_signals(move |signal| {
        let in_progress = signals::transfers_in_progress();
        let aborted_before = signals::transfers_aborted();
        signals::abort_transfers();
        if interruptible_transfers && signal == libc::SIGINT && in_progress && !aborted_before {
            return;
        }
        write_policy::remove_in_flight_temporaries();
        process::exit(signals::exit_status_for(signal));
    })
}
