//! Properties over arbitrary input (proptest), so CI covers what the fuzz targets in fuzz/
//! explore: no parser panics on any bytes, every complete command line gets exactly one
//! reply from the reply table, and the session never reaches a state the SPEC does not name.

use std::net::{Ipv4Addr, SocketAddrV4};

use minftp::client::request::{Request, is_valid_host, parse_request};
use minftp::protocol::address::{
    format_port_argument, parse_eprt_argument, parse_epsv_reply, parse_pasv_reply, parse_port_argument,
};
use minftp::protocol::command::{Dialect, parse_command_in};
use minftp::protocol::line::{Line, LineReader};
use minftp::protocol::reply::{Reply, parse_reply};
use minftp::server::sandbox::Root;
use minftp::server::session::{Channel, Login, Policy, Session, Step, TlsPolicy};
use minftp::server::vpath::VirtualPath;
use minftp::server::{Limits, ServerConfig};
use minftp::transcript::{SharedBuffer, Transcript};
use proptest::prelude::*;

/// Command lines that reach every state: valid commands of both dialects, near misses,
/// and junk, with assorted line endings.
fn command_line() -> impl Strategy<Value = Vec<u8>> {
    let words = prop_oneof![
        Just("USER anonymous"),
        Just("user x y"),
        Just("PASS guest@"),
        Just("PASS "),
        Just("TYPE I"),
        Just("TYPE A"),
        Just("TYPE X"),
        Just("SYST"),
        Just("NOOP"),
        Just("NOOP x"),
        Just("QUIT"),
        Just("QUIT "),
        Just("PORT 127,0,0,1,4,0"),
        Just("PORT 1,2,3,4,5"),
        Just("RETR f"),
        Just("RETR "),
        Just("PASV"),
        Just("EPSV"),
        Just("EPSV ALL"),
        Just("EPRT |1|127.0.0.1|5000|"),
        Just("CWD sub"),
        Just("CDUP"),
        Just("PWD"),
        Just("LIST -la"),
        Just("MLSD"),
        Just("SIZE f"),
        Just("REST 5"),
        Just("STOR f"),
        Just("RNFR a"),
        Just("RNTO b"),
        Just("FEAT"),
        Just("OPTS UTF8 ON"),
        Just("XYZZY"),
        Just(""),
        Just(" USER a"),
    ];
    let junk = prop::collection::vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 0..40);
    let body = prop_oneof![4 => words.prop_map(|w| w.as_bytes().to_vec()), 1 => junk];
    let ending = prop_oneof![6 => Just(&b"\r\n"[..]), 1 => Just(&b"\n"[..]), 1 => Just(&b"\r\r\n"[..])];
    (body, ending).prop_map(|(body, ending)| [body.as_slice(), ending].concat())
}

fn policy(extended: bool, writable: bool) -> Policy {
    if extended {
        Policy { dialect: Dialect::Extended, writable, credentials: None, tls: TlsPolicy::Off }
    } else {
        Policy::comp431()
    }
}

/// Every reply this machine can produce renders as `NNN text\r\n` (or a well-formed
/// multi-line reply whose last line is such a line).
fn assert_well_formed(wire: &[u8]) {
    let last_line_start = wire[..wire.len() - 2].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let last = &wire[last_line_start..];
    let parsed = parse_reply(last).unwrap_or_else(|e| panic!("{e:?}: {}", String::from_utf8_lossy(wire)));
    assert!(wire.starts_with(parsed.code.to_string().as_bytes()));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn the_command_parser_never_panics(line in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_command_in(&line, Dialect::Comp431);
        let _ = parse_command_in(&line, Dialect::Extended);
    }

    #[test]
    fn a_valid_comp431_command_ends_in_crlf_and_is_ascii(line in command_line()) {
        if parse_command_in(&line, Dialect::Comp431).is_ok() {
            prop_assert!(line.ends_with(b"\r\n") && line.is_ascii());
        }
    }

    #[test]
    fn every_line_gets_one_well_formed_reply_and_the_state_stays_named(
        lines in prop::collection::vec(command_line(), 1..40),
        extended in any::<bool>(),
        writable in any::<bool>(),
    ) {
        let mut session = Session::with_policy(Channel::Socket, policy(extended, writable));
        // Whether a PORT or EPRT was accepted since the session (re)started.
        let mut port_accepted = false;
        for line in &lines {
            match session.handle(line) {
                Step::Reply(reply) | Step::Quit(reply) => {
                    assert_well_formed(&reply.to_wire());
                    port_accepted |= matches!(reply, Reply::PortOk(_) | Reply::ExtendedPortOk);
                    if matches!(reply, Reply::Goodbye) {
                        port_accepted = false;
                    }
                    if !extended {
                        let allowed = [200, 215, 221, 331, 230, 500, 501, 503, 530];
                        prop_assert!(allowed.contains(&reply.code()), "{} in COMP 431", reply.code());
                    }
                }
                Step::Transfer { .. } | Step::File(_) | Step::OpenPassive { .. } => {
                    prop_assert_eq!(session.login(), Login::LoggedIn, "an action before login");
                }
                Step::RejectLogin { .. } => prop_assert!(false, "no login is required here"),
                Step::StartTls => prop_assert!(false, "no TLS is configured here"),
            }
            // Changed with SPEC §3.3 (revised): a pending PORT survives a new or cancelled
            // login, so it may be pending while logged out; it must still come from a PORT
            // accepted while logged in. (This used to assert "no PORT pending while logged out".)
            if session.pending_port().is_some() {
                prop_assert!(port_accepted, "a PORT pending that no accepted PORT set");
            }
            prop_assert!(session.cwd().as_bytes().starts_with(b"/"));
        }
    }

    #[test]
    fn the_stdin_transcript_is_echo_then_one_reply_per_line(lines in prop::collection::vec(command_line(), 0..30)) {
        let root = tempfile::tempdir().unwrap();
        let config = ServerConfig {
            root: Root::new(root.path()).unwrap(),
            limits: Limits::default(),
            policy: Policy::comp431(),
            passive_ports: None,
            operation: Default::default(),
        };
        let buffer = SharedBuffer::default();
        let input = lines.concat();
        minftp::server::stdin::run(&config, input.as_slice(), &Transcript::new(buffer.clone()), &root.path().join("retr")).unwrap();
        let output = buffer.contents();
        let mut rest = output.strip_prefix(b"220 COMP 431 FTP server ready.\r\n".as_slice()).expect("greeting first");
        for line in &lines {
            rest = rest.strip_prefix(line.as_slice()).expect("the line is echoed exactly");
            let end = rest.windows(2).position(|w| w == b"\r\n").expect("a reply line") + 2;
            let reply = parse_reply(&rest[..end]).expect("a well-formed reply");
            rest = &rest[end..];
            // A valid QUIT ends the session: nothing more is printed.
            if reply.code == 200 && line.eq_ignore_ascii_case(b"QUIT\r\n") {
                prop_assert!(rest.is_empty());
                return Ok(());
            }
        }
        prop_assert!(rest.is_empty(), "extra output: {:?}", String::from_utf8_lossy(rest));
    }

    #[test]
    fn line_reading_loses_no_byte(input in prop::collection::vec(any::<u8>(), 0..3000), max in 4usize..300) {
        let mut reader = LineReader::new(input.as_slice(), max);
        let mut seen = Vec::new();
        loop {
            let mut spilled = Vec::new();
            match reader.next_line(&mut |b| spilled.extend_from_slice(b)).unwrap() {
                None => break,
                Some(Line::Complete(b)) | Some(Line::Unterminated(b)) => {
                    prop_assert!(b.len() <= max);
                    seen.extend_from_slice(b);
                }
                Some(Line::TooLong { .. }) => {
                    prop_assert!(spilled.len() > max);
                    seen.extend_from_slice(&spilled);
                }
            }
        }
        prop_assert_eq!(seen, input);
    }

    #[test]
    fn the_client_parsers_never_panic(line in prop::collection::vec(any::<u8>(), 0..200), connected in any::<bool>()) {
        if let Ok(Request::Connect { host, .. }) = parse_request(&line, connected) {
            prop_assert!(is_valid_host(host.as_bytes()));
        }
        let _ = parse_reply(&line);
    }

    #[test]
    fn address_parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..60), text in ".{0,60}") {
        let _ = parse_port_argument(&bytes);
        let _ = parse_eprt_argument(&bytes);
        let _ = parse_epsv_reply(&text);
        let _ = parse_pasv_reply(&text);
    }

    #[test]
    fn port_arguments_round_trip(ip in any::<u32>(), port in any::<u16>()) {
        let addr = SocketAddrV4::new(Ipv4Addr::from(ip), port);
        prop_assert_eq!(parse_port_argument(format_port_argument(addr).as_bytes()), Some(addr));
    }

    #[test]
    fn virtual_paths_never_climb_above_the_root(
        parts in prop::collection::vec(prop_oneof![Just(".."), Just("."), Just(""), Just("a"), Just("b c"), Just("/")], 0..12),
    ) {
        let argument = parts.join("/");
        let joined = VirtualPath::root().join(b"x/y").join(argument.as_bytes());
        let bytes = joined.as_bytes();
        prop_assert!(bytes.starts_with(b"/"));
        prop_assert!(!bytes.split(|&b| b == b'/').any(|part| part == b".." || part == b"."));
    }
}
