//! `minftp serve --extended` over real sockets on loopback: passive transfers, port-stealing
//! protection, uploads and their atomicity, required logins, IPv6.

mod common;

use common::*;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

const OPENING: &str = "150 File status okay.\r\n";
const COMPLETE: &str = "226 Transfer complete.\r\n";

fn read_all(mut stream: TcpStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    bytes
}

fn extended_server(root: &std::path::Path, extra: &[&str]) -> (Server, RawClient) {
    let mut args = vec!["--extended"];
    args.extend_from_slice(extra);
    let server = Server::start(root, &args);
    let mut client = server.connect();
    client.login();
    (server, client)
}

#[test]
fn passive_retr_delivers_the_file_and_closes_with_226() {
    let root = temp_dir();
    let content = binary_content(2_000_000);
    write_file(root.path(), "f.bin", &content);
    let (server, mut client) = extended_server(root.path(), &[]);
    let data = client.passive();
    client.exchange("RETR f.bin\r\n", OPENING);
    assert!(read_all(data) == content);
    client.expect(COMPLETE);
    client.exchange("QUIT\r\n", "221 Goodbye.\r\n");
    let transcript = String::from_utf8_lossy(&server.wait_for_transcript_end(b"221 Goodbye.\r\n")).into_owned();
    assert!(transcript.contains("PASV\r\n227 Entering Passive Mode (127,0,0,1,"), "{transcript}");
}

#[test]
fn epsv_announces_only_a_port() {
    let root = temp_dir();
    write_file(root.path(), "f", b"epsv");
    let (_server, mut client) = extended_server(root.path(), &[]);
    client.send(b"EPSV\r\n");
    let reply = String::from_utf8(client.read_line()).unwrap();
    let port: u16 = reply
        .trim_end()
        .strip_prefix("229 Entering Extended Passive Mode (|||")
        .unwrap()
        .strip_suffix("|).")
        .unwrap()
        .parse()
        .unwrap();
    let data = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client.exchange("RETR f\r\n", OPENING);
    assert_eq!(read_all(data), b"epsv");
    client.expect(COMPLETE);
}

#[test]
fn a_passive_connection_from_another_address_is_refused() {
    let root = temp_dir();
    write_file(root.path(), "f", b"mine");
    let (_server, mut client) = extended_server(root.path(), &[]);
    client.send(b"EPSV\r\n");
    let reply = String::from_utf8(client.read_line()).unwrap();
    let port: u16 = reply.rsplit("|||").next().unwrap().trim_end().trim_end_matches("|).").parse().unwrap();
    // A thief on another address connects first; the server drops it and waits for the client.
    let mut thief = connect_from("127.0.0.2", port);
    let data = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client.exchange("RETR f\r\n", OPENING);
    assert_eq!(read_all(data), b"mine");
    client.expect(COMPLETE);
    thief.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut stolen = Vec::new();
    let _ = thief.read_to_end(&mut stolen);
    assert!(stolen.is_empty(), "the thief got {} bytes", stolen.len());
}

#[test]
fn listings_go_over_the_data_connection() {
    let root = temp_dir();
    write_file(root.path(), "a.txt", b"abc");
    write_file(root.path(), "dir/b.txt", b"");
    let (_server, mut client) = extended_server(root.path(), &[]);
    let data = client.passive();
    client.exchange("NLST\r\n", OPENING);
    assert_eq!(read_all(data), b"a.txt\r\ndir\r\n");
    client.expect(COMPLETE);
    let data = client.passive();
    client.exchange("MLSD dir\r\n", OPENING);
    let facts = String::from_utf8(read_all(data)).unwrap();
    assert!(facts.starts_with("type=file;size=0;modify=") && facts.ends_with("; b.txt\r\n"), "{facts}");
    client.expect(COMPLETE);
    let data = client.passive();
    client.exchange("LIST -la\r\n", OPENING);
    let long = String::from_utf8(read_all(data)).unwrap();
    assert!(long.lines().next().unwrap().starts_with("-rw") && long.contains(" a.txt\r\n"), "{long}");
    client.expect(COMPLETE);
}

#[test]
fn the_working_directory_never_leaves_the_root() {
    let outer = temp_dir();
    let root = outer.path().join("root");
    write_file(&root, "sub/f", b"f");
    write_file(outer.path(), "secret", b"s");
    let (_server, mut client) = extended_server(&root, &[]);
    client.exchange("CWD sub\r\n", "250 Requested file action completed.\r\n");
    client.exchange("PWD\r\n", "257 \"/sub\" is the current directory.\r\n");
    client.exchange("CWD ../../..\r\n", "250 Requested file action completed.\r\n");
    client.exchange("PWD\r\n", "257 \"/\" is the current directory.\r\n");
    client.exchange("SIZE ../secret\r\n", "550 File not found or access denied.\r\n");
    client.exchange("CWD nope\r\n", "550 File not found or access denied.\r\n");
    client.exchange("SIZE sub/f\r\n", "213 1\r\n");
    client.exchange("SIZE sub\r\n", "550 File not found or access denied.\r\n");
}

#[test]
fn changes_without_writable_are_permission_denied() {
    let root = temp_dir();
    write_file(root.path(), "f", b"keep");
    let (_server, mut client) = extended_server(root.path(), &[]);
    for command in ["STOR f\r\n", "APPE f\r\n", "DELE f\r\n", "MKD d\r\n", "RMD d\r\n", "RNFR f\r\n"] {
        client.exchange(command, "550 Permission denied.\r\n");
    }
    assert_eq!(fs::read(root.path().join("f")).unwrap(), b"keep");
}

#[test]
fn writable_allows_upload_rename_mkdir_and_delete() {
    let root = temp_dir();
    let (_server, mut client) = extended_server(root.path(), &["--writable"]);
    let content = binary_content(3_000_000);
    let mut data = client.passive();
    client.exchange("STOR up.bin\r\n", OPENING);
    data.write_all(&content).unwrap();
    drop(data);
    client.expect(COMPLETE);
    assert!(fs::read(root.path().join("up.bin")).unwrap() == content);
    client.exchange("MKD d\r\n", "257 \"/d\" created.\r\n");
    client.exchange("RNFR up.bin\r\n", "350 File exists, ready for destination name.\r\n");
    client.exchange("RNTO d/moved.bin\r\n", "250 Requested file action completed.\r\n");
    assert!(root.path().join("d/moved.bin").exists() && !root.path().join("up.bin").exists());
    client.exchange("RMD d\r\n", "550 File not found or access denied.\r\n");
    client.exchange("DELE d/moved.bin\r\n", "250 Requested file action completed.\r\n");
    client.exchange("RMD d\r\n", "250 Requested file action completed.\r\n");
    assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);
}

#[test]
fn an_upload_whose_client_vanishes_leaves_the_old_file_and_no_temporary() {
    let root = temp_dir();
    write_file(root.path(), "t", b"old contents");
    let (server, mut client) = extended_server(root.path(), &["--writable"]);
    let mut data = client.passive();
    client.exchange("STOR t\r\n", OPENING);
    data.write_all(&binary_content(1_000_000)).unwrap();
    // The client is killed: both connections close at once, control first.
    drop(client);
    drop(data);
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::read_dir(root.path()).unwrap().count() > 1 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(200));
    assert_eq!(fs::read(root.path().join("t")).unwrap(), b"old contents");
    let names: Vec<_> = fs::read_dir(root.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["t"]);
    // And the server still serves.
    let mut next = server.connect();
    next.login();
}

#[test]
fn two_clients_uploading_the_same_name_leave_one_whole_file() {
    let root = temp_dir();
    let (server, _) = extended_server(root.path(), &["--writable"]);
    let contents = [vec![b'a'; 4_000_000], vec![b'b'; 3_000_000]];
    let uploads: Vec<_> = contents
        .iter()
        .cloned()
        .map(|content| {
            let mut client = server.connect();
            client.login();
            thread::spawn(move || {
                let mut data = client.passive();
                client.exchange("STOR same\r\n", OPENING);
                for chunk in content.chunks(64 * 1024) {
                    data.write_all(chunk).unwrap();
                }
                drop(data);
                client.expect(COMPLETE);
            })
        })
        .collect();
    for upload in uploads {
        upload.join().unwrap();
    }
    let got = fs::read(root.path().join("same")).unwrap();
    assert!(got == contents[0] || got == contents[1], "a mix of {} bytes", got.len());
    assert_eq!(fs::read_dir(root.path()).unwrap().count(), 1);
}

#[test]
fn append_and_restart_continue_files() {
    let root = temp_dir();
    write_file(root.path(), "log", b"abc");
    let (_server, mut client) = extended_server(root.path(), &["--writable"]);
    let mut data = client.passive();
    client.exchange("APPE log\r\n", OPENING);
    data.write_all(b"def").unwrap();
    drop(data);
    client.expect(COMPLETE);
    assert_eq!(fs::read(root.path().join("log")).unwrap(), b"abcdef");
    client.exchange("REST 4\r\n", "350 Restarting at 4. Send STOR or RETR to continue.\r\n");
    let data = client.passive();
    client.exchange("RETR log\r\n", OPENING);
    assert_eq!(read_all(data), b"ef");
    client.expect(COMPLETE);
}

#[test]
fn a_required_login_delays_failures_masks_passwords_and_closes_after_three() {
    let root = temp_dir();
    let server = Server::start(root.path(), &["--extended", "--user", "alice", "--password", "s3cret"]);
    let mut client = server.connect();
    for attempt in 1..=3 {
        client.exchange("USER alice\r\n", "331 User name okay, need password.\r\n");
        let started = Instant::now();
        client.exchange("PASS wrong\r\n", "530 Login incorrect.\r\n");
        assert!(started.elapsed() >= Duration::from_millis(900), "attempt {attempt} was not delayed");
    }
    assert!(client.is_closed(), "the connection closes after the third failure");
    let mut good = server.connect();
    good.exchange("USER alice\r\n", "331 User name okay, need password.\r\n");
    good.exchange("PASS s3cret\r\n", "230 User logged in.\r\n");
    let transcript = String::from_utf8_lossy(&server.wait_for_transcript_end(b"230 User logged in.\r\n")).into_owned();
    assert!(!transcript.contains("s3cret") && !transcript.contains("wrong"), "{transcript}");
    assert!(transcript.contains("PASS ****\r\n"));
}

#[test]
fn an_over_long_password_line_is_not_echoed_when_a_login_is_required() {
    let root = temp_dir();
    let server = Server::start(root.path(), &["--extended", "--user", "alice", "--password", "pw"]);
    let mut client = server.connect();
    client.exchange("USER alice\r\n", "331 User name okay, need password.\r\n");
    let secret = "s".repeat(10_000);
    client.exchange(&format!("PASS {secret}\r\n"), "500 Syntax error, command unrecognized.\r\n");
    let transcript =
        String::from_utf8_lossy(&server.wait_for_transcript_end(b"500 Syntax error, command unrecognized.\r\n"))
            .into_owned();
    assert!(!transcript.contains("sssss"), "the password reached the transcript");
}

#[test]
fn the_password_may_come_from_the_environment() {
    let root = temp_dir();
    let mut command = minftp(root.path());
    command
        .args(["serve", "0", "--bind", "127.0.0.1", "--extended", "--user", "bob"])
        .env("MINFTP_PASSWORD", "from-env");
    let server = Server::spawn(command, root.path());
    let mut client = server.connect();
    client.exchange("USER bob\r\n", "331 User name okay, need password.\r\n");
    client.exchange("PASS from-env\r\n", "230 User logged in.\r\n");
}

#[test]
fn ipv6_control_and_data_connections_work() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: this machine has no IPv6 loopback (::1)");
        return;
    }
    let root = temp_dir();
    write_file(root.path(), "six", b"over ipv6");
    let server = Server::start_on("::1", root.path(), &["--extended"]);
    let mut client = server.connect();
    client.login();
    client.exchange("PASV\r\n", "522 Network protocol not supported, use (1,2).\r\n");
    client.send(b"EPSV\r\n");
    let reply = String::from_utf8(client.read_line()).unwrap();
    let port: u16 = reply.rsplit("|||").next().unwrap().trim_end().trim_end_matches("|).").parse().unwrap();
    let data = TcpStream::connect(("::1", port)).unwrap();
    client.exchange("RETR six\r\n", OPENING);
    assert_eq!(read_all(data), b"over ipv6");
    client.expect(COMPLETE);
    // Active mode over IPv6 with EPRT.
    let listener = std::net::TcpListener::bind("[::1]:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    client.exchange(&format!("EPRT |2|::1|{port}|\r\n"), "200 EPRT command successful.\r\n");
    client.exchange("RETR six\r\n", OPENING);
    let (stream, _) = listener.accept().unwrap();
    assert_eq!(read_all(stream), b"over ipv6");
    client.expect(COMPLETE);
}

#[test]
fn lab_preset_serves_a_created_server_folder_writably() {
    let dir = temp_dir();
    let mut command = minftp(dir.path());
    command.args(["serve", "0", "--bind", "127.0.0.1", "--lab"]);
    let server = Server::spawn(command, &dir.path().join("server"));
    assert!(dir.path().join("server").is_dir(), "server/ is created");
    let mut client = server.connect();
    client.login();
    client.exchange("MKD made\r\n", "257 \"/made\" created.\r\n");
    assert!(dir.path().join("server/made").is_dir());
}

#[test]
fn the_default_dialect_still_refuses_every_extended_verb() {
    let root = temp_dir();
    let server = Server::start(root.path(), &[]);
    let mut client = server.connect();
    client.login();
    for verb in ["PASV", "EPSV", "FEAT", "PWD", "LIST", "MLSD", "SIZE f", "STOR f", "OPTS UTF8 ON"] {
        client.exchange(&format!("{verb}\r\n"), "500 Syntax error, command unrecognized.\r\n");
    }
}
