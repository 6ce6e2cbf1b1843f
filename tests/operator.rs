//! Running a server for others (issue 13): safe defaults and warnings, startup lines,
//! greetings, the access log, the NAT address, MFMT, per-address and rate limits, and
//! rclone against `serve --writable`. All traffic stays on loopback.

mod common;

use common::*;
use std::fs;
use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn read_all(mut stream: TcpStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    bytes
}

/// `minftp serve ARGS` in `root` with an extra environment, without --bind unless given.
fn spawn_server(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
    let mut command = minftp(root);
    command.args(["serve", "0"]).args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    Server::spawn(command, root)
}

#[test]
fn a_password_without_a_user_is_refused_and_one_from_the_environment_is_warned_about() {
    let dir = temp_dir();
    let out = run_with_input(dir.path(), &["serve", "0", "--extended", "--password", "x"], b"");
    assert_eq!(out.status.code(), Some(2), "clap refuses --password without --user");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--user"));
    let out = run_with_input(dir.path(), &["serve", "0", "--extended", "--user", "alice"], b"");
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--user needs a password"));

    let server = spawn_server(dir.path(), &["--bind", "127.0.0.1", "--extended"], &[("MINFTP_PASSWORD", "secret")]);
    let stderr = server.wait_for_stderr("warning: MINFTP_PASSWORD");
    assert!(stderr.contains("warning: MINFTP_PASSWORD is set but --user is not: this server is anonymous"), "{stderr}");
    let mut client = server.connect();
    client.exchange("USER anyone\r\n", "331 Guest access OK, send password.\r\n");
    client.exchange("PASS anything\r\n", "230 Guest login OK.\r\n");
}

#[test]
fn the_lab_server_listens_on_loopback_unless_told_otherwise() {
    let dir = temp_dir();
    let server = spawn_server(dir.path(), &["--lab"], &[]);
    assert!(server.addr.ip().is_loopback(), "{}", server.addr);
    assert!(dir.path().join("server").is_dir());
}

#[test]
fn startup_lines_say_the_dialect_access_login_and_a_url() {
    let root = temp_dir();
    let server = Server::start(root.path(), &[]);
    let stderr = server.wait_for_stderr("url: ");
    assert!(stderr.contains("dialect: COMP 431") && stderr.contains("need --extended"), "{stderr}");
    assert!(stderr.contains(&format!("url: ftp://127.0.0.1:{}/", server.port())), "{stderr}");
    assert!(server.transcript().starts_with(b"") && !String::from_utf8_lossy(&server.transcript()).contains("dialect"));

    let server = Server::start(root.path(), &["--writable", "--user", "alice", "--password", "pw"]);
    let stderr = server.wait_for_stderr("url: ");
    assert!(
        stderr.contains("dialect: extended, writable (uploads and changes allowed), login required for alice"),
        "{stderr}"
    );
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn each_dialect_has_its_greeting_and_banner_sets_the_extended_one() {
    let root = temp_dir();
    for (args, greeting) in [
        (&[][..], "220 COMP 431 FTP server ready.\r\n"),
        (&["--extended"], "220 minftp FTP server ready.\r\n"),
        (&["--writable", "--banner", "Welcome to the lab"], "220 Welcome to the lab\r\n"),
    ] {
        let server = Server::start(root.path(), args);
        let mut client = RawClient::connect(server.addr);
        client.expect(greeting);
    }
    let out = run_with_input(root.path(), &["serve", "0", "--banner", "x"], b"");
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--banner applies to the extended dialect"));
}

/// Logs in and retrieves `name` over a passive connection; returns its bytes.
fn passive_retrieve(server: &Server, name: &str) -> Vec<u8> {
    let mut client = server.connect();
    client.login();
    let data = client.passive();
    client.exchange(&format!("RETR {name}\r\n"), "150 File status okay.\r\n");
    let bytes = read_all(data);
    client.expect("226 Transfer complete.\r\n");
    client.exchange("QUIT\r\n", "221 Goodbye.\r\n");
    bytes
}

#[test]
fn the_access_log_tells_two_concurrent_sessions_apart() {
    let root = temp_dir();
    write_file(root.path(), "small.bin", &binary_content(1_000));
    write_file(root.path(), "large.bin", &binary_content(3_000_000));
    let log = temp_dir();
    let log_file = log.path().join("access.log");
    let server =
        Server::start(root.path(), &["--extended", "--log", log_file.to_str().unwrap(), "--transcript-sessions"]);
    thread::scope(|scope| {
        let small = scope.spawn(|| passive_retrieve(&server, "small.bin"));
        let large = scope.spawn(|| passive_retrieve(&server, "large.bin"));
        assert_eq!(small.join().unwrap().len(), 1_000);
        assert_eq!(large.join().unwrap().len(), 3_000_000);
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut text = String::new();
    while text.matches("DISCONNECT").count() < 2 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
        text = fs::read_to_string(&log_file).unwrap();
    }
    for (size, name) in [(1_000, "small.bin"), (3_000_000, "large.bin")] {
        let retr = text.lines().find(|l| l.contains(&format!("RETR /{name}"))).unwrap_or_else(|| panic!("{text}"));
        assert!(retr.contains(&format!("bytes={size}")) && retr.contains("code=226"), "{retr}");
        assert!(retr.contains("user=anonymous") && retr.contains("client=127.0.0.1:"), "{retr}");
        let session = retr.split_whitespace().find(|w| w.starts_with("session=")).unwrap();
        let client = retr.split_whitespace().find(|w| w.starts_with("client=")).unwrap();
        let own: Vec<&str> = text.lines().filter(|l| l.contains(&format!(" {session} "))).collect();
        assert!(own.iter().all(|l| l.contains(client)), "one session, one address: {own:?}");
        assert!(own.iter().any(|l| l.contains(" CONNECT ")), "{own:?}");
        // After QUIT, the end of the session still names its user.
        assert!(own.iter().any(|l| l.contains("user=anonymous DISCONNECT ")), "{own:?}");
        assert!(own.iter().any(|l| l.contains(" PASS ") && l.contains("code=230")), "{own:?}");
    }
    let first = text.lines().next().unwrap();
    assert!(first.len() > 24 && first.as_bytes()[10] == b'T' && first[..24].ends_with('Z'), "RFC 3339: {first}");
    let transcript = String::from_utf8_lossy(&server.transcript()).into_owned();
    assert!(transcript.contains("[1] ") && transcript.contains("[2] "), "{transcript}");
}

#[test]
fn verbose_writes_the_access_log_to_standard_error() {
    let root = temp_dir();
    let server = Server::start(root.path(), &["--extended", "--verbose"]);
    let mut client = server.connect();
    client.exchange("USER someone\r\n", "331 Guest access OK, send password.\r\n");
    client.exchange("PASS x\r\n", "230 Guest login OK.\r\n");
    let stderr = server.wait_for_stderr("user=someone PASS");
    let line = stderr.lines().find(|l| l.contains("user=someone PASS")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.contains("session=1") && line.ends_with("code=230"), "{line}");
    assert!(!String::from_utf8_lossy(&server.transcript()).contains("session="), "the log never goes to stdout");
}

#[test]
fn pasv_announces_the_public_address_and_epsv_none() {
    let root = temp_dir();
    for (public, shown) in [("203.0.113.7", "203,0,113,7"), ("localhost", "127,0,0,1")] {
        let server = Server::start(root.path(), &["--extended", "--public-address", public]);
        let mut client = server.connect();
        client.login();
        client.send(b"PASV\r\n");
        let reply = String::from_utf8(client.read_line()).unwrap();
        assert!(reply.starts_with(&format!("227 Entering Passive Mode ({shown},")), "{reply}");
        client.send(b"EPSV\r\n");
        let reply = String::from_utf8(client.read_line()).unwrap();
        assert!(reply.starts_with("229 Entering Extended Passive Mode (|||"), "{reply}");
    }
}

#[test]
fn mfmt_sets_a_files_modification_time() {
    let root = temp_dir();
    write_file(root.path(), "f.txt", b"x");
    let server = Server::start(root.path(), &["--writable"]);
    let mut client = server.connect();
    client.login();
    client.exchange("MFMT 20200102030405 f.txt\r\n", "213 Modify=20200102030405; /f.txt\r\n");
    client.exchange("MDTM f.txt\r\n", "213 20200102030405\r\n");
    let modified = fs::metadata(root.path().join("f.txt")).unwrap().modified().unwrap();
    assert_eq!(modified.duration_since(UNIX_EPOCH).unwrap().as_secs(), 1_577_934_245);
    client.exchange("MFMT 2020 f.txt\r\n", "501 Syntax error in parameter.\r\n");
    client.exchange("MFMT 20200102030405 missing\r\n", "550 File not found or access denied.\r\n");
    let read_only = Server::start(root.path(), &["--extended"]);
    let mut client = read_only.connect();
    client.login();
    client.exchange("MFMT 20200102030405 f.txt\r\n", "550 Permission denied.\r\n");
    let _ = SystemTime::now();
}

#[test]
fn max_per_ip_refuses_one_session_too_many_from_one_address_only() {
    let root = temp_dir();
    let server = Server::start(root.path(), &["--extended", "--max-per-ip", "2"]);
    let _first = server.connect();
    let _second = server.connect();
    let mut third = RawClient::connect(server.addr);
    third.expect("421 Too many connections.\r\n");
    let mut elsewhere = RawClient::connect_stream(connect_from("127.0.0.2", server.port()));
    elsewhere.expect("220 minftp FTP server ready.\r\n");
}

#[test]
fn max_rate_holds_a_download_near_the_rate() {
    let root = temp_dir();
    let size = 4 << 20;
    write_file(root.path(), "f.bin", &binary_content(size));
    let rate = 2 << 20;
    let server = Server::start(root.path(), &["--extended", "--max-rate", &rate.to_string()]);
    let started = Instant::now();
    assert_eq!(passive_retrieve(&server, "f.bin").len(), size);
    let took = started.elapsed().as_secs_f64();
    let want = size as f64 / rate as f64;
    assert!((took - want).abs() <= want * 0.2, "{took:.2} s for {want:.2} s");
}

#[test]
fn rclone_copies_lists_checks_and_moves_without_errors() {
    if !rclone_installed() {
        return;
    }
    let root = temp_dir();
    let local = temp_dir();
    write_file(local.path(), "a.txt", b"alpha");
    write_file(local.path(), "sub/b.bin", &binary_content(300_000));
    let server = Server::start(root.path(), &["--writable"]);
    let remote = rclone_remote(server.port(), "", "dest");
    let rclone = |args: &[&str]| rclone(local.path(), args).expect("rclone is installed");
    let source = local.path().to_str().unwrap();
    rclone(&["copy", source, &remote]);
    assert_eq!(fs::read(root.path().join("dest/a.txt")).unwrap(), b"alpha");
    let listing = rclone(&["lsl", &remote]);
    assert!(listing.contains("a.txt") && listing.contains("sub/b.bin"), "{listing}");
    rclone(&["check", "--download", source, &remote]);
    rclone(&["moveto", &format!("{remote}/a.txt"), &format!("{remote}/renamed.txt")]);
    assert!(root.path().join("dest/renamed.txt").exists() && !root.path().join("dest/a.txt").exists());
    let local_time = fs::metadata(local.path().join("sub/b.bin")).unwrap().modified().unwrap();
    let remote_time = fs::metadata(root.path().join("dest/sub/b.bin")).unwrap().modified().unwrap();
    let apart = local_time.duration_since(remote_time).unwrap_or_else(|e| e.duration());
    assert!(apart < Duration::from_secs(2), "rclone kept the modification time (MFMT): {apart:?} apart");
}
