//! FTP clients: the COMP 431 stdin-driven session (more to come).

use std::net::Ipv4Addr;

use color_eyre::eyre::Result;

use crate::cli::NotBuiltYet;

/// A validated client configuration.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub first_data_port: u16,
    pub data_ip: Option<Ipv4Addr>,
}

pub fn run(_config: ClientConfig) -> Result<()> {
    Err(NotBuiltYet("minftp client").into())
}
