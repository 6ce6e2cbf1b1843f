//! The protocol core shared by server and client: lines, commands, replies, address
//! encodings and data connections. It knows nothing of the command line.

pub mod address;
pub mod command;
pub mod data;
pub mod line;
pub mod records;
pub mod reply;
pub mod timestamp;
pub mod transport;
