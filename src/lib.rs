//! minftp: an FTP server and clients in one executable. The binary only parses arguments
//! (see [`cli`]) and calls into the modules here.

pub mod cli;
pub mod client;
pub mod diagnostics;
pub mod fs_at;
pub mod protocol;
pub mod server;
pub mod signals;
pub mod tls;
pub mod transcript;
pub mod write_policy;
