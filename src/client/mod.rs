//! FTP clients: the COMP 431 stdin-driven session, built on a shared control connection.

pub mod comp431;
pub mod control;
pub mod request;

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
