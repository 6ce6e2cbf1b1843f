//! Fuzz target: the server's command grammar, both dialects, on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use minftp::protocol::command::{Dialect, parse_command_in};

fuzz_target!(|line: &[u8]| {
    if parse_command_in(line, Dialect::Comp431).is_ok() {
        // A valid COMP 431 command always ends in CR LF and is ASCII.
        assert!(line.ends_with(b"\r\n") && line.is_ascii());
    }
    let _ = parse_command_in(line, Dialect::Extended);
});
