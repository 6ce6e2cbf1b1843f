//! minftp: an FTP server and clients in one executable. The binary only parses arguments
//! (see [`cli`]) and calls into the modules here.

pub mod atomic;
pub mod cli;
pub mod client;
pub mod diagnostics;
pub mod protocol;
pub mod server;
pub mod transcript;
