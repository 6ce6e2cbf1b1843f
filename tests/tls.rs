//! FTP over TLS (RFC 4217), both sides, on 127.0.0.1: minftp's server with its kept
//! self-signed certificate or a certificate the test makes; minftp's client against it and
//! against pyftpdlib (TLS_FTPHandler) and vsftpd (ssl_enable); curl, lftp and Python's
//! ftplib against minftp; and what must be refused: clear-text logins on a TLS server, a
//! wrong pin, a wrong-host or expired certificate, a server that refuses AUTH TLS (the
//! client must not send its password), data connections that do not resume the control
//! connection's TLS session, junk or a stalled handshake, commands injected before it.

mod common;

use common::*;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A TLS server (`--writable --tls` and `extra`) with its own data folder for the kept
/// certificate, and the fingerprint it printed.
struct TlsServer {
    server: Server,
    fingerprint: String,
    _data: tempfile::TempDir,
}

fn tls_server(root: &Path, extra: &[&str]) -> TlsServer {
    let data = temp_dir();
    let mut command = minftp(root);
    command.env("XDG_DATA_HOME", data.path());
    command.args(["serve", "0", "--bind", "127.0.0.1", "--root"]).arg(root).args(["--writable", "--tls"]).args(extra);
    let server = Server::spawn(command, root);
    let stderr = server.wait_for_stderr("fingerprint ");
    let fingerprint = stderr
        .lines()
        .find_map(|line| line.split("SHA-256 fingerprint ").nth(1))
        .unwrap_or_else(|| panic!("no fingerprint in: {stderr}"))
        .trim()
        .to_string();
    assert_eq!(fingerprint.len(), 95, "{fingerprint}");
    TlsServer { server, fingerprint, _data: data }
}

/// The served files: big.bin (binary) and notes.txt.
fn served() -> (tempfile::TempDir, Vec<u8>) {
    let root = temp_dir();
    let big = binary_content(3_000_017);
    write_file(root.path(), "big.bin", &big);
    write_file(root.path(), "notes.txt", b"one\r\ntwo\n");
    (root, big)
}

#[test]
fn minftp_get_and_put_over_explicit_tls_are_byte_exact_and_encrypted() {
    let (root, big) = served();
    let tls = tls_server(root.path(), &[]);
    let work = temp_dir();
    let address = format!("127.0.0.1:{}", tls.server.port());
    let pin = tls.fingerprint.as_str();
    let out = minftp_run(work.path(), &["get", "--tls", "--pin-sha256", pin, &address, "big.bin", "-o", "got.bin"]);
    assert_ok(&out);
    assert!(fs::read(work.path().join("got.bin")).unwrap() == big, "the download differs");
    let upload = binary_content(2_500_001);
    fs::write(work.path().join("up.bin"), &upload).unwrap();
    // Several uploads in a row: each data connection must resume the session (the server
    // requires it), so the client must keep getting session tickets.
    for name in ["a.bin", "b.bin", "c.bin"] {
        let out = minftp_run(work.path(), &["put", "--tls", "--pin-sha256", pin, &address, "up.bin", name]);
        assert_ok(&out);
        assert!(fs::read(root.path().join(name)).unwrap() == upload, "the upload {name} differs");
    }
    let transcript = String::from_utf8_lossy(&tls.server.transcript()).into_owned();
    assert!(transcript.contains("AUTH TLS\r\n234 ") && transcript.contains("PROT P\r\n200 "), "{transcript}");
    assert!(!transcript.contains("TlsSessionNotResumed") && !transcript.contains("\r\n522 "), "{transcript}");
}

#[test]
fn ftps_urls_are_implicit_tls_and_ftpes_urls_explicit() {
    let (root, big) = served();
    let tls = tls_server(root.path(), &["--tls-implicit"]);
    assert!(tls.server.stderr().contains("url: ftps://127.0.0.1:"), "{}", tls.server.stderr());
    let work = temp_dir();
    let url = format!("ftps://127.0.0.1:{}/big.bin", tls.server.port());
    let out = minftp_run(work.path(), &["get", "--pin-sha256", &tls.fingerprint, &url, "-o", "got.bin"]);
    assert_ok(&out);
    assert!(fs::read(work.path().join("got.bin")).unwrap() == big);
    // ftpes:// is explicit TLS (AUTH TLS after a clear-text greeting), required as --tls.
    let explicit = tls_server(root.path(), &[]);
    let url = format!("ftpes://127.0.0.1:{}/big.bin", explicit.server.port());
    let out = minftp_run(work.path(), &["get", "--pin-sha256", &explicit.fingerprint, &url, "-o", "explicit.bin"]);
    assert_ok(&out);
    assert!(fs::read(work.path().join("explicit.bin")).unwrap() == big);
    let transcript = String::from_utf8_lossy(&explicit.server.transcript()).into_owned();
    assert!(transcript.contains("AUTH TLS\r\n234 "), "{transcript}");
    let url = format!("ftp://127.0.0.1:{}/big.bin", explicit.server.port());
    let out = minftp_run(work.path(), &["get", "--pin-sha256", &explicit.fingerprint, &url, "-o", "x.bin"]);
    assert!(!out.status.success() && stderr_of(&out).contains("--tls"), "a pin without TLS is a usage error");
    // The two usual mix-ups are named with what to use instead: ftps:// to a server that
    // greets in clear text, and no TLS to a server that waits for a handshake.
    let url = format!("ftps://127.0.0.1:{}/big.bin", explicit.server.port());
    let out = minftp_run(work.path(), &["get", "-k", "--retry", "0", &url, "-o", "mixed.bin"]);
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("use --tls or an ftpes:// URL instead of ftps://"), "{}", stderr_of(&out));
    let implicit = format!("127.0.0.1:{}", tls.server.port());
    let out =
        minftp_run(work.path(), &["get", "--retry", "0", "--timeout", "1", &implicit, "big.bin", "-o", "mixed.bin"]);
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("if this is one, use an ftps:// URL"), "{}", stderr_of(&out));
    assert!(!work.path().join("mixed.bin").exists());
    // A clear-text client gets no greeting it can read: the server waits for a handshake.
    let mut raw = std::net::TcpStream::connect(tls.server.addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut first = [0u8; 3];
    assert!(std::io::Read::read(&mut raw, &mut first).is_err(), "no clear-text greeting on an implicit port");
}

/// `--tls --tls-implicit-port`: explicit TLS on the main port and implicit TLS on a second
/// one, served by one process under one set of limits.
#[test]
fn one_server_takes_explicit_tls_on_its_port_and_implicit_tls_on_a_second() {
    let (root, big) = served();
    let folder = temp_dir();
    let log = folder.path().join("access.log");
    let tls =
        tls_server(root.path(), &["--tls-implicit-port", "0", "--max-clients", "2", "--log", log.to_str().unwrap()]);
    let stderr = tls.server.stderr();
    let implicit_port: u16 = stderr
        .lines()
        .find_map(|line| line.strip_prefix("minftp: url: ftps://127.0.0.1:"))
        .and_then(|rest| rest.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no ftps:// URL announced: {stderr}"));
    assert_ne!(implicit_port, tls.server.port());
    assert!(stderr.contains(&format!("implicit on port {implicit_port}")), "{stderr}");
    let work = temp_dir();
    let pin = tls.fingerprint.as_str();
    let url = format!("ftps://127.0.0.1:{implicit_port}/big.bin");
    assert_ok(&minftp_run(work.path(), &["get", "--pin-sha256", pin, &url, "-o", "implicit.bin"]));
    assert!(fs::read(work.path().join("implicit.bin")).unwrap() == big);
    // No reply comes before an implicit handshake: its log line has code 0.
    let text = fs::read_to_string(&log).unwrap();
    assert!(text.lines().any(|l| l.contains(" TLS TLSv1.3/") && l.ends_with(" code=0")), "{text}");
    let explicit = format!("127.0.0.1:{}", tls.server.port());
    let out =
        minftp_run(work.path(), &["get", "--tls", "--pin-sha256", pin, &explicit, "big.bin", "-o", "explicit.bin"]);
    assert_ok(&out);
    assert!(fs::read(work.path().join("explicit.bin")).unwrap() == big);
    if let Some(out) = run_tool(
        work.path(),
        "curl",
        &["-sS", "-k", "-T", "explicit.bin", &format!("ftps://127.0.0.1:{implicit_port}/up.bin")],
    ) {
        assert_success(&out, "curl ftps:// upload to the second port");
        assert!(fs::read(root.path().join("up.bin")).unwrap() == big);
    }
    // The explicit port greets in clear text; the implicit one waits for a handshake. The
    // clients above have quit, but a session's slot is given back only when its thread
    // ends, a moment later on a busy machine: until then --max-clients 2 may refuse (421).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut greeting = [0u8; 4];
    let _clear = loop {
        let mut clear = std::net::TcpStream::connect(tls.server.addr).unwrap();
        clear.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        std::io::Read::read_exact(&mut clear, &mut greeting).unwrap();
        if &greeting == b"220 " || Instant::now() > deadline {
            assert_eq!(&greeting, b"220 ");
            break clear;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _waiting = loop {
        let mut waiting = std::net::TcpStream::connect(("127.0.0.1", implicit_port)).unwrap();
        waiting.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        // A read that times out: the server waits for a handshake. Anything else (a 421,
        // or the connection closed) is a refusal while a slot is still held.
        let read = std::io::Read::read(&mut waiting, &mut greeting);
        if read.is_err() || Instant::now() > deadline {
            assert!(read.is_err(), "no clear-text greeting on the implicit port: {read:?} {greeting:?}");
            break waiting;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Both ports count against one --max-clients: with those two held, a third gets 421.
    let mut third = std::net::TcpStream::connect(tls.server.addr).unwrap();
    third.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut refused = String::new();
    let _ = std::io::Read::read_to_string(&mut third, &mut refused);
    assert!(refused.starts_with("421 "), "{refused:?}");
}

/// The operator's log has a `TLS` line for each control connection's handshake: the
/// version and cipher suite, or why it failed.
#[test]
fn the_access_log_says_how_each_session_was_secured() {
    let (root, big) = served();
    let folder = temp_dir();
    let log = folder.path().join("access.log");
    let tls = tls_server(root.path(), &["--log", log.to_str().unwrap(), "--data-timeout", "2"]);
    let work = temp_dir();
    let address = format!("127.0.0.1:{}", tls.server.port());
    let pin = tls.fingerprint.as_str();
    assert_ok(&minftp_run(work.path(), &["get", "--tls", "--pin-sha256", pin, &address, "big.bin", "-o", "got.bin"]));
    assert!(fs::read(work.path().join("got.bin")).unwrap() == big);
    let mut junk = tls.server.connect();
    junk.exchange("AUTH TLS\r\n", "234 Proceed with TLS negotiation.\r\n");
    junk.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(closed_within(&mut junk, Duration::from_secs(5)));
    let deadline = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let text = fs::read_to_string(&log).unwrap_or_default();
        if text.contains("TLS failed") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let secured: Vec<&str> = text.lines().filter(|line| line.contains(" TLS TLSv1.3/TLS13_")).collect();
    assert_eq!(secured.len(), 1, "{text}");
    assert!(secured[0].contains("session=1 ") && secured[0].ends_with(" code=234"), "{text}");
    let failed = text.lines().find(|line| line.contains(" TLS failed: ")).unwrap_or_else(|| panic!("{text}"));
    assert!(failed.contains("session=2 ") && failed.ends_with(" code=234"), "{text}");
    assert!(text.contains("session=1 client=127.0.0.1:") && text.contains(" RETR /big.bin bytes=3000017 "), "{text}");
}

#[test]
fn verbose_shows_the_dialogue_with_the_password_masked_and_a_clear_login_is_told_to_add_tls() {
    let (root, big) = served();
    let tls = tls_server(root.path(), &["--user", "bob", "--password", "s3cret-pw"]);
    let work = temp_dir();
    let address = format!("127.0.0.1:{}", tls.server.port());
    let login = ["--user", "bob", "--password", "s3cret-pw"];
    let mut args = vec!["get", "-v", "--tls", "--pin-sha256", &tls.fingerprint];
    args.extend(login);
    args.extend([address.as_str(), "big.bin", "-o", "got.bin"]);
    let out = minftp_run(work.path(), &args);
    assert_ok(&out);
    assert!(fs::read(work.path().join("got.bin")).unwrap() == big);
    assert!(out.stdout.is_empty(), "the dialogue goes to standard error");
    let stderr = stderr_of(&out);
    for expected in [
        "[1] * connected to 127.0.0.1:",
        "[1] < 220 ",
        "[1] > AUTH TLS\n[1] < 234 ",
        "[1] * TLS TLSv1.3/",
        "[1] > USER bob\n[1] < 331 ",
        "[1] > PASS ****\n[1] < 230 ",
        "[1] > RETR big.bin\n[1] < 150 ",
        "[1] * data connection 127.0.0.1:",
        "[1] * data TLS TLSv1.3/",
        ", the control connection's session resumed",
        "[1] < 226 ",
        "saved got.bin: ",
    ] {
        assert!(stderr.contains(expected), "{expected:?} in: {stderr}");
    }
    assert!(!stderr.contains("s3cret-pw"), "the password is never shown: {stderr}");
    let certificate =
        format!("[1] * server certificate SHA-256 {}, valid from 1975-01-01 00:00 UTC to ", tls.fingerprint);
    assert!(stderr.contains(&certificate), "{certificate:?} in: {stderr}");
    assert!(!tls.server.stderr().contains("tls: warning"), "the kept key is its owner's alone, the dates fine");
    // Without --tls the login is refused before the password is sent, and the error says
    // what to add.
    let mut args = vec!["get", "--retry", "0"];
    args.extend(login);
    args.extend([address.as_str(), "big.bin", "-o", "clear.bin"]);
    let out = minftp_run(work.path(), &args);
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("add --tls, or use an ftpes:// URL"), "{}", stderr_of(&out));
    assert!(!String::from_utf8_lossy(&tls.server.transcript()).contains("PASS s3cret"), "masked or unsent");
    assert!(!work.path().join("clear.bin").exists());
}

#[test]
fn a_wrong_pin_stops_the_client_before_it_logs_in() {
    let (root, _) = served();
    let tls = tls_server(root.path(), &[]);
    let work = temp_dir();
    let wrong = "00".repeat(32);
    let address = format!("127.0.0.1:{}", tls.server.port());
    let out = minftp_run(work.path(), &["get", "--tls", "--pin-sha256", &wrong, "--retry", "0", &address, "big.bin"]);
    assert!(!out.status.success());
    let stderr = stderr_of(&out);
    assert!(stderr.contains(&tls.fingerprint) && stderr.contains("--pin-sha256"), "{stderr}");
    assert!(!String::from_utf8_lossy(&tls.server.transcript()).contains("USER"), "no login was sent");
    assert!(!work.path().join("big.bin").exists());
}

#[test]
fn a_server_without_tls_gets_no_password_from_a_tls_client() {
    let (root, _) = served();
    let server = Server::start(root.path(), &["--extended"]);
    let work = temp_dir();
    let address = format!("127.0.0.1:{}", server.port());
    let out = minftp_run(
        work.path(),
        &["get", "--tls", "-k", "--retry", "0", "--user", "alice", "--password", "secret", &address, "big.bin"],
    );
    assert!(!out.status.success());
    let stderr = stderr_of(&out);
    assert!(stderr.contains("AUTH TLS") && stderr.contains("502"), "{stderr}");
    let transcript = String::from_utf8_lossy(&server.transcript()).into_owned();
    assert!(transcript.contains("AUTH TLS\r\n502 ") && !transcript.contains("USER") && !transcript.contains("secret"));
}

#[test]
fn a_tls_server_refuses_clear_text_logins_and_lists_its_features() {
    let (root, _) = served();
    let tls = tls_server(root.path(), &[]);
    let mut client = tls.server.connect();
    client.exchange("USER anonymous\r\n", "530 This server requires TLS: send AUTH TLS before USER.\r\n");
    client.exchange("PASS x\r\n", "530 This server requires TLS: send AUTH TLS before USER.\r\n");
    client.exchange("PROT P\r\n", "503 Send AUTH TLS first.\r\n");
    client.exchange("AUTH KERBEROS\r\n", "504 Unknown security mechanism; use AUTH TLS.\r\n");
    client.send(b"FEAT\r\n");
    let mut features = Vec::new();
    loop {
        let line = String::from_utf8(client.read_line()).unwrap();
        features.push(line.trim().to_string());
        if line.starts_with("211 ") {
            break;
        }
    }
    for wanted in ["AUTH TLS", "PBSZ", "PROT"] {
        assert!(features.iter().any(|f| f == wanted), "{features:?}");
    }
}

#[test]
fn junk_stalled_or_injected_handshakes_end_the_session_only() {
    let (root, _) = served();
    let tls = tls_server(root.path(), &["--data-timeout", "1"]);
    // Junk instead of a ClientHello.
    let mut junk = tls.server.connect();
    junk.exchange("AUTH TLS\r\n", "234 Proceed with TLS negotiation.\r\n");
    junk.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(closed_within(&mut junk, Duration::from_secs(5)), "junk ends the session");
    // Nothing at all after AUTH TLS: the handshake limit (--data-timeout 1) ends it.
    let mut silent = tls.server.connect();
    silent.exchange("AUTH TLS\r\n", "234 Proceed with TLS negotiation.\r\n");
    let started = Instant::now();
    assert!(closed_within(&mut silent, Duration::from_secs(5)), "a stalled handshake ends the session");
    assert!(started.elapsed() >= Duration::from_millis(900), "it had its second: {:?}", started.elapsed());
    // A command sent with AUTH TLS, before the handshake, is not carried out.
    let mut injected = tls.server.connect();
    injected.send(b"AUTH TLS\r\nUSER injected\r\n");
    injected.expect("234 Proceed with TLS negotiation.\r\n");
    assert!(closed_within(&mut injected, Duration::from_secs(5)));
    assert!(!String::from_utf8_lossy(&tls.server.transcript()).contains("injected\r\n331"));
    // The server goes on serving.
    let mut next = tls.server.connect();
    next.exchange("NOOP\r\n", "530 Not logged in.\r\n");
}

/// True when the server closes the connection within `limit`, whatever it sent first (a TLS
/// alert after junk).
fn closed_within(client: &mut RawClient, limit: Duration) -> bool {
    use std::io::Read;
    let deadline = Instant::now() + limit;
    client.stream.set_read_timeout(Some(limit)).unwrap();
    let mut rest = [0u8; 512];
    while Instant::now() < deadline {
        match client.stream.read(&mut rest) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(err) => return err.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
    false
}

/// Runs a Python ftplib FTP_TLS session against `port`: logs in, PROT P, downloads big.bin
/// and uploads 100 KiB, passive and active; `resume` hands the control connection's TLS
/// session to each data connection (ftplib does not by default); `tls_1_2` caps the
/// version at TLS 1.2. Prints "ok SHA256" or the error.
fn ftplib_tls(dir: &Path, port: u16, resume: bool, tls_1_2: bool) -> Option<std::process::Output> {
    let script = r#"
import ftplib, hashlib, io, ssl, sys
port, resume, tls_1_2 = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3] == "1"
class Resuming(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
if tls_1_2:
    context.maximum_version = ssl.TLSVersion.TLSv1_2
ftp = (Resuming if resume else ftplib.FTP_TLS)(context=context)
try:
    ftp.connect("127.0.0.1", port, timeout=20)
    ftp.auth()
    ftp.login()
    ftp.prot_p()
    digests = []
    for passive in (True, False):
        ftp.set_pasv(passive)
        got = io.BytesIO()
        ftp.retrbinary("RETR big.bin", got.write)
        digests.append(hashlib.sha256(got.getvalue()).hexdigest())
        ftp.storbinary("STOR from-ftplib-%s.bin" % passive, io.BytesIO(bytes(range(256)) * 400))
    print("ok", *digests)
except ftplib.all_errors as e:
    print("error", e)
"#;
    let flag = |on: bool| if on { "1" } else { "0" };
    run_tool(dir, "python3", &["-c", script, &port.to_string(), flag(resume), flag(tls_1_2)])
}

#[test]
fn data_connections_must_resume_the_control_sessions_tls_unless_relaxed() {
    let (root, big) = served();
    let digest = sha256_hex(&big);
    let work = temp_dir();
    // TLS 1.3 sessions are bound to the client's address; TLS 1.2 ones must be resumed.
    for tls_1_2 in [false, true] {
        let strict = tls_server(root.path(), &[]);
        let Some(out) = ftplib_tls(work.path(), strict.server.port(), true, tls_1_2) else { return };
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(said.trim(), format!("ok {digest} {digest}"), "TLS 1.2 {tls_1_2}: {}", stderr_of(&out));
        assert!(fs::read(root.path().join("from-ftplib-False.bin")).unwrap().len() == 102_400);
        // ftplib's default: a fresh TLS session on each data connection is refused.
        let out = ftplib_tls(work.path(), strict.server.port(), false, tls_1_2).unwrap();
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        // ftplib reports it its own way (a 522, or the TLS shutdown of the refused
        // connection); the server's transcript tells what it answered.
        assert!(said.starts_with("error "), "TLS 1.2 {tls_1_2}: {said}");
        let transcript = String::from_utf8_lossy(&strict.server.transcript()).into_owned();
        let refusal = "522 The data connection must resume a TLS session of this client.";
        assert!(transcript.contains(refusal), "TLS 1.2 {tls_1_2}: {transcript}");
    }
    let relaxed = tls_server(root.path(), &["--tls-no-reuse-check"]);
    let out = ftplib_tls(work.path(), relaxed.server.port(), false, false).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("ok {digest} {digest}"));
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn curl_downloads_uploads_and_lists_with_ssl_reqd_and_ftps() {
    let (root, big) = served();
    let tls = tls_server(root.path(), &[]);
    let work = temp_dir();
    let base = format!("ftp://127.0.0.1:{}", tls.server.port());
    let Some(out) =
        run_tool(work.path(), "curl", &["-sS", "--ssl-reqd", "-k", &format!("{base}/big.bin"), "-o", "got.bin"])
    else {
        return;
    };
    assert_success(&out, "curl --ssl-reqd download");
    assert!(fs::read(work.path().join("got.bin")).unwrap() == big);
    fs::write(work.path().join("up.bin"), binary_content(1_000_003)).unwrap();
    // Several: an upload once lost its end 1 time in 5 to a reset (unread session tickets).
    for round in 0..6 {
        let url = format!("{base}/up-{round}.bin");
        let out = run_tool(work.path(), "curl", &["-sS", "--ssl-reqd", "-k", "-T", "up.bin", &url]).unwrap();
        assert_success(&out, "curl --ssl-reqd upload");
        assert!(fs::read(root.path().join(format!("up-{round}.bin"))).unwrap() == binary_content(1_000_003));
    }
    let out = run_tool(work.path(), "curl", &["-sS", "--ssl-reqd", "-k", &format!("{base}/")]).unwrap();
    assert_success(&out, "curl --ssl-reqd listing");
    assert!(String::from_utf8_lossy(&out.stdout).contains("big.bin"));
    // The same over implicit TLS. (Not active mode: curl 7.88 fails it with "sa_addr
    // inet_ntop() failed with errno 97" against vsftpd too; ftplib covers active TLS.)
    let implicit = tls_server(root.path(), &["--tls-implicit"]);
    let url = format!("ftps://127.0.0.1:{}/big.bin", implicit.server.port());
    let out = run_tool(work.path(), "curl", &["-sS", "-k", &url, "-o", "implicit.bin"]).unwrap();
    assert_success(&out, "curl ftps:// download");
    assert!(fs::read(work.path().join("implicit.bin")).unwrap() == big);
}

/// Downloads under TLS 1.3 seal their records in the server (src/protocol/records.rs);
/// TLS 1.2 ones stay with rustls. Both, a resumed one (REST) and an empty file must arrive
/// whole, each ended by close_notify (curl reports a missing one as an error).
#[test]
fn tls_downloads_are_byte_exact_under_tls_1_3_and_1_2_resumed_and_empty() {
    let (root, big) = served();
    write_file(root.path(), "empty.bin", b"");
    let tls = tls_server(root.path(), &[]);
    let work = temp_dir();
    let base = format!("ftp://127.0.0.1:{}", tls.server.port());
    let curl = |args: &[&str]| {
        run_tool(work.path(), "curl", &[&["-sS", "--ssl-reqd", "-k", "-w", "%{ssl_verify_result}"], args].concat())
    };
    let Some(out) = curl(&["--tlsv1.3", &format!("{base}/big.bin"), "-o", "v13.bin"]) else {
        return;
    };
    assert_success(&out, "curl TLS 1.3 download");
    assert!(fs::read(work.path().join("v13.bin")).unwrap() == big, "the TLS 1.3 download differs");
    let out = curl(&["--tls-max", "1.2", &format!("{base}/big.bin"), "-o", "v12.bin"]).unwrap();
    assert_success(&out, "curl TLS 1.2 download");
    assert!(fs::read(work.path().join("v12.bin")).unwrap() == big, "the TLS 1.2 download differs");
    fs::write(work.path().join("part.bin"), &big[..1_000_000]).unwrap();
    let out = curl(&["-C", "-", &format!("{base}/big.bin"), "-o", "part.bin"]).unwrap();
    assert_success(&out, "curl TLS resumed download");
    assert!(fs::read(work.path().join("part.bin")).unwrap() == big, "the resumed download differs");
    let out = curl(&[&format!("{base}/empty.bin"), "-o", "empty.bin"]).unwrap();
    assert_success(&out, "curl TLS download of an empty file");
    assert_eq!(fs::read(work.path().join("empty.bin")).unwrap(), b"");
    let transcript = String::from_utf8_lossy(&tls.server.transcript()).into_owned();
    assert!(transcript.contains("REST 1000000\r\n350 "), "{transcript}");
    assert_eq!(transcript.matches("\r\n226 ").count(), 4, "{transcript}");
}

/// The start of a Python script that logs in over explicit TLS to the port in argv[1]
/// (`PROT P`, `TYPE I`), with `command()` and `reply()` helpers and an empty `said` list;
/// the tests below add their transfers.
const TLS_SESSION_PY: &str = r#"
import socket, ssl, sys
port = int(sys.argv[1])
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
control = socket.create_connection(("127.0.0.1", port), timeout=10)
replies = control.makefile("rb")
def reply():
    line = replies.readline().decode()
    while line[3:4] == "-":
        line = replies.readline().decode()
    return line.strip()
def command(text):
    control.sendall((text + "\r\n").encode())
    return reply()
reply()
assert command("AUTH TLS").startswith("234")
control = context.wrap_socket(control)
replies = control.makefile("rb")
for text in ("USER anonymous", "PASS guest@", "PBSZ 0", "PROT P", "TYPE I"):
    assert command(text)[0] in "23", text
said = []
"#;

/// A client that starts the data connection's TLS handshake before it sends the transfer
/// command, as curl does, and waits for the server's answer first: the server must answer
/// while it waits for the command (otherwise curl waits 0.2 s on its own timer each time).
/// Each handshake here has 10 s and the RETR, STOR or LIST is only sent once it is done.
/// `resume` false: a handshake that resumes no session gets the 522 at the transfer.
fn handshake_before_the_command(dir: &Path, port: u16, resume: bool) -> Option<std::process::Output> {
    let script = TLS_SESSION_PY.to_string()
        + r#"
resume = sys.argv[2] == "1"
for transfer, payload in (("RETR notes.txt", None), ("STOR early.bin", b"early" * 1000), ("LIST", None)):
    port = int(command("EPSV").split("|")[3])
    data = socket.create_connection(("127.0.0.1", port), timeout=10)
    data = context.wrap_socket(data, session=control.session if resume else None)
    started = command(transfer)
    if not started.startswith("150"):
        said.append(started[:3])
        continue
    got = b""
    try:
        if payload:
            data.sendall(payload)
            data.unwrap()
        else:
            while chunk := data.recv(65536):
                got += chunk
    except OSError:
        pass  # a refused connection: the final reply tells
    data.close()
    said.append(reply()[:3] + ":" + str(len(got)))
print(" ".join(said))
"#;
    run_tool(dir, "python3", &["-c", &script, &port.to_string(), if resume { "1" } else { "0" }])
}

#[test]
fn a_data_handshake_started_before_the_transfer_command_is_answered_at_once() {
    let (root, _) = served();
    let tls = tls_server(root.path(), &[]);
    let work = temp_dir();
    let Some(out) = handshake_before_the_command(work.path(), tls.server.port(), true) else { return };
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let parts: Vec<&str> = said.split_whitespace().collect();
    assert_eq!(parts.len(), 3, "{said}{}", stderr_of(&out));
    assert_eq!(parts[0], "226:9", "RETR of notes.txt (9 bytes): {said}");
    assert_eq!(parts[1], "226:0", "STOR: {said}");
    assert!(parts[2].starts_with("226:") && parts[2] != "226:0", "LIST: {said}");
    assert!(fs::read(root.path().join("early.bin")).unwrap() == b"early".repeat(1000));
    // The reuse check still holds for a handshake made early.
    let out = handshake_before_the_command(work.path(), tls.server.port(), false).unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(said.trim(), "522:0 522:0 522:0", "{}", stderr_of(&out));
}

/// A TLS upload that stops mid-record (a cut connection, or someone cutting it) must not
/// count as whole: 426 and nothing stored. One that stops between records without
/// close_notify is whole (as vsftpd accepts: some clients never send it). The script
/// writes the records with Python's MemoryBIO, so it can send part of one.
#[test]
fn a_tls_upload_cut_mid_record_is_refused_and_one_cut_between_records_is_kept() {
    let (root, _) = served();
    let tls = tls_server(root.path(), &[]);
    let work = temp_dir();
    let script = TLS_SESSION_PY.to_string()
        + r#"
for name, cut in (("cut.bin", 1000), ("whole.bin", 0)):
    port = int(command("EPSV").split("|")[3])
    data = socket.create_connection(("127.0.0.1", port), timeout=10)
    assert command("STOR " + name).startswith("150")
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, session=control.session)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            data.sendall(outgoing.read())
            incoming.write(data.recv(65536))
    tls.write(bytes(range(256)) * 400)
    wire = outgoing.read()
    data.sendall(wire[:len(wire) - cut])
    data.close()
    said.append(reply()[:3])
print(" ".join(said))
"#;
    let Some(out) = run_tool(work.path(), "python3", &["-c", &script, &tls.server.port().to_string()]) else { return };
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "426 226", "{}", stderr_of(&out));
    assert!(!root.path().join("cut.bin").exists(), "a cut upload must not be stored");
    assert!(fs::read(root.path().join("whole.bin")).unwrap() == (0..=255u8).collect::<Vec<u8>>().repeat(400));
}

#[test]
fn lftp_with_ssl_force_gets_puts_and_lists() {
    let (root, big) = served();
    let tls = tls_server(root.path(), &[]);
    let work = temp_dir();
    fs::write(work.path().join("local.bin"), binary_content(700_001)).unwrap();
    // lftp keeps anonymous logins in clear text unless told (ftp:ssl-allow-anonymous).
    let script = "set ftp:ssl-force true; set ftp:ssl-allow-anonymous true; set ftp:ssl-protect-data true; \
                  set ssl:verify-certificate no; \
                  set cmd:fail-exit yes; set net:max-retries 1; ls; get big.bin -o got.bin; put local.bin -o put.bin; quit";
    let port = tls.server.port().to_string();
    let Some(out) = run_tool(work.path(), "lftp", &["-p", &port, "-e", script, "127.0.0.1"]) else { return };
    assert_success(&out, "lftp over TLS");
    assert!(String::from_utf8_lossy(&out.stdout).contains("big.bin"));
    assert!(fs::read(work.path().join("got.bin")).unwrap() == big);
    assert!(fs::read(root.path().join("put.bin")).unwrap() == binary_content(700_001));
}

/// A certificate's parameters for `names`, valid over the years `valid` (1 January to
/// 1 January).
fn certificate_params(names: &[&str], valid: (i32, i32)) -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.not_before = rcgen::date_time_ymd(valid.0, 1, 1);
    params.not_after = rcgen::date_time_ymd(valid.1, 1, 1);
    params
}

/// A CA and a server certificate it signed for `names`, valid over the years `valid`
/// (1 January to 1 January); returns the paths of ca.pem, cert.pem and key.pem in `dir`.
fn make_certificates(dir: &Path, names: &[&str], valid: (i32, i32)) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "minftp test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = certificate_params(names, valid).signed_by(&key, &issuer).unwrap();
    let paths = ["ca.pem", "cert.pem", "key.pem"].map(|n| dir.join(n).to_string_lossy().into_owned());
    fs::write(&paths[0], ca.pem()).unwrap();
    fs::write(&paths[1], cert.pem()).unwrap();
    fs::write(&paths[2], key.serialize_pem()).unwrap();
    let [ca, cert, key] = paths;
    (ca, cert, key)
}

/// Valid now (this is 2026 and later), and long expired.
const CURRENT: (i32, i32) = (2020, 2090);
const EXPIRED: (i32, i32) = (2019, 2021);

/// A server with the certificate in `dir` (`--cert`, `--key`), no kept one.
fn server_with_certificate(root: &Path, cert: &str, key: &str) -> Server {
    Server::start(root, &["--writable", "--tls", "--cert", cert, "--key", key])
}

#[test]
fn certificates_are_verified_against_a_ca_for_the_name_and_the_date() {
    let (root, big) = served();
    let work = temp_dir();
    let good = temp_dir();
    let (ca, cert, key) = make_certificates(good.path(), &["127.0.0.1", "localhost"], CURRENT);
    let server = server_with_certificate(root.path(), &cert, &key);
    // The test wrote the key with the usual umask: every user may read it, and is told
    // (the last of the start's warnings, so the others are in by then).
    let started = server.wait_for_stderr("can be read by every user");
    assert!(started.contains(&format!("tls: warning: the key in {key} can be read by every user")), "{started}");
    assert!(!started.contains("does not name"), "no --public-address, no name to check: {started}");
    // An announced address the certificate does not name is a warning; one it names is not.
    for (announced, warned) in [("127.0.0.2", true), ("localhost", false)] {
        let other = Server::start(
            root.path(),
            &["--writable", "--tls", "--cert", &cert, "--key", &key, "--public-address", announced],
        );
        let started = other.wait_for_stderr("can be read by every user");
        let warning = format!("tls: warning: the certificate does not name {announced}, the address clients are told");
        assert_eq!(started.contains(&warning), warned, "{started}");
    }
    let address = format!("127.0.0.1:{}", server.port());
    let out = minftp_run(work.path(), &["get", "--tls", "--cacert", &ca, &address, "big.bin", "-o", "got.bin"]);
    assert_ok(&out);
    assert!(fs::read(work.path().join("got.bin")).unwrap() == big);
    // Without --cacert the system's store does not know this CA. The refusal gives the
    // certificate's fingerprint and the option that trusts it, and that option works.
    let out = minftp_run(work.path(), &["get", "--tls", "--retry", "0", &address, "big.bin", "-o", "x.bin"]);
    let stderr = stderr_of(&out);
    assert!(!out.status.success() && stderr.contains("no CA this system trusts signed it"), "{stderr}");
    let pin = stderr.split("add --pin-sha256 ").nth(1).and_then(|rest| rest.split(';').next()).unwrap_or_default();
    assert_eq!(pin.len(), 95, "{stderr}");
    let args = ["get", "--tls", "--pin-sha256", pin, &address, "big.bin", "-o", "pinned.bin"];
    assert_ok(&minftp_run(work.path(), &args));
    assert!(fs::read(work.path().join("pinned.bin")).unwrap() == big);
    // Another host's certificate, and an expired one.
    for (names, valid, says) in
        [(&["files.example.org"][..], CURRENT, "not valid for name"), (&["127.0.0.1"], EXPIRED, "expired")]
    {
        let folder = temp_dir();
        let (ca, cert, key) = make_certificates(folder.path(), names, valid);
        let server = server_with_certificate(root.path(), &cert, &key);
        let address = format!("127.0.0.1:{}", server.port());
        let args = ["get", "--tls", "--cacert", &ca, "--retry", "0", &address, "big.bin", "-o", "x.bin"];
        let out = minftp_run(work.path(), &args);
        assert!(!out.status.success());
        assert!(stderr_of(&out).to_lowercase().contains(says), "{}", stderr_of(&out));
        // The operator is told at start when the certificate's dates are wrong.
        let started =
            if valid == EXPIRED { server.wait_for_stderr("the certificate expired on") } else { server.stderr() };
        let warned = started.contains("tls: warning: the certificate expired on 2021-01-01 00:00 UTC");
        assert_eq!(warned, valid == EXPIRED, "{started}");
    }
    assert!(!work.path().join("x.bin").exists());
}

/// A self-signed certificate for `names` marked as a CA, as `openssl req -x509` makes
/// one; returns the paths of its cert.pem and key.pem in `dir`.
fn make_self_signed_ca(dir: &Path, names: &[&str], valid: (i32, i32)) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = certificate_params(names, valid);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    let paths = ["cert.pem", "key.pem"].map(|n| dir.join(n).to_string_lossy().into_owned());
    fs::write(&paths[0], cert.pem()).unwrap();
    fs::write(&paths[1], key.serialize_pem()).unwrap();
    let [cert, key] = paths;
    (cert, key)
}

#[test]
fn a_self_signed_certificate_marked_as_a_ca_is_trusted_when_given_with_cacert() {
    let (root, big) = served();
    let work = temp_dir();
    let folder = temp_dir();
    let (cert, key) = make_self_signed_ca(folder.path(), &["127.0.0.1"], CURRENT);
    let server = server_with_certificate(root.path(), &cert, &key);
    let address = format!("127.0.0.1:{}", server.port());
    // The certificate itself given as trusted: accepted, as curl --cacert does.
    let out = minftp_run(work.path(), &["get", "--tls", "--cacert", &cert, &address, "big.bin", "-o", "got.bin"]);
    assert_ok(&out);
    assert!(fs::read(work.path().join("got.bin")).unwrap() == big);
    // Not given: refused, saying why in words, with the fingerprint that trusts it.
    let out = minftp_run(work.path(), &["get", "--tls", "--retry", "0", &address, "big.bin", "-o", "x.bin"]);
    let stderr = stderr_of(&out);
    assert!(!out.status.success() && stderr.contains("marked as a CA's certificate, not a server's"), "{stderr}");
    assert!(stderr.contains("add --pin-sha256 "), "{stderr}");
    // Given, but for another name or out of date: refused all the same.
    for (names, valid, says) in
        [(&["files.example.org"][..], CURRENT, "not valid for name"), (&["127.0.0.1"], EXPIRED, "expired")]
    {
        let folder = temp_dir();
        let (cert, key) = make_self_signed_ca(folder.path(), names, valid);
        let server = server_with_certificate(root.path(), &cert, &key);
        let address = format!("127.0.0.1:{}", server.port());
        let args = ["get", "--tls", "--cacert", &cert, "--retry", "0", &address, "big.bin", "-o", "x.bin"];
        let out = minftp_run(work.path(), &args);
        assert!(!out.status.success(), "{says}");
        assert!(stderr_of(&out).to_lowercase().contains(says), "{}", stderr_of(&out));
    }
    assert!(!work.path().join("x.bin").exists());
}

#[test]
fn a_renewed_certificate_reaches_new_connections_without_a_restart() {
    let (root, big) = served();
    let work = temp_dir();
    let (first, renewed) = (temp_dir(), temp_dir());
    let (first_ca, cert, key) = make_certificates(first.path(), &["127.0.0.1"], CURRENT);
    let (renewed_ca, renewed_cert, renewed_key) = make_certificates(renewed.path(), &["127.0.0.1"], CURRENT);
    let server = server_with_certificate(root.path(), &cert, &key);
    let address = format!("127.0.0.1:{}", server.port());
    let get_trusting = |ca: &str, name: &str| {
        minftp_run(work.path(), &["get", "--tls", "--cacert", ca, "--retry", "0", &address, "big.bin", "-o", name])
    };
    assert_ok(&get_trusting(&first_ca, "first.bin"));
    // A renewal as certbot's: new files renamed over the old ones, the key first.
    for (from, to) in [(&renewed_key, &key), (&renewed_cert, &cert)] {
        fs::rename(from, to).unwrap();
    }
    let out = get_trusting(&renewed_ca, "renewed.bin");
    assert_ok(&out);
    assert!(fs::read(work.path().join("renewed.bin")).unwrap() == big);
    let out = get_trusting(&first_ca, "stale.bin");
    assert!(!out.status.success(), "the replaced certificate is no longer served");
    assert!(server.wait_for_stderr("read again").contains(&format!("read again from {cert}")));
    // Junk written over the certificate: refused, and the renewed one is still served.
    fs::write(&cert, "-----BEGIN CERTIFICATE-----\nnot base64\n").unwrap();
    assert_ok(&get_trusting(&renewed_ca, "still.bin"));
    let stderr = server.wait_for_stderr("keep the previous certificate");
    assert!(stderr.contains(&cert), "{stderr}");
    assert!(!work.path().join("stale.bin").exists());
}

#[test]
fn minftp_client_over_tls_against_pyftpdlib_and_vsftpd() {
    let certificates = temp_dir();
    let (ca, cert, key) = make_certificates(certificates.path(), &["127.0.0.1"], CURRENT);
    let (root, big) = served();
    fs::create_dir_all(root.path().join("upload")).unwrap();
    let work = temp_dir();
    let upload = binary_content(1_500_007);
    fs::write(work.path().join("up.bin"), &upload).unwrap();
    for i in 0..20 {
        fs::create_dir_all(root.path().join(format!("tree/d{}", i % 4))).unwrap();
        fs::write(root.path().join(format!("tree/d{}/f{i}", i % 4)), binary_content(5_000 + i)).unwrap();
    }
    let config_dir = temp_dir();
    let peers = [
        ("pyftpdlib", peers::pyftpdlib_tls(root.path(), Path::new(&cert), Path::new(&key))),
        ("vsftpd", peers::vsftpd_tls(root.path(), config_dir.path(), Path::new(&cert), Path::new(&key))),
    ];
    for (name, peer) in peers {
        let Some(peer) = peer else { continue };
        let address = format!("127.0.0.1:{}", peer.port);
        let out = minftp_run(work.path(), &["get", "--tls", "--cacert", &ca, &address, "big.bin", "-o", "got.bin"]);
        assert_ok(&out);
        assert!(fs::read(work.path().join("got.bin")).unwrap() == big, "{name}: the download differs");
        for round in 0..3 {
            let remote = format!("upload/up-{name}-{round}.bin");
            let out = minftp_run(work.path(), &["put", "--tls", "--cacert", &ca, &address, "up.bin", &remote]);
            assert_ok(&out);
            assert!(fs::read(root.path().join(&remote)).unwrap() == upload, "{name}: the upload differs");
        }
        fs::remove_file(work.path().join("got.bin")).unwrap();
        // A tree over TLS on 3 sessions: 20 data connections, each resuming its session.
        let mirror = format!("mirror-{name}");
        let out = minftp_run(
            work.path(),
            &["get", "-r", "-j", "3", "--tls", "--cacert", &ca, &address, "tree", "-o", &mirror],
        );
        assert_ok(&out);
        for i in 0..20 {
            let got = fs::read(work.path().join(format!("{mirror}/d{}/f{i}", i % 4))).unwrap();
            assert!(got == binary_content(5_000 + i), "{name}: tree file {i} differs");
        }
    }
}

#[test]
fn rclone_with_explicit_tls_copies_lists_and_checks() {
    if !rclone_installed() {
        return;
    }
    let (root, _) = served();
    let tls = tls_server(root.path(), &[]);
    let local = temp_dir();
    write_file(local.path(), "a.txt", b"alpha");
    write_file(local.path(), "sub/b.bin", &binary_content(300_000));
    let remote = rclone_remote(tls.server.port(), ",explicit_tls=true,no_check_certificate=true", "dest");
    let rclone = |args: &[&str]| rclone(local.path(), args).expect("rclone is installed");
    let source = local.path().to_str().unwrap();
    rclone(&["copy", source, &remote]);
    assert_eq!(fs::read(root.path().join("dest/a.txt")).unwrap(), b"alpha");
    assert!(fs::read(root.path().join("dest/sub/b.bin")).unwrap() == binary_content(300_000));
    let listing = rclone(&["lsl", &remote]);
    assert!(listing.contains("a.txt") && listing.contains("sub/b.bin"), "{listing}");
    rclone(&["check", "--download", source, &remote]);
    let transcript = String::from_utf8_lossy(&tls.server.transcript()).into_owned();
    assert!(transcript.contains("AUTH TLS\r\n234 ") && !transcript.contains("\r\n522 "), "{transcript}");
}

/// Where `.ci/run` installs Node's basic-ftp (`npm install --prefix target/node-peers`).
fn basic_ftp() -> Option<std::path::PathBuf> {
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/node-peers/node_modules/basic-ftp");
    if Command::new("node").arg("--version").output().is_err() || !module.exists() {
        eprintln!(
            "skipped: Node's basic-ftp is not installed (.ci/run: npm install --prefix target/node-peers basic-ftp)"
        );
        return None;
    }
    Some(module)
}

#[test]
fn node_basic_ftp_over_explicit_tls_lists_downloads_and_uploads() {
    let Some(module) = basic_ftp() else { return };
    let (root, big) = served();
    let tls = tls_server(root.path(), &[]);
    let work = temp_dir();
    fs::write(work.path().join("up.bin"), binary_content(400_009)).unwrap();
    let script = r#"
const ftp = require(process.argv[1]);
(async () => {
    const client = new ftp.Client(20000);
    try {
        await client.access({ host: "127.0.0.1", port: Number(process.argv[2]), user: "anonymous",
                              password: "node@", secure: true, secureOptions: { rejectUnauthorized: false } });
        const names = (await client.list()).map(entry => entry.name).sort().join(",");
        await client.downloadTo("got.bin", "big.bin");
        await client.uploadFrom("up.bin", "from-node.bin");
        console.log("ok " + names);
    } catch (err) {
        console.log("error " + err.message);
        process.exitCode = 1;
    }
    client.close();
})();
"#;
    let port = tls.server.port().to_string();
    let Some(out) = run_tool(work.path(), "node", &["-e", script, module.to_str().unwrap(), &port]) else { return };
    assert_success(&out, "basic-ftp over TLS");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok big.bin,notes.txt");
    assert!(fs::read(work.path().join("got.bin")).unwrap() == big);
    assert!(fs::read(root.path().join("from-node.bin")).unwrap() == binary_content(400_009));
}

#[test]
fn a_command_sent_along_with_auth_tls_is_never_carried_out_under_tls() {
    // A man in the middle adds a command after AUTH TLS, before the client's handshake. If
    // the server kept it buffered, it would run it after the handshake as if it had come
    // encrypted (CVE-2011-0411). Here the handshake is really made, and the test looks for
    // the injected command's reply on the TLS side.
    let (root, _) = served();
    let tls = tls_server(root.path(), &[]);
    let work = temp_dir();
    let script = r#"
import socket, ssl, sys
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
reader = sock.makefile("rb")
reader.readline()
sock.sendall(b"AUTH TLS\r\nUSER injected\r\n")
print(reader.readline().decode().strip())
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
try:
    secure = context.wrap_socket(sock, server_hostname="127.0.0.1")
    secure.settimeout(2)
    print("after the handshake:", secure.recv(100).decode(errors="replace").strip() or "closed")
except (OSError, ssl.SSLError) as err:
    print("no handshake:", type(err).__name__)
"#;
    let port = tls.server.port().to_string();
    let Some(out) = run_tool(work.path(), "python3", &["-c", script, &port]) else { return };
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.starts_with("234 "), "{said}");
    assert!(!said.contains("331"), "the injected USER was carried out: {said}");
    assert!(!String::from_utf8_lossy(&tls.server.transcript()).contains("injected"), "{said}");
}

/// FileZilla's sequence (as its log shows it, FileZilla 3 with "Use explicit FTP over TLS
/// if available"), by ftplib resuming the control connection's TLS session on the data
/// connection as FileZilla (GnuTLS) does: AUTH TLS, USER, PASS, SYST, FEAT, OPTS UTF8 ON,
/// PBSZ 0, PROT P, OPTS MLST, PWD, TYPE I, PASV, MLSD. FileZilla itself needs a display.
#[test]
fn filezillas_command_sequence_lists_with_mlsd_over_tls_with_the_reuse_check_on() {
    let (root, _) = served();
    let server = tls_server(root.path(), &[]);
    let work = temp_dir();
    let script = r#"
import ftplib, ssl, sys
class Resuming(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        return self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session), size
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
ftp = Resuming(context=context)
try:
    ftp.connect("127.0.0.1", int(sys.argv[1]), timeout=20)
    ftp.auth()
    ftp.login("anonymous", "anon@localhost")
    said = [ftp.sendcmd(c)[:3] for c in ("SYST", "FEAT", "OPTS UTF8 ON", "PBSZ 0", "PROT P")]
    try:
        said.append(ftp.sendcmd("OPTS MLST type;unique;size;modify;perm;")[:3])
    except ftplib.error_perm as e:
        said.append(str(e)[:3])
    said += [ftp.sendcmd(c)[:3] for c in ("PWD", "TYPE I")]
    ftp.set_pasv(True)
    names = sorted(name for name, facts in ftp.mlsd() if facts.get("type") == "file")
    print("ok", " ".join(said), " ".join(names))
except ftplib.all_errors as e:
    print("error", e)
"#;
    let Some(out) = run_tool(work.path(), "python3", &["-c", script, &server.server.port().to_string()]) else {
        return;
    };
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    // OPTS MLST is answered too (200); the listing comes over a data connection that
    // resumed the control connection's session, as the reuse check requires.
    assert_eq!(said.trim_end(), "ok 215 211 200 200 200 200 257 200 big.bin notes.txt", "{}", stderr_of(&out));
}
