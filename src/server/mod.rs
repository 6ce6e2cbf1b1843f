//! The FTP server: configuration, the session machine, and the drivers that feed it
//! (standard input for Homework 1, TCP connections otherwise).

pub mod access_log;
pub mod announce;
pub mod capacity;
pub mod data;
pub mod files;
pub mod listing;
pub mod sandbox;
pub mod session;
pub mod shutdown;
pub mod stdin;
pub mod tcp;
pub mod throttle;
pub mod vpath;

use std::ops::RangeInclusive;
use std::time::Duration;

use crate::protocol::line::DEFAULT_MAX_LINE;
use sandbox::Root;
use session::Policy;

/// Limits and timeouts of SPEC §7.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Sessions served at once; more get `421 Too many connections.`.
    pub max_clients: usize,
    /// A control connection silent this long is closed.
    pub idle_timeout: Duration,
    /// Connecting, accepting, and each read or write, on a data connection.
    pub data_timeout: Duration,
    /// The longest command line, its line ending included.
    pub max_line: usize,
    /// How long a wrong password waits for its 530.
    pub login_failure_delay: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_clients: 64,
            idle_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(30),
            max_line: DEFAULT_MAX_LINE,
            login_failure_delay: Duration::from_secs(1),
        }
    }
}

/// Everything a server needs, already validated (the command line is not seen here).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub root: Root,
    pub limits: Limits,
    pub policy: Policy,
    /// Ports for passive data connections; any free port when `None`.
    pub passive_ports: Option<RangeInclusive<u16>>,
    /// What the operator of a server for others sets (greeting, NAT, log, limits).
    pub operation: Operation,
}

/// The greeting of the extended dialect unless `--banner` sets another.
pub const DEFAULT_BANNER: &str = "minftp FTP server ready.";

/// The operator's settings of a socket server (SPEC §5 and the extended dialect's flags).
#[derive(Debug, Clone, Default)]
pub struct Operation {
    /// The greeting's text; `None` keeps the COMP 431 greeting.
    pub banner: Option<String>,
    /// The address PASV announces instead of the control connection's own (NAT, Docker):
    /// an IP, or a name resolved at each PASV.
    pub public_address: Option<String>,
    /// The access log (`--log FILE`, `--verbose`).
    pub access_log: Option<std::sync::Arc<access_log::AccessLog>>,
    /// Prefix each transcript line with its session's number.
    pub transcript_sessions: bool,
    /// Sessions one client address may hold at once.
    pub max_per_ip: Option<usize>,
    /// FTP over TLS (`--tls`): the certificate; `None` without TLS.
    pub tls: Option<std::sync::Arc<crate::tls::ServerTls>>,
    /// `--tls-implicit`: TLS from the first byte (ftps://) on the main port, not after
    /// AUTH TLS (`--tls-implicit-port` adds a second port for it: tcp::Listeners).
    pub implicit_tls: bool,
    /// `--tls-no-reuse-check`: PROT P data connections need not resume the control
    /// connection's TLS session.
    pub tls_no_reuse_check: bool,
    /// Bytes per second one session may move on its data connections.
    pub max_rate: Option<u64>,
    /// Warnings found while checking the command line, said with the startup lines.
    pub warnings: Vec<String>,
    /// Say on standard error when each client connects and leaves (`--lab`, where a TA
    /// watches several clients at once).
    pub announce_sessions: bool,
}
