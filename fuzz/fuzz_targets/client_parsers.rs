//! Fuzz target: the COMP 431 client's request and reply grammars on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use minftp::client::request::{Request, is_valid_host, parse_request};
use minftp::protocol::reply::parse_reply;

fuzz_target!(|line: &[u8]| {
    for connected in [false, true] {
        if let Ok(Request::Connect { host, .. }) = parse_request(line, connected) {
            assert!(is_valid_host(host.as_bytes()));
        }
    }
    if let Ok(reply) = parse_reply(line) {
        assert!((100..=599).contains(&reply.code));
    }
});
