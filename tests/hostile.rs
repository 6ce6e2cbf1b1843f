//! Hostile clients and injected faults against a running `minftp serve`, both dialects:
//! slow or silent clients, stalled data connections, bounce attempts, junk, files that
//! change while sent, full disks and read-only roots. All traffic stays on 127.0.0.1.

mod common;

use common::*;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const OPENING: &str = "150 File status okay.\r\n";

#[test]
fn a_slowloris_client_is_closed_after_the_idle_timeout_while_others_are_served() {
    let root = temp_dir();
    let server = Server::start(root.path(), &["--idle-timeout", "2"]);
    let mut slow = server.connect();
    // One whole command first, so the timer that restarts after each line is exercised too.
    slow.exchange("NOOP\r\n", "530 Not logged in.\r\n");
    let started = Instant::now();
    let writer = slow.stream.try_clone().unwrap();
    let dribbler = thread::spawn(move || {
        let mut writer = writer;
        // One byte every 300 ms: each byte alone would reset a naive idle timer.
        for byte in b"NOOP NOOP NOOP NOOP NOOP".iter().cycle().take(40) {
            if writer.write_all(&[*byte]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(300));
        }
    });
    let mut other = server.connect();
    other.exchange("NOOP\r\n", "530 Not logged in.\r\n");
    slow.expect("421 Idle timeout, closing control connection.\r\n");
    let closed_after = started.elapsed();
    assert!(closed_after < Duration::from_secs(5), "closed only after {closed_after:?}");
    dribbler.join().unwrap();
    let mut later = server.connect();
    later.exchange("NOOP\r\n", "530 Not logged in.\r\n");
}

#[test]
fn a_client_that_never_reads_the_data_connection_gets_426_and_the_session_is_freed() {
    let root = temp_dir();
    write_file(root.path(), "big", &binary_content(64 << 20));
    let server = Server::start(root.path(), &["--data-timeout", "1"]);
    let mut client = server.connect();
    client.login();
    let data = DataListener::new();
    client.exchange(&data.port_command(), &port_reply(data.port()));
    client.exchange("RETR big\r\n", OPENING);
    let (stalled, _) = data.listener.accept().unwrap();
    let started = Instant::now();
    client.expect("426 Connection closed; transfer aborted.\r\n");
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(stalled);
    client.exchange("NOOP\r\n", "200 Command OK.\r\n");
}

#[test]
fn eprt_and_port_bounces_to_privileged_ports_are_refused() {
    let root = temp_dir();
    write_file(root.path(), "f", b"x");
    let server = Server::start(root.path(), &["--extended"]);
    let mut client = server.connect();
    client.login();
    for (command, ok) in [
        ("EPRT |1|127.0.0.1|21|\r\n", "200 EPRT command successful.\r\n"),
        ("EPRT |1|127.0.0.1|0|\r\n", "200 EPRT command successful.\r\n"),
        ("PORT 127,0,0,1,0,25\r\n", "200 Port command successful (127.0.0.1,25).\r\n"),
    ] {
        client.exchange(command, ok);
        client.exchange("RETR f\r\n", OPENING);
        client.expect("425 Can not open data connection.\r\n");
    }
}

#[test]
fn traversal_attempts_in_the_extended_dialect_stay_inside_the_root() {
    let outer = temp_dir();
    let root = outer.path().join("root");
    write_file(&root, "inside", b"in");
    write_file(outer.path(), "secret", b"secret");
    std::os::unix::fs::symlink(outer.path(), root.join("out")).unwrap();
    let server = Server::start(&root, &["--extended"]);
    let mut client = server.connect();
    client.login();
    for path in ["../secret", "/../secret", "..\\secret", "%2e%2e/secret", "out/secret", "/etc/passwd", "inside\0x"] {
        client.send(format!("SIZE {path}\r\n").as_bytes());
        client.expect("550 File not found or access denied.\r\n");
        client.send(format!("CWD {path}\r\n").as_bytes());
        client.expect("550 File not found or access denied.\r\n");
    }
    client.exchange("CWD out\r\n", "550 File not found or access denied.\r\n");
    client.exchange("SIZE /../inside\r\n", "213 2\r\n");
}

#[test]
fn binary_junk_gets_replies_and_the_server_keeps_serving() {
    let root = temp_dir();
    for extra in [&[][..], &["--extended"]] {
        let server = Server::start(root.path(), extra);
        let mut client = server.connect();
        let mut junk = binary_content(200_000);
        junk.retain(|&b| b != b'\n');
        for chunk in junk.chunks(1000) {
            client.send(chunk);
            client.send(b"\r\n");
        }
        for _ in junk.chunks(1000) {
            let reply = client.read_line();
            assert!(reply.starts_with(b"500 ") || reply.starts_with(b"501 "), "{}", show(&reply));
        }
        client.exchange("NOOP\r\n", "530 Not logged in.\r\n");
        let mut other = server.connect();
        other.exchange("NOOP\r\n", "530 Not logged in.\r\n");
    }
}

#[test]
fn a_file_truncated_while_it_is_sent_ends_with_an_error_reply() {
    let root = temp_dir();
    write_file(root.path(), "shrinking", &binary_content(64 << 20));
    let server = Server::start(root.path(), &[]);
    let mut client = server.connect();
    client.login();
    let data = DataListener::new();
    client.exchange(&data.port_command(), &port_reply(data.port()));
    client.exchange("RETR shrinking\r\n", OPENING);
    let (mut stream, _) = data.listener.accept().unwrap();
    let mut first = vec![0u8; 1 << 20];
    stream.read_exact(&mut first).unwrap();
    fs::OpenOptions::new().write(true).open(root.path().join("shrinking")).unwrap().set_len(2 << 20).unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    client.expect("451 Requested action aborted: local error in processing.\r\n");
    assert!(first.len() + rest.len() < 64 << 20);
    client.exchange("NOOP\r\n", "200 Command OK.\r\n");
}

#[test]
fn a_file_size_limit_is_answered_552_and_leaves_no_partial_file() {
    let root = temp_dir();
    write_file(root.path(), "target", b"old");
    // `ulimit -f 1024`: no file may grow past 1 MiB (bash counts in KiB).
    let command =
        format!("ulimit -f 1024 && exec {} serve 0 --bind 127.0.0.1 --root {} --writable", BIN, root.path().display());
    let mut child =
        Command::new("bash").args(["-c", &command]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut first = String::new();
    // The server's stderr is closed after its first line on purpose: its diagnostics about
    // the failed write must not take the session down (eprintln! would panic).
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stderr.take().unwrap()), &mut first).unwrap();
    let addr: std::net::SocketAddr = first.rsplit(" on ").next().unwrap().trim().parse().unwrap();
    let mut client = RawClient::connect(addr);
    client.expect("220 minftp FTP server ready.\r\n");
    client.login();
    let mut data = client.passive();
    client.exchange("STOR target\r\n", OPENING);
    let _ = data.write_all(&binary_content(3 << 20));
    drop(data);
    client.expect("552 Requested file action aborted. Exceeded storage allocation.\r\n");
    client.exchange("NOOP\r\n", "200 Command OK.\r\n");
    assert_eq!(fs::read(root.path().join("target")).unwrap(), b"old");
    assert_eq!(fs::read_dir(root.path()).unwrap().count(), 1, "no temporary file is left");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A tmpfs of `size` mounted on `dir`, unmounted when dropped; `None` (with a printed reason)
/// where this machine does not allow mounting.
struct TmpFs(std::path::PathBuf);

impl TmpFs {
    fn mount(dir: &Path, size: &str) -> Option<TmpFs> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        }
        ok.then(|| TmpFs(dir.to_path_buf()))
    }

    fn remount_read_only(&self) {
        let status = Command::new("mount").args(["-o", "remount,ro"]).arg(&self.0).status().unwrap();
        assert!(status.success());
    }
}

impl Drop for TmpFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_answered_552_and_leaves_the_old_file() {
    let dir = temp_dir();
    let Some(_disk) = TmpFs::mount(dir.path(), "2m") else { return };
    write_file(dir.path(), "target", b"old");
    let server = Server::start(dir.path(), &["--writable"]);
    let mut client = server.connect();
    client.login();
    let mut data = client.passive();
    client.exchange("STOR target\r\n", OPENING);
    let _ = data.write_all(&binary_content(4 << 20));
    drop(data);
    client.expect("552 Requested file action aborted. Exceeded storage allocation.\r\n");
    assert_eq!(fs::read(dir.path().join("target")).unwrap(), b"old");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    drop(server);
}

#[test]
fn a_root_made_read_only_refuses_uploads_without_crashing() {
    let dir = temp_dir();
    let Some(disk) = TmpFs::mount(dir.path(), "4m") else { return };
    write_file(dir.path(), "target", b"old");
    let server = Server::start(dir.path(), &["--writable"]);
    let mut client = server.connect();
    client.login();
    disk.remount_read_only();
    let _data = client.passive();
    client.send(b"STOR target\r\n");
    let reply = client.read_line();
    assert!(reply.starts_with(b"550 ") || reply.starts_with(b"553 "), "{}", show(&reply));
    client.exchange("MKD d\r\n", "550 File not found or access denied.\r\n");
    client.exchange("NOOP\r\n", "200 Command OK.\r\n");
    assert_eq!(fs::read(dir.path().join("target")).unwrap(), b"old");
    drop(server);
}

#[test]
fn a_client_whose_retr_files_folder_is_unwritable_says_so_and_goes_on() {
    let root = temp_dir();
    let work = temp_dir();
    write_file(root.path(), "f", b"x");
    write_file(work.path(), "retr_files", b"a file where the folder should be");
    let server = Server::start(root.path(), &[]);
    let input = format!("CONNECT localhost {}\nGET f\nGET f\nQUIT\n", server.port());
    let data_port = free_data_port().to_string();
    let out = run_with_input(work.path(), &["client", &data_port, "--data-ip", "127.0.0.1"], input.as_bytes());
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("FTP reply 250 accepted").count(), 2, "{stdout}");
    assert!(
        stdout.ends_with("QUIT accepted, terminating FTP client\nQUIT\nFTP reply 221 accepted. Text is: Goodbye.\n")
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot write retr_files/file1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn killing_a_client_mid_retr_and_mid_stor_leaves_the_server_serving() {
    let root = temp_dir();
    write_file(root.path(), "big", &binary_content(32 << 20));
    write_file(root.path(), "keep", b"keep");
    let server = Server::start(root.path(), &["--writable"]);
    let mut reader = server.connect();
    reader.login();
    let data = reader.passive();
    reader.exchange("RETR big\r\n", OPENING);
    let mut writer = server.connect();
    writer.login();
    let mut upload = writer.passive();
    writer.exchange("STOR keep\r\n", OPENING);
    upload.write_all(b"half").unwrap();
    // Both clients die at once, mid-transfer.
    drop((reader, data, writer, upload));
    let mut next = server.connect();
    next.login();
    let mut data = next.passive();
    next.exchange("RETR keep\r\n", OPENING);
    let mut kept = Vec::new();
    data.read_to_end(&mut kept).unwrap();
    next.expect("226 Transfer complete.\r\n");
    assert_eq!(kept, b"keep");
    let deadline = Instant::now() + Duration::from_secs(5);
    while fs::read_dir(root.path()).unwrap().count() != 2 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(fs::read_dir(root.path()).unwrap().count(), 2, "no temporary file is left");
}
