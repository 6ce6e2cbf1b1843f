//! `minftp serve` over TCP, driven by a raw control connection and a data listener on
//! 127.0.0.1: exact transcripts, exact file bytes, refusals and limits.

mod common;

use common::*;
use std::io::Read;
use std::net::TcpStream;
use std::os::unix::fs::symlink;
use std::thread;
use std::time::{Duration, Instant};

const GREETING: &str = "220 COMP 431 FTP server ready.\r\n";
const OPENING: &str = "150 File status okay.\r\n";
const DONE: &str = "250 Requested file action completed.\r\n";
const REFUSED: &str = "550 File not found or access denied.\r\n";
const NO_DATA: &str = "425 Can not open data connection.\r\n";

/// Logs in, sends PORT for a fresh listener, RETRs `name`, and returns the bytes received.
fn retrieve(server: &Server, name: &str) -> Vec<u8> {
    let mut client = server.connect();
    client.login();
    client.retrieve(name)
}

#[test]
fn full_session_transcript_is_exact() {
    let root = temp_dir();
    write_file(root.path(), "f.bin", b"abc");
    let mut server = Server::start(root.path(), &[]);
    let mut client = server.connect();
    client.login();
    client.exchange("SYST\r\n", "215 UNIX Type: L8.\r\n");
    client.exchange("TYPE I\r\n", "200 Type set to I.\r\n");
    client.exchange("LIST\r\n", "500 Syntax error, command unrecognized.\r\n");
    let data = DataListener::new();
    client.exchange(&data.port_command(), &port_reply(data.port()));
    client.exchange("RETR f.bin\r\n", OPENING);
    assert_eq!(data.receive_all(), b"abc");
    client.expect(DONE);
    client.exchange("QUIT\r\n", "221 Goodbye.\r\n");
    assert!(client.is_closed());
    let want = format!(
        "{GREETING}USER anonymous\r\n331 Guest access OK, send password.\r\nPASS guest@\r\n230 Guest login OK.\r\n\
         SYST\r\n215 UNIX Type: L8.\r\nTYPE I\r\n200 Type set to I.\r\nLIST\r\n500 Syntax error, command unrecognized.\r\n\
         {}{}RETR f.bin\r\n{OPENING}{DONE}QUIT\r\n221 Goodbye.\r\n",
        data.port_command(),
        port_reply(data.port())
    );
    assert_transcript(&server.wait_for_transcript_end(b"221 Goodbye.\r\n"), want.as_bytes());
    assert_eq!(server.interrupt(), Some(0), "Ctrl-C exits with status 0");
}

#[test]
fn binary_content_arrives_unchanged() {
    let root = temp_dir();
    let content = binary_content(1_000_003);
    write_file(root.path(), "bin", &content);
    let server = Server::start(root.path(), &[]);
    assert!(retrieve(&server, "bin") == content);
}

#[test]
fn an_empty_file_arrives_empty() {
    let root = temp_dir();
    write_file(root.path(), "empty", b"");
    let server = Server::start(root.path(), &[]);
    assert_eq!(retrieve(&server, "empty"), b"");
}

#[test]
fn a_64_mib_file_arrives_whole() {
    let root = temp_dir();
    let content = binary_content(64 << 20);
    write_file(root.path(), "big", &content);
    let server = Server::start(root.path(), &[]);
    let got = retrieve(&server, "big");
    assert_eq!(got.len(), content.len());
    assert!(got == content, "64 MiB file differs");
}

#[test]
fn nothing_listening_on_the_port_address_is_425() {
    let root = temp_dir();
    write_file(root.path(), "f", b"x");
    let server = Server::start(root.path(), &[]);
    let mut client = server.connect();
    client.login();
    let closed_port = DataListener::new().port(); // bound, then dropped: nothing listens
    client.exchange(&port_command(closed_port), &port_reply(closed_port));
    client.exchange("RETR f\r\n", OPENING);
    client.expect(NO_DATA);
    client.exchange("RETR f\r\n", "503 Bad sequence of commands.\r\n");
}

#[test]
fn a_port_below_1024_is_refused_at_retr_time() {
    let root = temp_dir();
    write_file(root.path(), "f", b"x");
    let server = Server::start(root.path(), &[]);
    let mut client = server.connect();
    client.login();
    for (port_arg, shown) in [("127,0,0,1,0,21", "127.0.0.1,21"), ("127,0,0,1,0,0", "127.0.0.1,0")] {
        client.exchange(&format!("PORT {port_arg}\r\n"), &format!("200 Port command successful ({shown}).\r\n"));
        client.exchange("RETR f\r\n", OPENING);
        client.expect(NO_DATA);
    }
    let stderr = server.wait_for_stderr("PrivilegedPort");
    assert!(stderr.contains("PrivilegedPort"), "stderr says why: {stderr}");
}

#[test]
fn paths_outside_the_root_directories_and_missing_files_are_550() {
    let outer = temp_dir();
    let root = outer.path().join("root");
    write_file(&root, "inside.txt", b"in");
    write_file(&root, "folder/x", b"x");
    write_file(outer.path(), "secret", b"secret");
    symlink(outer.path().join("secret"), root.join("link-out")).unwrap();
    symlink(outer.path(), root.join("dir-out")).unwrap();
    let server = Server::start(&root, &[]);
    let mut client = server.connect();
    client.login();
    let data = DataListener::new();
    client.exchange(&data.port_command(), &port_reply(data.port()));
    for path in [
        "../secret",
        "folder/../../secret",
        "/../secret",
        "/etc/passwd",
        "//etc/passwd",
        "link-out",
        "dir-out/secret",
        "folder",
        "/",
        "missing",
        "..\\secret",
        "%2e%2e/secret",
    ] {
        client.exchange(&format!("RETR {path}\r\n"), REFUSED);
    }
    client.send(b"RETR inside.txt\0\r\n");
    client.expect(REFUSED);
    // The PORT is still pending after all those refusals.
    client.exchange("RETR inside.txt\r\n", OPENING);
    assert_eq!(data.receive_all(), b"in");
    client.expect(DONE);
}

#[test]
fn two_clients_connected_at_once_are_both_served() {
    let root = temp_dir();
    write_file(root.path(), "a", b"for a");
    let server = Server::start(root.path(), &[]);
    let mut first = server.connect();
    let mut second = server.connect();
    first.login();
    second.login();
    assert_eq!(second.retrieve("a"), b"for a");
    assert_eq!(first.retrieve("a"), b"for a");
}

#[test]
fn a_client_dropping_the_data_connection_mid_file_gets_426_and_the_server_goes_on() {
    let root = temp_dir();
    write_file(root.path(), "big", &binary_content(64 << 20));
    write_file(root.path(), "small", b"small");
    let server = Server::start(root.path(), &[]);
    let mut client = server.connect();
    client.login();
    let data = DataListener::new();
    client.exchange(&data.port_command(), &port_reply(data.port()));
    client.exchange("RETR big\r\n", OPENING);
    let (mut stream, _) = data.listener.accept().unwrap();
    let mut some = [0u8; 4096];
    stream.read_exact(&mut some).unwrap();
    drop(stream);
    client.expect("426 Connection closed; transfer aborted.\r\n");
    client.exchange("NOOP\r\n", "200 Command OK.\r\n");
    assert_eq!(retrieve(&server, "small"), b"small");
}

#[test]
fn a_client_vanishing_without_quit_leaves_no_trace_in_the_transcript() {
    let root = temp_dir();
    let server = Server::start(root.path(), &[]);
    let mut client = server.connect();
    client.send(b"NOOP\r\nUSER half-a-line-without-end");
    client.expect("530 Not logged in.\r\n");
    drop(client);
    let mut next = server.connect();
    next.exchange("NOOP\r\n", "530 Not logged in.\r\n");
    let want = format!("{GREETING}NOOP\r\n530 Not logged in.\r\n{GREETING}NOOP\r\n530 Not logged in.\r\n");
    // The whole expected transcript as the awaited end: its last line alone is already
    // there after the first session, before the second session's lines are read in.
    assert_transcript(&server.wait_for_transcript_end(want.as_bytes()), want.as_bytes());
    let got = server.transcript();
    assert!(!String::from_utf8_lossy(&got).contains("half-a-line"));
}

#[test]
fn more_clients_than_max_clients_get_421_and_the_others_keep_working() {
    let root = temp_dir();
    let server = Server::start(root.path(), &["--max-clients", "2"]);
    let mut first = server.connect();
    let _second = server.connect();
    let mut third = RawClient::connect(server.addr);
    third.expect("421 Too many connections.\r\n");
    assert!(third.is_closed());
    first.exchange("NOOP\r\n", "530 Not logged in.\r\n");
    drop(first);
    // The freed place is available again (allow the server a moment to notice).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = RawClient::connect(server.addr);
        if again.read_line() == GREETING.as_bytes() {
            break;
        }
        assert!(Instant::now() < deadline, "the slot was never given back");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_idle_client_is_disconnected_after_the_idle_timeout() {
    let root = temp_dir();
    let server = Server::start(root.path(), &["--idle-timeout", "1"]);
    let mut client = server.connect();
    let started = Instant::now();
    client.expect("421 Idle timeout, closing control connection.\r\n");
    assert!(client.is_closed());
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn pipelined_commands_each_get_one_reply_in_order() {
    let root = temp_dir();
    let server = Server::start(root.path(), &[]);
    let mut client = server.connect();
    let mut burst = Vec::new();
    for _ in 0..10_000 {
        burst.extend_from_slice(b"NOOP\r\n");
    }
    let writer_stream = client.stream.try_clone().unwrap();
    let writer = thread::spawn(move || {
        let mut s = writer_stream;
        std::io::Write::write_all(&mut s, &burst).unwrap();
    });
    for _ in 0..10_000 {
        client.expect("530 Not logged in.\r\n");
    }
    writer.join().unwrap();
}

#[test]
fn a_one_mib_line_is_answered_500_and_the_session_goes_on() {
    let root = temp_dir();
    let server = Server::start(root.path(), &[]);
    let mut client = server.connect();
    let mut line = vec![b'A'; 1 << 20];
    line.extend_from_slice(b"\r\n");
    let writer_stream = client.stream.try_clone().unwrap();
    let writer = thread::spawn(move || {
        let mut s = writer_stream;
        std::io::Write::write_all(&mut s, &line).unwrap();
    });
    client.expect("500 Syntax error, command unrecognized.\r\n");
    writer.join().unwrap();
    client.exchange("NOOP\r\n", "530 Not logged in.\r\n");
}

#[test]
fn a_port_already_in_use_is_a_clear_error_and_exit_status_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = temp_dir();
    let child = minftp(dir.path())
        .args(["serve", &port, "--bind", "127.0.0.1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_bounded(child, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing on the transcript");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already in use") && !stderr.contains("panicked"), "stderr: {stderr}");
}

#[test]
fn an_unknown_root_is_a_clear_error() {
    let dir = temp_dir();
    let child = minftp(dir.path())
        .args(["serve", "0", "--root", "no-such-folder"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_bounded(child, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-folder"));
}

#[test]
fn the_server_survives_a_connection_that_resets_at_once() {
    let root = temp_dir();
    write_file(root.path(), "f", b"ok");
    let server = Server::start(root.path(), &[]);
    for _ in 0..20 {
        let stream = TcpStream::connect(server.addr).unwrap();
        reset_on_close(&stream);
        drop(stream);
    }
    assert_eq!(retrieve(&server, "f"), b"ok");
}

/// SO_LINGER with a zero timeout: closing the socket sends a reset instead of a FIN.
fn reset_on_close(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: setsockopt on an open socket with a correctly sized linger value.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
}

/// A client built like the course's starter code: it reads one `recv(1024)` per reply and
/// accepts the data connection only after it has read the 150.
struct CourseStyleClient {
    control: TcpStream,
}

impl CourseStyleClient {
    fn connect(server: &Server) -> CourseStyleClient {
        let control = TcpStream::connect(server.addr).unwrap();
        control.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut client = CourseStyleClient { control };
        assert_eq!(client.recv_reply(), GREETING.as_bytes());
        client
    }

    /// One `recv(1024)`, as the course's clients read a reply; a hang fails the test.
    fn recv_reply(&mut self) -> Vec<u8> {
        let mut buffer = [0u8; 1024];
        let n = self.control.read(&mut buffer).expect("a reply within 5 s (no hang)");
        buffer[..n].to_vec()
    }

    fn command(&mut self, line: &str) -> Vec<u8> {
        use std::io::Write;
        self.control.write_all(line.as_bytes()).unwrap();
        self.recv_reply()
    }
}

/// SPEC §3.4 (decided): after the last byte the server half-closes the data connection and
/// waits for the client to close its end before the 250, so that a client reading one
/// reply per `recv()` never gets the 150 and the 250 in one read. 200 runs each on a small
/// and an empty file: 0 merged replies, 0 hangs.
#[test]
fn rule_3_4_the_150_and_the_250_arrive_in_separate_reads() {
    let root = temp_dir();
    write_file(root.path(), "small", b"a small file\n");
    write_file(root.path(), "empty", b"");
    let server = Server::start(root.path(), &[]);
    let mut merged = Vec::new();
    let mut per_retr = Vec::new();
    for run in 0..200 {
        for (name, content) in [("small", &b"a small file\n"[..]), ("empty", b"")] {
            let mut client = CourseStyleClient::connect(&server);
            for (line, reply) in [
                ("USER anonymous\r\n", "331 Guest access OK, send password.\r\n"),
                ("PASS guest@\r\n", "230 Guest login OK.\r\n"),
            ] {
                assert_eq!(show(&client.command(line)), show(reply.as_bytes()));
            }
            let data = DataListener::new();
            assert_eq!(show(&client.command(&data.port_command())), show(port_reply(data.port()).as_bytes()));
            let started = Instant::now();
            {
                use std::io::Write;
                client.control.write_all(format!("RETR {name}\r\n").as_bytes()).unwrap();
            }
            // The course's clients are Python: give the server time to run ahead.
            thread::sleep(Duration::from_millis(1));
            let first = client.recv_reply();
            if first != OPENING.as_bytes() {
                merged.push(format!("run {run} {name}: {}", show(&first)));
                continue;
            }
            assert_eq!(data.receive_all(), content);
            let last = client.recv_reply();
            assert_eq!(show(&last), show(DONE.as_bytes()), "run {run} {name}");
            per_retr.push(started.elapsed());
        }
    }
    assert!(merged.is_empty(), "{} of 400 RETRs merged their replies:\n{}", merged.len(), merged.join("\n"));
    per_retr.sort();
    eprintln!("RETR round trip, course-style client: median {:?}, max {:?}", per_retr[200], per_retr[399]);
}

/// SPEC §3.3 (revised), over a socket: an invalid QUIT keeps a pending USER, and a new
/// login (also a cancelled one) keeps the pending PORT.
#[test]
fn rule_3_3_over_a_socket_invalid_quit_and_new_logins_keep_user_and_port() {
    let root = temp_dir();
    write_file(root.path(), "f", b"kept");
    let server = Server::start(root.path(), &[]);
    let mut client = server.connect();
    client.exchange("USER a\r\n", "331 Guest access OK, send password.\r\n");
    client.exchange("QUIT x\r\n", "501 Syntax error in parameter.\r\n");
    client.exchange("PASS b\r\n", "230 Guest login OK.\r\n");
    let data = DataListener::new();
    client.exchange(&data.port_command(), &port_reply(data.port()));
    client.exchange("USER c\r\n", "331 Guest access OK, send password.\r\n");
    client.exchange("NOOP\r\n", "530 Not logged in.\r\n");
    client.exchange("PASS d\r\n", "530 Not logged in.\r\n");
    client.login();
    client.exchange("RETR f\r\n", OPENING);
    assert_eq!(data.receive_all(), b"kept");
    client.expect(DONE);
    client.exchange("QUIT\r\n", "221 Goodbye.\r\n");
    let want = format!(
        "{GREETING}USER a\r\n331 Guest access OK, send password.\r\nQUIT x\r\n501 Syntax error in parameter.\r\n\
         PASS b\r\n230 Guest login OK.\r\n{}{}USER c\r\n331 Guest access OK, send password.\r\n\
         NOOP\r\n530 Not logged in.\r\nPASS d\r\n530 Not logged in.\r\n\
         USER anonymous\r\n331 Guest access OK, send password.\r\nPASS guest@\r\n230 Guest login OK.\r\n\
         RETR f\r\n{OPENING}{DONE}QUIT\r\n221 Goodbye.\r\n",
        data.port_command(),
        port_reply(data.port())
    );
    assert_transcript(&server.wait_for_transcript_end(b"221 Goodbye.\r\n"), want.as_bytes());
}

/// SPEC §3.4: a client that never closes its end of the data connection delays the 250 by
/// at most a second; it still gets it.
#[test]
fn rule_3_4_a_client_that_keeps_the_data_connection_open_gets_its_250_within_a_second() {
    let root = temp_dir();
    write_file(root.path(), "f", b"x");
    let server = Server::start(root.path(), &[]);
    let mut client = server.connect();
    client.login();
    let data = DataListener::new();
    client.exchange(&data.port_command(), &port_reply(data.port()));
    client.exchange("RETR f\r\n", OPENING);
    let (_held_open, _) = data.listener.accept().unwrap();
    let started = Instant::now();
    client.expect(DONE);
    let waited = started.elapsed();
    assert!(waited < Duration::from_millis(2500), "the 250 took {waited:?}");
}
