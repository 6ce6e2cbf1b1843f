//! Fuzz target: PORT, EPRT, PASV and EPSV address parsers on any bytes; PORT round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use minftp::protocol::address::{
    format_port_argument, parse_eprt_argument, parse_epsv_reply, parse_pasv_reply, parse_port_argument,
};

fuzz_target!(|bytes: &[u8]| {
    if let Some(addr) = parse_port_argument(bytes) {
        assert_eq!(parse_port_argument(format_port_argument(addr).as_bytes()), Some(addr));
    }
    let _ = parse_eprt_argument(bytes);
    let text = String::from_utf8_lossy(bytes);
    let _ = parse_epsv_reply(&text);
    let _ = parse_pasv_reply(&text);
});
