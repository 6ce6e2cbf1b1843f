//! The write policy as users meet it (issue 10): where `get` saves (FIFOs, devices made
//! here, symlinks, modes, folders), no leftovers after SIGINT/SIGTERM in every mode,
//! resuming with `--continue` against minftp, pyftpdlib and vsftpd, and `--retry`.

mod common;

use common::peers::*;
use common::*;
use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{FileTypeExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

fn temporaries(dir: &Path) -> Vec<String> {
    entries(dir).into_iter().filter(|n| n.starts_with(".minftp-part-")).collect()
}

fn c_path(path: &Path) -> std::ffi::CString {
    std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap()
}

/// A minftp server for real clients, serving `files` from a fresh folder.
fn server_with(files: &[(&str, &[u8])]) -> (tempfile::TempDir, Server, String) {
    let root = temp_dir();
    for (name, content) in files {
        write_file(root.path(), name, content);
    }
    let server = Server::start(root.path(), &["--writable"]);
    let addr = format!("127.0.0.1:{}", server.port());
    (root, server, addr)
}

#[test]
fn get_into_a_fifo_writes_through_it_without_temporary_or_rename() {
    let content = binary_content(300_000);
    let (_root, _server, addr) = server_with(&[("f.bin", &content)]);
    let work = temp_dir();
    let fifo = work.path().join("fifo");
    // SAFETY: mkfifo with a valid NUL-terminated path inside the test's own folder.
    assert_eq!(unsafe { libc::mkfifo(c_path(&fifo).as_ptr(), 0o644) }, 0);
    let reader = thread::spawn({
        let fifo = fifo.clone();
        move || fs::read(fifo).unwrap()
    });
    assert_ok(&minftp_run(work.path(), &["get", &addr, "f.bin", "-o", "fifo"]));
    assert!(reader.join().unwrap() == content);
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO is still a FIFO");
    assert_eq!(entries(work.path()), ["fifo"]);
}

#[test]
fn get_into_a_character_device_made_by_the_test_writes_into_it() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: making a device node (mknod) needs root");
        return;
    }
    let (_root, _server, addr) = server_with(&[("f.bin", &binary_content(200_000))]);
    let work = temp_dir();
    let device = work.path().join("null");
    // The null device's numbers (1, 3), as a node inside the test's own folder.
    // SAFETY: mknod with a valid NUL-terminated path inside the test's own folder.
    let made = unsafe { libc::mknod(c_path(&device).as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    if made != 0 {
        eprintln!("skipped: this container does not allow mknod ({})", std::io::Error::last_os_error());
        return;
    }
    assert_ok(&minftp_run(work.path(), &["get", &addr, "f.bin", "-o", "null"]));
    assert!(fs::symlink_metadata(&device).unwrap().file_type().is_char_device(), "the device was replaced");
    assert_eq!(entries(work.path()), ["null"]);
}

#[test]
fn get_through_a_symlink_replaces_the_file_it_points_to_and_keeps_the_link() {
    let (_root, _server, addr) = server_with(&[("f.bin", b"new contents")]);
    let work = temp_dir();
    write_file(work.path(), "real/target.bin", b"old");
    symlink("real/target.bin", work.path().join("link.bin")).unwrap();
    assert_ok(&minftp_run(work.path(), &["get", &addr, "f.bin", "-o", "link.bin"]));
    assert!(fs::symlink_metadata(work.path().join("link.bin")).unwrap().file_type().is_symlink());
    assert_eq!(fs::read(work.path().join("real/target.bin")).unwrap(), b"new contents");
    assert_eq!(entries(&work.path().join("real")), ["target.bin"]);
}

#[test]
fn get_over_a_0600_file_keeps_its_mode() {
    let (_root, _server, addr) = server_with(&[("f.bin", b"new")]);
    let work = temp_dir();
    write_file(work.path(), "f.bin", b"old");
    fs::set_permissions(work.path().join("f.bin"), fs::Permissions::from_mode(0o600)).unwrap();
    assert_ok(&minftp_run(work.path(), &["get", &addr, "f.bin"]));
    assert_eq!(fs::read(work.path().join("f.bin")).unwrap(), b"new");
    assert_eq!(fs::metadata(work.path().join("f.bin")).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn get_into_a_folder_saves_inside_it_under_the_remote_name() {
    let (_root, _server, addr) = server_with(&[("sub/f.bin", b"in a folder")]);
    let work = temp_dir();
    fs::create_dir(work.path().join("downloads")).unwrap();
    assert_ok(&minftp_run(work.path(), &["get", &addr, "sub/f.bin", "-o", "downloads"]));
    assert_eq!(fs::read(work.path().join("downloads/f.bin")).unwrap(), b"in a folder");
    // A folder named like the default local name receives the file too, as with cp.
    fs::create_dir(work.path().join("f.bin")).unwrap();
    assert_ok(&minftp_run(work.path(), &["get", &addr, "sub/f.bin"]));
    assert_eq!(fs::read(work.path().join("f.bin/f.bin")).unwrap(), b"in a folder");
}

#[test]
fn a_download_removes_what_killed_minftp_clients_left_in_its_folder_only() {
    let (_root, _server, addr) = server_with(&[("f.bin", b"fresh")]);
    let work = temp_dir();
    let outside = temp_dir();
    write_file(outside.path(), "kept.bin", b"not minftp's");
    // A process above pid_max never ran; PID 1 always runs.
    let dead = format!(".minftp-part-{}-0", i32::MAX);
    write_file(work.path(), &dead, b"left by a SIGKILL");
    write_file(work.path(), ".minftp-part-1-0", b"a running minftp's");
    write_file(work.path(), &format!("sub/.minftp-part-{}-1", i32::MAX), b"below: not looked at");
    symlink(outside.path().join("kept.bin"), work.path().join(format!(".minftp-part-{}-2", i32::MAX))).unwrap();
    let out = minftp_run(work.path(), &["get", &addr, "f.bin"]);
    assert_ok(&out);
    assert!(
        stderr_of(&out).contains("removed 1 unfinished download(s) left in . by a stopped minftp"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(fs::read(work.path().join("f.bin")).unwrap(), b"fresh");
    let mut left = entries(work.path());
    left.sort();
    let link = format!(".minftp-part-{}-2", i32::MAX);
    assert_eq!(left, [".minftp-part-1-0", link.as_str(), "f.bin", "sub"]);
    assert_eq!(entries(&work.path().join("sub")).len(), 1);
    assert_eq!(fs::read(outside.path().join("kept.bin")).unwrap(), b"not minftp's");
}

#[test]
fn a_bad_destination_and_no_clobber_fail_before_connecting() {
    let work = temp_dir();
    write_file(work.path(), "exists.bin", b"keep");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let started = Instant::now();
    let out = minftp_run(work.path(), &["get", &addr, "f.bin", "-o", "no-such-folder/f.bin"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("cannot write no-such-folder/f.bin"), "{}", stderr_of(&out));
    let out = minftp_run(work.path(), &["get", &addr, "exists.bin", "-n"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("exists.bin exists; not overwritten"), "{}", stderr_of(&out));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(listener.accept().is_err(), "no connection was made");
    assert_eq!(fs::read(work.path().join("exists.bin")).unwrap(), b"keep");
}

/// Starts `minftp ARGS` in `dir` with piped standard streams.
fn spawn(dir: &Path, args: &[&str]) -> Child {
    minftp(dir).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

/// Waits up to 10 s for `condition`.
fn wait_for(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

fn signal(child: &Child, signal: libc::c_int) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
}

/// A fake server that sends `size` bytes slowly (about 3 s for 4 MiB), for one session.
fn slow_server(size: usize) -> (u16, thread::JoinHandle<Vec<UploadEnd>>) {
    fake_server(slow_fake(size))
}

fn slow_fake(size: usize) -> Fake {
    Fake { pace: Duration::from_millis(50), ..Fake::serving(binary_content(size), 1) }
}

#[test]
fn sigint_and_sigterm_during_get_remove_the_temporary_and_exit_128_plus_the_signal() {
    for (sig, status) in [(libc::SIGINT, 130), (libc::SIGTERM, 143), (libc::SIGHUP, 129)] {
        let work = temp_dir();
        let (port, server) = slow_server(4 << 20);
        let child = spawn(work.path(), &["get", &format!("127.0.0.1:{port}"), "f.bin"]);
        wait_for("the download to start", || !temporaries(work.path()).is_empty());
        signal(&child, sig);
        let out = wait_bounded(child, Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(status), "stderr: {}", stderr_of(&out));
        assert!(entries(work.path()).is_empty(), "left behind: {:?}", entries(work.path()));
        drop(server);
    }
}

#[test]
fn sigint_during_put_resets_the_upload_so_the_server_can_discard_it() {
    let work = temp_dir();
    write_file(work.path(), "up.bin", &binary_content(8 << 20));
    let (port, server) = slow_server(0);
    let child = spawn(work.path(), &["put", &format!("127.0.0.1:{port}"), "up.bin"]);
    thread::sleep(Duration::from_millis(700));
    signal(&child, libc::SIGINT);
    let out = wait_bounded(child, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(130), "stderr: {}", stderr_of(&out));
    let uploads = server.join().unwrap();
    assert!(
        matches!(uploads[..], [UploadEnd::Reset(_)]),
        "the upload must end in a reset, not a clean close: {uploads:?}"
    );
}

/// A lab client in `dir` that opened 127.0.0.1 `port` and began `GET f.bin`: returned once
/// the download's file exists, with the client's standard input (still open) and folder.
fn lab_get_started(dir: &Path, port: u16) -> (Child, std::process::ChildStdin, PathBuf) {
    let mut child = spawn(dir, &["client", "--lab"]);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("OPEN {port}\nGET f.bin\n").as_bytes()).unwrap();
    let client_dir = dir.join("client");
    wait_for("the lab download's file", || client_dir.is_dir() && !temporaries(&client_dir).is_empty());
    (child, stdin, client_dir)
}

#[test]
fn sigint_during_a_lab_get_aborts_the_transfer_and_returns_to_the_prompt() {
    let dir = temp_dir();
    let (port, _server) = slow_server(4 << 20);
    let (child, mut stdin, client_dir) = lab_get_started(dir.path(), port);
    signal(&child, libc::SIGINT);
    thread::sleep(Duration::from_millis(300));
    stdin.write_all(b"QUIT\n").unwrap();
    drop(stdin);
    let out = wait_bounded(child, Duration::from_secs(15));
    // The interrupted GET is a command that did not succeed: exit status 1 (issue 14).
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stderr_of(&out).contains("interrupted; nothing was saved"), "{}", stderr_of(&out));
    assert!(text.trim_end().ends_with("bye"), "the session went on to QUIT: {text}");
    assert!(entries(&client_dir).is_empty(), "left behind: {:?}", entries(&client_dir));
}

/// A fake serving one session that answers `verb` only after `pause` (it runs on, detached);
/// returns its port and the offsets of the RETRs it served.
fn server_slow_to_answer(verb: &'static str, pause: Duration) -> (u16, Arc<Mutex<Vec<usize>>>) {
    // 4 MiB at 64 KiB every 50 ms: 3.2 s for a download that is not stopped.
    let fake = Fake { slow_reply: Some((verb, pause)), ..slow_fake(4 << 20) };
    let retrs = fake.retr_offsets.clone();
    (fake_server(fake).0, retrs)
}

#[test]
fn sigint_while_a_lab_get_waits_for_a_reply_aborts_only_that_get() {
    // Silent after EPSV (RETR is never sent), or after RETR (its data connection is reset
    // as soon as it opens).
    for (slow, retrs_sent) in [("EPSV", 0), ("RETR", 1)] {
        let dir = temp_dir();
        let (port, retrs) = server_slow_to_answer(slow, Duration::from_millis(1500));
        // The file is made before EPSV is sent; the server is silent for 1.5 s after `slow`.
        let (child, mut stdin, client_dir) = lab_get_started(dir.path(), port);
        thread::sleep(Duration::from_millis(200));
        signal(&child, libc::SIGINT);
        let interrupted = Instant::now();
        thread::sleep(Duration::from_millis(300));
        stdin.write_all(b"QUIT\n").expect("the lab client is still there after Ctrl-C");
        drop(stdin);
        let out = wait_bounded(child, Duration::from_secs(15));
        // The server's pause, not the download: the data connection is reset when it opens.
        assert!(interrupted.elapsed() < Duration::from_secs(3), "{slow}: took {:?}", interrupted.elapsed());
        assert_eq!(out.status.code(), Some(1), "{slow}: stderr: {}", stderr_of(&out));
        assert!(stderr_of(&out).contains("interrupted; nothing was saved"), "{slow}: {}", stderr_of(&out));
        assert!(String::from_utf8_lossy(&out.stdout).trim_end().ends_with("bye"), "{slow}");
        assert_eq!(retrs.lock().unwrap().len(), retrs_sent, "{slow}: the RETRs the server served");
        assert!(entries(&client_dir).is_empty(), "{slow}: left behind: {:?}", entries(&client_dir));
    }
}

#[test]
fn a_second_sigint_while_a_lab_get_waits_quits_the_lab() {
    let dir = temp_dir();
    let (port, _) = server_slow_to_answer("EPSV", Duration::from_secs(5));
    let (child, stdin, client_dir) = lab_get_started(dir.path(), port);
    signal(&child, libc::SIGINT);
    thread::sleep(Duration::from_millis(200));
    signal(&child, libc::SIGINT);
    let started = Instant::now();
    let out = wait_bounded(child, Duration::from_secs(15));
    drop(stdin);
    assert_eq!(out.status.code(), Some(130), "stderr: {}", stderr_of(&out));
    assert!(started.elapsed() < Duration::from_secs(3), "quitting took {:?}", started.elapsed());
    assert!(entries(&client_dir).is_empty(), "left behind: {:?}", entries(&client_dir));
}

#[test]
fn sigint_during_a_lab_put_resets_the_upload_and_returns_to_the_prompt() {
    let dir = temp_dir();
    write_file(&dir.path().join("client"), "up.bin", &binary_content(8 << 20));
    let (port, server) = slow_server(0);
    let mut child = spawn(dir.path(), &["client", "--lab"]);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("OPEN {port}\nPUT up.bin\n").as_bytes()).unwrap();
    thread::sleep(Duration::from_millis(700));
    signal(&child, libc::SIGINT);
    thread::sleep(Duration::from_millis(300));
    stdin.write_all(b"QUIT\n").expect("the lab client is still there after Ctrl-C");
    drop(stdin);
    let out = wait_bounded(child, Duration::from_secs(15));
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr_of(&out));
    assert!(stderr_of(&out).contains("interrupted; the upload was reset"), "{}", stderr_of(&out));
    assert!(String::from_utf8_lossy(&out.stdout).trim_end().ends_with("bye"));
    let uploads = server.join().unwrap();
    assert!(matches!(uploads[..], [UploadEnd::Reset(_)]), "the upload must end in a reset: {uploads:?}");
}

#[test]
fn sigint_during_a_comp431_client_get_removes_the_temporary() {
    let work = temp_dir();
    let (port, _server) = slow_server(4 << 20);
    let data_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = spawn(work.path(), &["client", &data_port.to_string(), "--data-ip", "127.0.0.1"]);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("CONNECT localhost {port}\nGET f.bin\n").as_bytes()).unwrap();
    let retr_files = work.path().join("retr_files");
    wait_for("the download to start", || retr_files.is_dir() && !temporaries(&retr_files).is_empty());
    signal(&child, libc::SIGINT);
    let out = wait_bounded(child, Duration::from_secs(10));
    drop(stdin);
    assert_eq!(out.status.code(), Some(130));
    assert!(entries(&retr_files).is_empty(), "left behind: {:?}", entries(&retr_files));
}

#[test]
fn sigint_during_an_upload_stops_the_server_with_426_and_no_temporary() {
    let root = temp_dir();
    write_file(root.path(), "t", b"old contents");
    let mut server = Server::start(root.path(), &["--writable"]);
    let mut client = server.connect();
    client.login();
    let mut data = client.passive();
    client.exchange("STOR t\r\n", "150 File status okay.\r\n");
    data.write_all(&binary_content(500_000)).unwrap();
    wait_for("the upload's temporary", || !temporaries(root.path()).is_empty());
    let started = Instant::now();
    assert_eq!(server.interrupt(), Some(0), "the server exits 0");
    assert!(started.elapsed() < Duration::from_secs(4), "stopping took {:?}", started.elapsed());
    client.expect("426 Connection closed; transfer aborted.\r\n");
    assert_eq!(entries(root.path()), ["t"]);
    assert_eq!(fs::read(root.path().join("t")).unwrap(), b"old contents");
}

#[test]
fn a_starting_server_removes_temporaries_of_stopped_servers_only() {
    let root = temp_dir();
    // PID 1 always runs; a PID above pid_max never does.
    write_file(root.path(), &format!(".minftp-part-{}-0", i32::MAX), b"stale");
    write_file(root.path(), "sub/.minftp-part-2147483646-3", b"stale");
    write_file(root.path(), ".minftp-part-1-0", b"someone else's");
    let server = Server::start(root.path(), &["--writable"]);
    let stderr = server.wait_for_stderr("removed 2 unfinished upload(s)");
    assert!(stderr.contains("removed 2 unfinished upload(s)"), "{stderr}");
    assert_eq!(entries(root.path()), [".minftp-part-1-0", "sub"]);
    assert!(entries(&root.path().join("sub")).is_empty());
}

/// A server to resume against: its name, its root, the running server (kept alive), its
/// port, and the folder that holds it all.
type ResumePeer = (&'static str, PathBuf, Box<dyn std::any::Any>, u16, tempfile::TempDir);

/// The peers to resume against: minftp, and pyftpdlib and vsftpd where installed.
fn resume_peers(content: &[u8]) -> Vec<ResumePeer> {
    let mut peers: Vec<ResumePeer> = Vec::new();
    let dir = temp_dir();
    let root = dir.path().join("root");
    write_file(&root, "f.bin", content);
    let server = Server::start(&root, &["--writable"]);
    let port = server.port();
    peers.push(("minftp", root, Box::new(server), port, dir));
    let dir = temp_dir();
    let root = dir.path().join("root");
    write_file(&root, "f.bin", content);
    if let Some(peer) = pyftpdlib(&root) {
        let port = peer.port;
        peers.push(("pyftpdlib", root, Box::new(peer), port, dir));
    }
    let dir = temp_dir();
    let root = dir.path().join("root");
    write_file(&root, "f.bin", content);
    fs::create_dir(root.join("upload")).unwrap();
    fs::set_permissions(root.join("upload"), fs::Permissions::from_mode(0o777)).unwrap();
    if let Some(peer) = vsftpd(&root, dir.path()) {
        let port = peer.port;
        peers.push(("vsftpd", root, Box::new(peer), port, dir));
    }
    peers
}

#[test]
fn get_continue_resumes_a_download_cut_off_by_a_dying_server_byte_exact() {
    let content = binary_content(3_000_000);
    for (name, _root, _server, port, _dir) in resume_peers(&content) {
        let work = temp_dir();
        // First a server that dies after 1,234,567 bytes: --continue keeps them.
        let (dying, handle) = fake_server(Fake { die_after: Some(1_234_567), ..Fake::serving(content.clone(), 1) });
        let out =
            minftp_run(work.path(), &["get", &format!("127.0.0.1:{dying}"), "f.bin", "--continue", "--retry", "0"]);
        handle.join().unwrap();
        assert_ne!(out.status.code(), Some(0));
        let partial = fs::read(work.path().join("f.bin")).unwrap_or_default();
        assert!(partial == content[..1_234_567], "{} bytes kept; stderr: {}", partial.len(), stderr_of(&out));
        // Then the real server: the rest arrives by REST and the file ends byte-exact.
        let out = minftp_run(work.path(), &["get", &format!("127.0.0.1:{port}"), "f.bin", "--continue"]);
        assert_ok(&out);
        assert!(fs::read(work.path().join("f.bin")).unwrap() == content, "{name}: not byte-exact");
        assert_eq!(entries(work.path()), ["f.bin"], "{name}");
        // A third run finds it complete and changes nothing.
        let out = minftp_run(work.path(), &["get", &format!("127.0.0.1:{port}"), "f.bin", "-c"]);
        assert_ok(&out);
        assert!(stderr_of(&out).contains("already complete"), "{name}: {}", stderr_of(&out));
    }
}

#[test]
fn put_continue_resumes_a_partial_upload_byte_exact() {
    let content = binary_content(2_500_000);
    for (name, root, _server, port, _dir) in resume_peers(b"") {
        let work = temp_dir();
        write_file(work.path(), "up.bin", &content);
        // What an interrupted upload left on the server (pyftpdlib and vsftpd keep it; minftp
        // keeps what an interrupted APPE or REST+STOR wrote).
        let remote = if name == "vsftpd" { "upload/up.bin" } else { "up.bin" };
        write_file(&root, remote, &content[..1_000_000]);
        if name == "vsftpd" {
            fs::set_permissions(root.join(remote), fs::Permissions::from_mode(0o666)).unwrap();
        }
        let out = minftp_run(work.path(), &["put", &format!("127.0.0.1:{port}"), "up.bin", remote, "--continue"]);
        assert_ok(&out);
        assert!(fs::read(root.join(remote)).unwrap() == content, "{name}: not byte-exact");
    }
}

/// The peer killed mid-transfer, for put: a `put` is killed (SIGKILL) while it sends a large
/// file, whatever it left on the server (a partial file with pyftpdlib and vsftpd, nothing
/// with minftp, whose plain STOR is atomic) is continued by `put --continue`, byte-exact.
#[test]
fn put_continue_after_a_killed_put_ends_byte_exact() {
    let content = binary_content(48 << 20);
    for (name, root, _server, port, _dir) in resume_peers(b"") {
        let work = temp_dir();
        write_file(work.path(), "up.bin", &content);
        let remote = if name == "vsftpd" { "upload/killed.bin" } else { "killed.bin" };
        let addr = format!("127.0.0.1:{port}");
        let child = spawn(work.path(), &["put", &addr, "up.bin", remote, "-q", "--retry", "0"]);
        thread::sleep(Duration::from_millis(40));
        signal(&child, libc::SIGKILL);
        let _ = wait_bounded(child, Duration::from_secs(10));
        thread::sleep(Duration::from_millis(300));
        let kept = fs::metadata(root.join(remote)).map_or(0, |m| m.len());
        if name == "vsftpd" && kept > 0 {
            fs::set_permissions(root.join(remote), fs::Permissions::from_mode(0o666)).unwrap();
        }
        let out = minftp_run(work.path(), &["put", &addr, "up.bin", remote, "--continue"]);
        assert_ok(&out);
        assert!(fs::read(root.join(remote)).unwrap() == content, "{name}: not byte-exact (it had kept {kept} bytes)");
    }
}

#[test]
fn retry_reconnects_after_a_server_dropped_the_first_two_connections() {
    let content = binary_content(1_000_000);
    let work = temp_dir();
    let (port, server) = fake_server(Fake { drop_first: 2, ..Fake::serving(content.clone(), 1) });
    let out = minftp_run(work.path(), &["get", &format!("127.0.0.1:{port}"), "f.bin", "--retry-delay", "0"]);
    server.join().unwrap();
    assert_ok(&out);
    assert!(fs::read(work.path().join("f.bin")).unwrap() == content);
    let stderr = stderr_of(&out);
    assert!(stderr.contains("attempt 2 of 4") && stderr.contains("attempt 3 of 4"), "{stderr}");

    write_file(work.path(), "up.bin", &content);
    let (port, server) = fake_server(Fake { drop_first: 2, ..Fake::serving(Vec::new(), 1) });
    let out = minftp_run(work.path(), &["put", &format!("127.0.0.1:{port}"), "up.bin", "--retry-delay", "0"]);
    assert_ok(&out);
    assert_eq!(server.join().unwrap(), [UploadEnd::Clean(content.len())]);

    let (port, server) = fake_server(Fake { drop_first: 1, ..Fake::serving(content.clone(), 0) });
    let out = minftp_run(work.path(), &["get", &format!("127.0.0.1:{port}"), "f.bin", "-o", "other", "--retry", "0"]);
    server.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "--retry 0 gives up at once");
    assert!(!work.path().join("other").exists());
}

#[test]
fn a_refusal_is_not_retried() {
    let (_root, _server, addr) = server_with(&[]);
    let work = temp_dir();
    let started = Instant::now();
    let out = minftp_run(work.path(), &["get", &addr, "missing.bin"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!stderr_of(&out).contains("attempt"), "a 550 is final: {}", stderr_of(&out));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn max_filesize_aborts_a_larger_download_and_leaves_nothing() {
    let (_root, _server, addr) = server_with(&[("big.bin", &binary_content(2_000_000))]);
    let work = temp_dir();
    let out = minftp_run(work.path(), &["get", &addr, "big.bin", "--max-filesize", "1000000"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("--max-filesize"), "{}", stderr_of(&out));
    assert!(entries(work.path()).is_empty());
    assert_ok(&minftp_run(work.path(), &["get", &addr, "big.bin", "--max-filesize", "2000000"]));
}
