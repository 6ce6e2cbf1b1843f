//! Fuzz target: a session machine fed any sequence of lines, in both dialects; every line
//! gets one well-formed reply or an action, and the state stays one the SPEC names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use minftp::protocol::command::Dialect;
use minftp::protocol::reply::parse_reply;
use minftp::server::session::{Channel, Login, Policy, Session, Step};

fuzz_target!(|input: &[u8]| {
    let (flags, lines) = input.split_first().unwrap_or((&0, &[]));
    let policy = match flags & 1 {
        0 => Policy::comp431(),
        _ => Policy { dialect: Dialect::Extended, writable: flags & 2 != 0, credentials: None },
    };
    let mut session = Session::with_policy(Channel::Socket, policy);
    for line in lines.split_inclusive(|&b| b == b'\n') {
        match session.handle(line) {
            Step::Reply(reply) | Step::Quit(reply) => {
                let wire = reply.to_wire();
                let last = wire[..wire.len() - 2].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                assert!(parse_reply(&wire[last..]).is_ok(), "{wire:?}");
            }
            Step::RejectLogin { .. } => unreachable!("no login is required"),
            _ => assert_eq!(session.login(), Login::LoggedIn),
        }
        if session.pending_port().is_some() {
            assert_eq!(session.login(), Login::LoggedIn);
        }
    }
});
