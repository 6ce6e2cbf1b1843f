//! `minftp get`, `minftp put` and `minftp client --lab` against minftp in both dialects and
//! against real peer servers (pyftpdlib, vsftpd) started on 127.0.0.1; the temporary-file
//! rule; progress output.

mod common;

use common::peers::*;
use common::*;
use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

#[test]
fn get_and_put_against_a_writable_minftp_in_passive_mode() {
    let root = temp_dir();
    let work = temp_dir();
    let content = binary_content(7_000_000);
    write_file(root.path(), "dir/big.bin", &content);
    let server = Server::start(root.path(), &["--writable"]);
    let addr = format!("127.0.0.1:{}", server.port());
    let out = minftp_run(work.path(), &["get", &addr, "dir/big.bin"]);
    assert_ok(&out);
    assert!(fs::read(work.path().join("big.bin")).unwrap() == content);
    assert!(stderr_of(&out).starts_with("saved big.bin: 6.68 MiB in "), "{}", stderr_of(&out));

    let out = minftp_run(work.path(), &["put", &addr, "big.bin", "dir/copy.bin"]);
    assert_ok(&out);
    assert!(fs::read(root.path().join("dir/copy.bin")).unwrap() == content);
    let transcript = String::from_utf8_lossy(&server.transcript()).into_owned();
    assert!(transcript.contains("EPSV\r\n229 ") && !transcript.contains("PORT "), "passive only:\n{transcript}");
}

#[test]
fn get_falls_back_to_active_mode_against_a_comp431_server() {
    let root = temp_dir();
    let work = temp_dir();
    let content = binary_content(1_000_000);
    write_file(root.path(), "f.bin", &content);
    let server = Server::start(root.path(), &[]);
    let out = minftp_run(work.path(), &["get", &format!("127.0.0.1:{}", server.port()), "f.bin", "-o", "local.bin"]);
    assert_ok(&out);
    assert!(fs::read(work.path().join("local.bin")).unwrap() == content);
    let transcript = String::from_utf8_lossy(&server.transcript()).into_owned();
    assert!(transcript.contains("EPSV\r\n500 ") && transcript.contains("PORT 127,0,0,1,"), "{transcript}");
}

#[test]
fn put_to_a_server_refusing_uploads_says_how_to_allow_them() {
    let root = temp_dir();
    let work = temp_dir();
    write_file(work.path(), "f", b"data");
    for extra in [&[][..], &["--extended"]] {
        let server = Server::start(root.path(), extra);
        let out = minftp_run(work.path(), &["put", &format!("127.0.0.1:{}", server.port()), "f"]);
        assert_eq!(out.status.code(), Some(1));
        let err = stderr_of(&out);
        assert!(err.contains("minftp serve --writable") && (err.contains(": 500 ") || err.contains(": 550 ")), "{err}");
        assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    }
    assert!(entries(root.path()).is_empty());
}

#[test]
fn a_missing_remote_file_fails_with_the_server_reply_and_leaves_no_file() {
    let root = temp_dir();
    let work = temp_dir();
    let server = Server::start(root.path(), &["--extended"]);
    fs::write(work.path().join("nope.txt"), b"keep me").unwrap();
    let out = minftp_run(work.path(), &["get", &format!("127.0.0.1:{}", server.port()), "nope.txt"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("550 File not found or access denied."), "{}", stderr_of(&out));
    assert_eq!(fs::read(work.path().join("nope.txt")).unwrap(), b"keep me", "the existing target survives");
    assert_eq!(entries(work.path()), ["nope.txt"]);
}

#[test]
fn put_of_a_missing_local_file_fails_before_connecting() {
    let work = temp_dir();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let out = minftp_run(
        work.path(),
        &["put", &format!("127.0.0.1:{}", listener.local_addr().unwrap().port()), "missing.bin"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("cannot read missing.bin"), "{}", stderr_of(&out));
    assert!(listener.accept().is_err(), "no connection was made");
}

#[test]
fn a_url_names_server_path_and_login_and_dash_writes_to_stdout() {
    let root = temp_dir();
    let work = temp_dir();
    write_file(root.path(), "my file.txt", b"through a url");
    let server = Server::start(root.path(), &["--extended", "--user", "alice", "--password", "pw"]);
    let url = format!("ftp://alice:pw@127.0.0.1:{}/my%20file.txt", server.port());
    let out = minftp_run(work.path(), &["get", &url, "-o", "-", "-q"]);
    assert_ok(&out);
    assert_eq!(out.stdout, b"through a url");
    assert!(out.stderr.is_empty(), "-q prints nothing: {}", stderr_of(&out));
    assert!(entries(work.path()).is_empty());
    // Issue 14: the summary of -o - does not claim that anything was saved.
    let out = minftp_run(work.path(), &["get", &url, "-o", "-"]);
    assert_ok(&out);
    assert!(stderr_of(&out).starts_with("wrote to standard output my file.txt: 13 B in "), "{}", stderr_of(&out));
}

#[test]
fn progress_bar_is_drawn_only_on_a_terminal_or_when_forced() {
    let root = temp_dir();
    let work = temp_dir();
    write_file(root.path(), "f.bin", &binary_content(30_000_000));
    let server = Server::start(root.path(), &["--extended"]);
    let addr = format!("127.0.0.1:{}", server.port());
    let plain = minftp_run(work.path(), &["get", &addr, "f.bin"]);
    assert_ok(&plain);
    let err = stderr_of(&plain);
    assert_eq!(err.lines().count(), 1, "only the summary line: {err:?}");
    assert!(!err.contains('\x1b'));

    let mut command = minftp(work.path());
    command.args(["get", &addr, "f.bin", "-o", "again.bin"]).env("MINFTP_FORCE_PROGRESS", "1");
    let forced =
        wait_bounded(command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap(), Duration::from_secs(60));
    assert_ok(&forced);
    let err = stderr_of(&forced);
    assert!(err.contains("again.bin [") && err.contains("MiB"), "a bar with bytes: {err:?}");
    assert!(err.trim_end().rsplit(['\n', '\r']).next().unwrap().contains("saved again.bin: 28.61 MiB"), "{err:?}");
}

#[test]
fn a_server_dying_mid_download_leaves_no_file_and_keeps_the_old_one() {
    let work = temp_dir();
    let (port, server) = dying_server(1_000_000, 300_000);
    let out = minftp_run(work.path(), &["get", &format!("127.0.0.1:{port}"), "f.bin", "--retry", "0"]);
    server.join().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(entries(work.path()).is_empty(), "left behind: {:?}", entries(work.path()));

    fs::write(work.path().join("f.bin"), b"old").unwrap();
    let (port, server) = dying_server(1_000_000, 300_000);
    let out = minftp_run(work.path(), &["get", &format!("127.0.0.1:{port}"), "f.bin", "--retry", "0"]);
    server.join().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(fs::read(work.path().join("f.bin")).unwrap(), b"old");
    assert_eq!(entries(work.path()), ["f.bin"]);
}

#[test]
fn lab_session_opens_puts_gets_closes_and_reopens() {
    let dir = temp_dir();
    let server_dir = dir.path().join("server");
    fs::create_dir(&server_dir).unwrap();
    let binary = binary_content(2_500_000);
    write_file(&server_dir, "from server.bin", &binary);
    write_file(dir.path(), "client/my notes.txt", b"notes with spaces in the name\n");
    let server = Server::start(&server_dir, &["--writable"]);
    let port = server.port();
    let script = format!(
        "OPEN {port}\nPUT my notes.txt\nget from server.bin\nGET missing.txt\nPUT not-here.txt\nCLOSE\nGET late.txt\n\
         open 127.0.0.1 {port}\nHELP\nQUIT\nGET never.txt\n"
    );
    let out = run_with_input(dir.path(), &["client", "--lab"], script.as_bytes());
    // Changed with issue 14: errors go to standard error, and a session in which a command
    // failed exits with status 1 (they went to standard output, with status 0).
    assert_eq!(out.status.code(), Some(1), "a command failed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("connected to 127.0.0.1 port {port}"));
    assert!(lines[1].starts_with("uploaded my notes.txt: 30 B in "), "{text}");
    assert!(lines[2].starts_with("downloaded from server.bin: 2.38 MiB in "), "{text}");
    assert_eq!(lines[3], "connection closed");
    assert_eq!(lines[4], format!("connected to 127.0.0.1 port {port}"));
    assert!(lines[5].starts_with("commands (any case):"), "{text}");
    assert_eq!(&lines[lines.len() - 2..], ["connection closed", "bye"], "{text}");
    let errors = stderr_of(&out);
    let errors: Vec<&str> = errors.lines().collect();
    assert!(
        errors[0].starts_with("error: cannot download \"missing.txt\"")
            && errors[0].ends_with("550 File not found or access denied."),
        "{errors:?}"
    );
    assert!(errors[1].starts_with("error: cannot read \"") && errors[1].contains("not-here.txt\""), "{errors:?}");
    assert_eq!(errors[2], "error: not connected; use OPEN PORT first");
    assert!(!text.contains("never.txt"), "nothing is read after QUIT");
    assert_eq!(fs::read(server_dir.join("my notes.txt")).unwrap(), b"notes with spaces in the name\n");
    assert!(fs::read(dir.path().join("client/from server.bin")).unwrap() == binary);
    assert_eq!(entries(&dir.path().join("client")), ["from server.bin", "my notes.txt"]);
}

#[test]
fn lab_session_survives_a_refused_connection_and_a_vanished_server() {
    let dir = temp_dir();
    let refused = RefusedPort::new();
    let dead_port = refused.port;
    let (port, server) = dying_server(10, 5);
    let script = format!("OPEN {dead_port}\nOPEN {port}\nGET f\nGET f\nQUIT\n");
    let out = run_with_input(dir.path(), &["client", "--lab", "--dir", "mine"], script.as_bytes());
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(text.lines().next().unwrap(), format!("connected to 127.0.0.1 port {port}"));
    let errors = stderr_of(&out);
    let errors: Vec<&str> = errors.lines().collect();
    // Said once: "cannot connect to 127.0.0.1 port N" used to repeat itself.
    assert_eq!(errors[0].matches("cannot connect to").count(), 1, "{errors:?}");
    assert!(errors[0].starts_with(&format!("error: cannot connect to 127.0.0.1 port {dead_port}")), "{errors:?}");
    assert!(errors[1].ends_with("(the connection is closed; OPEN again)"), "{errors:?}");
    assert_eq!(errors[2], "error: not connected; use OPEN PORT first");
    assert!(dir.path().join("mine").is_dir() && entries(&dir.path().join("mine")).is_empty());
}

#[test]
fn lab_client_opens_the_port_given_at_start_and_a_failed_open_keeps_the_connection() {
    let dir = temp_dir();
    let server_dir = dir.path().join("server");
    write_file(&server_dir, "f.txt", b"kept");
    let server = Server::start(&server_dir, &["--lab"]);
    let refused = RefusedPort::new();
    let dead_port = refused.port;
    let port = server.port().to_string();
    let out =
        run_with_input(dir.path(), &["client", "--lab", &port], format!("OPEN {dead_port}\nGET f.txt\n").as_bytes());
    assert_eq!(out.status.code(), Some(1), "the OPEN failed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.starts_with(&format!("connected to 127.0.0.1 port {port}\n")), "{text}");
    assert!(text.contains("downloaded f.txt"), "the first connection was kept: {text}");
    let errors = stderr_of(&out);
    assert!(errors.contains(&format!("; still connected to 127.0.0.1 port {port}")), "{errors}");
    assert_eq!(fs::read(dir.path().join("client/f.txt")).unwrap(), b"kept");
    let server_says = server.wait_for_stderr("disconnected");
    assert!(
        server_says.contains("connected from 127.0.0.1:") && server_says.contains("disconnected (session 1)"),
        "{server_says}"
    );
}

fn get_and_put_against_peer(root: &Path, peer: &Peer, upload_name: &str) {
    let work = temp_dir();
    let addr = format!("127.0.0.1:{}", peer.port);
    let out = minftp_run(work.path(), &["get", &addr, "served.bin"]);
    assert_ok(&out);
    assert!(fs::read(work.path().join("served.bin")).unwrap() == fs::read(root.join("served.bin")).unwrap());
    let upload = binary_content(1_500_001);
    fs::write(work.path().join("up.bin"), &upload).unwrap();
    let out = minftp_run(work.path(), &["put", &addr, "up.bin", upload_name]);
    assert_ok(&out);
    assert!(fs::read(root.join(upload_name)).unwrap() == upload);
}

#[test]
fn get_and_put_work_against_pyftpdlib() {
    let root = temp_dir();
    write_file(root.path(), "served.bin", &binary_content(3_000_000));
    let Some(peer) = pyftpdlib(root.path()) else { return };
    get_and_put_against_peer(root.path(), &peer, "uploaded.bin");
}

#[test]
fn get_and_put_work_against_vsftpd() {
    let dir = temp_dir();
    let root = dir.path().join("root");
    write_file(&root, "served.bin", &binary_content(3_000_000));
    fs::create_dir(root.join("upload")).unwrap();
    let Some(peer) = vsftpd(&root, dir.path()) else { return };
    get_and_put_against_peer(&root, &peer, "upload/uploaded.bin");
}
