//! The protocol core shared by server and client: lines, commands, replies and address
//! encodings. It knows nothing of the command line or of files.

pub mod address;
pub mod command;
pub mod line;
pub mod reply;
