//! FTP clients: the COMP 431 stdin-driven session, one-shot transfers and the COSC 328 lab
//! session, built on a shared control connection and FTP session.

pub mod comp431;
pub mod control;
pub mod ftp;
pub mod lab;
pub mod oneshot;
pub mod progress;
pub mod request;
pub mod target;

use std::net::Ipv4Addr;
use std::time::Duration;

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
