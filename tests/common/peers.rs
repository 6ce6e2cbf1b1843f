//! Other FTP servers for the tests to talk to, all on 127.0.0.1: pyftpdlib and vsftpd (each
//! skipped with a printed reason when not installed) and scripted fakes that misbehave.
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A peer FTP server started on a free port of 127.0.0.1, killed when dropped.
pub struct Peer {
    pub child: Child,
    pub port: u16,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn wait_until_listening(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    false
}

/// pyftpdlib serving `root` with anonymous write access (as `python3 -m pyftpdlib -w`), or
/// `None` (with a printed reason).
pub fn pyftpdlib(root: &Path) -> Option<Peer> {
    let probe = Command::new("python3").args(["-c", "import pyftpdlib"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: pyftpdlib is not installed (pip install pyftpdlib; .ci/run does)");
        return None;
    }
    Some(start_pyftpdlib(PYFTPDLIB_PLAIN, &[root]))
}

/// pyftpdlib's TLS_FTPHandler (TLS required on control and data connections) with the
/// certificate `cert` and its `key`, anonymous write access to `root`, or `None` (with a
/// printed reason: it needs pyOpenSSL too).
pub fn pyftpdlib_tls(root: &Path, cert: &Path, key: &Path) -> Option<Peer> {
    let probe = Command::new("python3").args(["-c", "import pyftpdlib, OpenSSL"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: pyftpdlib with TLS needs pyftpdlib and pyopenssl (pip install; .ci/run does)");
        return None;
    }
    Some(start_pyftpdlib(PYFTPDLIB_TLS, &[root, cert, key]))
}

/// pyftpdlib as `python3 -m pyftpdlib -w`: arguments PORT ROOT.
const PYFTPDLIB_PLAIN: &str = r#"
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler as handler
from pyftpdlib.servers import FTPServer
port, root = int(sys.argv[1]), sys.argv[2]
"#;

/// pyftpdlib with TLS required: arguments PORT ROOT CERT KEY.
const PYFTPDLIB_TLS: &str = r#"
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import TLS_FTPHandler as handler
from pyftpdlib.servers import FTPServer
port, root, handler.certfile, handler.keyfile = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
handler.tls_control_required = handler.tls_data_required = True
"#;

/// Starts pyftpdlib from `setup` (which names `port`, `root` and `handler`) with `args`
/// after the port. The port is picked free, then bound by pyftpdlib: a parallel test's
/// listener can take it in between, and checking by connecting would find that listener
/// (a test once uploaded to another test's server). So the server says when it has bound
/// the port itself, and another port is tried when it cannot.
fn start_pyftpdlib(setup: &str, args: &[&Path]) -> Peer {
    let script = format!(
        "{setup}\nauthorizer = DummyAuthorizer()\nauthorizer.add_anonymous(root, perm=\"elradfmwMT\")\n\
         handler.authorizer = authorizer\nserver = FTPServer((\"127.0.0.1\", port), handler)\n\
         print(\"listening\", flush=True)\nserver.serve_forever()\n"
    );
    for _ in 0..3 {
        let port = free_port();
        let mut child = Command::new("python3")
            .args(["-c", &script, &port.to_string()])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 starts");
        let mut said = String::new();
        let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut said);
        if said.trim() == "listening" {
            return Peer { child, port };
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("pyftpdlib did not start on any of 3 ports");
}

/// vsftpd in the foreground with a config written here, anonymous access to `root`
/// (uploads into `root/upload`), or `None` (with a printed reason).
pub fn vsftpd(root: &Path, config_dir: &Path) -> Option<Peer> {
    vsftpd_with(root, config_dir, "")
}

/// vsftpd as [`vsftpd`] with TLS required for anonymous logins and data (`ssl_enable`, and
/// its default `require_ssl_reuse`), using `cert` and `key`.
pub fn vsftpd_tls(root: &Path, config_dir: &Path, cert: &Path, key: &Path) -> Option<Peer> {
    let tls = format!(
        "ssl_enable=YES\nallow_anon_ssl=YES\nforce_anon_logins_ssl=YES\nforce_anon_data_ssl=YES\n\
         rsa_cert_file={}\nrsa_private_key_file={}\n",
        cert.display(),
        key.display()
    );
    vsftpd_with(root, config_dir, &tls)
}

/// vsftpd with the common configuration and `extra` lines. The port is picked free and
/// then bound by vsftpd, so a parallel test can take it in between: then vsftpd exits, and
/// another port is tried.
fn vsftpd_with(root: &Path, config_dir: &Path, extra: &str) -> Option<Peer> {
    let binary = ["/usr/sbin/vsftpd", "/usr/bin/vsftpd"].into_iter().find(|p| Path::new(p).exists());
    let Some(binary) = binary else {
        eprintln!("skipped: vsftpd is not installed (apt-get install vsftpd; .ci/run does)");
        return None;
    };
    for _ in 0..3 {
        let port = free_port();
        let config = config_dir.join("vsftpd.conf");
        fs::write(
            &config,
            format!(
                "listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port={port}\nbackground=NO\n\
                 anonymous_enable=YES\nlocal_enable=NO\nno_anon_password=YES\nanon_root={}\nwrite_enable=YES\n\
                 anon_upload_enable=YES\nanon_mkdir_write_enable=YES\nanon_other_write_enable=YES\nanon_umask=022\nrun_as_launching_user=YES\nseccomp_sandbox=NO\n\
                 pasv_enable=YES\npasv_address=127.0.0.1\nxferlog_enable=NO\n{extra}",
                root.display()
            ),
        )
        .unwrap();
        let mut child = Command::new(binary).arg(&config).stdout(Stdio::null()).stderr(Stdio::null()).spawn().ok()?;
        if wait_until_listening(port, &mut child) {
            return Some(Peer { child, port });
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("vsftpd did not start on any of 3 ports");
}

/// A fake server that logs in anyone, says the file has `size` bytes, sends only `sent`
/// of them on a passive connection and then drops both connections (a server killed
/// mid-download).
pub fn dying_server(size: usize, sent: usize) -> (u16, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (control, _) = listener.accept().unwrap();
        let mut writer = control.try_clone().unwrap();
        let mut reader = BufReader::new(control);
        let data_listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let data_port = data_listener.local_addr().unwrap().port();
        writer.write_all(b"220 dying\r\n").unwrap();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
            let reply = match verb.as_str() {
                "USER" => "331 ok".to_string(),
                "PASS" => "230 ok".into(),
                "TYPE" => "200 ok".into(),
                "SIZE" => format!("213 {size}"),
                "EPSV" => format!("229 Entering Extended Passive Mode (|||{data_port}|)"),
                "RETR" => {
                    writer.write_all(b"150 here it comes\r\n").unwrap();
                    let (mut data, _) = data_listener.accept().unwrap();
                    data.write_all(&vec![b'x'; sent]).unwrap();
                    return; // everything closes: the server died
                }
                _ => "502 no".into(),
            };
            writer.write_all(format!("{reply}\r\n").as_bytes()).unwrap();
        }
    });
    (port, handle)
}

/// How an upload's data connection ended at a fake server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadEnd {
    /// End of stream after this many bytes: the client said the file was whole.
    Clean(usize),
    /// A reset (or other error) after this many bytes: the client abandoned it.
    Reset(usize),
}

/// A scripted FTP server for one or more sessions on 127.0.0.1.
pub struct Fake {
    /// What RETR sends (from REST's offset) and SIZE announces.
    pub content: Vec<u8>,
    /// Connections accepted and closed at once before any is served (a flaky server).
    pub drop_first: usize,
    /// The pause after each 64 KiB of data, both ways (a slow link).
    pub pace: Duration,
    /// Sessions served before the server goes away.
    pub sessions: usize,
    /// RETR sends only this many bytes, then the server dies (every connection closes).
    pub die_after: Option<usize>,
    /// Sessions from this one on (counted from 0) are served whole despite `die_after`
    /// (a server that came back).
    pub healthy_from: usize,
    /// The offset each RETR started from (0, or what REST said), in order.
    pub retr_offsets: std::sync::Arc<std::sync::Mutex<Vec<usize>>>,
    /// What SIZE says, when it is not the content's length (a file that grows).
    pub announced_size: Option<usize>,
    /// A command whose every reply comes only after a pause (a slow server), and the pause.
    pub slow_reply: Option<(&'static str, Duration)>,
}

impl Fake {
    /// A fast, reliable fake serving `content` for `sessions` sessions.
    pub fn serving(content: Vec<u8>, sessions: usize) -> Fake {
        Fake {
            content,
            drop_first: 0,
            pace: Duration::ZERO,
            sessions,
            die_after: None,
            healthy_from: usize::MAX,
            retr_offsets: Default::default(),
            announced_size: None,
            slow_reply: None,
        }
    }
}

/// Starts `fake`; the handle returns how each upload ended.
pub fn fake_server(fake: Fake) -> (u16, thread::JoinHandle<Vec<UploadEnd>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        for _ in 0..fake.drop_first {
            drop(listener.accept().unwrap());
        }
        let mut uploads = Vec::new();
        for index in 0..fake.sessions {
            let (control, _) = listener.accept().unwrap();
            let die_after = fake.die_after.filter(|_| index < fake.healthy_from);
            let session =
                Fake { die_after, content: fake.content.clone(), retr_offsets: fake.retr_offsets.clone(), ..fake };
            fake_session(&session, control, &mut uploads);
        }
        uploads
    });
    (port, handle)
}

fn fake_session(fake: &Fake, control: TcpStream, uploads: &mut Vec<UploadEnd>) {
    let mut writer = control.try_clone().unwrap();
    let mut reader = BufReader::new(control);
    let mut data_listener = None;
    let mut active_target: Option<std::net::SocketAddr> = None;
    let mut offset = 0usize;
    let _ = writer.write_all(b"220 fake\r\n");
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut words = line.split_whitespace();
        let verb = words.next().unwrap_or("").to_ascii_uppercase();
        if let Some((slow, pause)) = fake.slow_reply
            && verb == slow
        {
            thread::sleep(pause);
        }
        let reply = match verb.as_str() {
            "USER" => "331 ok".to_string(),
            "PASS" => "230 ok".into(),
            "TYPE" | "NOOP" => "200 ok".into(),
            "SIZE" => format!("213 {}", fake.announced_size.unwrap_or(fake.content.len())),
            "REST" => {
                offset = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                format!("350 restarting at {offset}")
            }
            "EPSV" => {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let port = listener.local_addr().unwrap().port();
                data_listener = Some(listener);
                format!("229 Entering Extended Passive Mode (|||{port}|)")
            }
            "PORT" => {
                let n: Vec<u16> = words.next().unwrap_or("").split(',').filter_map(|x| x.parse().ok()).collect();
                if n.len() != 6 {
                    "501 bad".into()
                } else {
                    let ip = std::net::Ipv4Addr::new(n[0] as u8, n[1] as u8, n[2] as u8, n[3] as u8);
                    active_target = Some((ip, n[4] * 256 + n[5]).into());
                    "200 ok".into()
                }
            }
            "RETR" | "STOR" => {
                let _ = writer.write_all(b"150 go\r\n");
                let data = match (data_listener.take(), active_target.take()) {
                    (Some(listener), _) => listener.accept().map(|(data, _)| data),
                    (None, Some(target)) => TcpStream::connect(target),
                    (None, None) => return,
                };
                let Ok(mut data) = data else { return };
                let ok = if verb == "RETR" {
                    fake.retr_offsets.lock().unwrap().push(offset);
                    let from = offset.min(fake.content.len());
                    let to = fake.die_after.map_or(fake.content.len(), |n| (from + n).min(fake.content.len()));
                    let sent = fake.content[from..to].chunks(64 * 1024).all(|chunk| {
                        thread::sleep(fake.pace);
                        data.write_all(chunk).is_ok()
                    });
                    if fake.die_after.is_some() {
                        return; // the server died: everything closes
                    }
                    sent
                } else {
                    let mut received = 0;
                    let mut buffer = vec![0u8; 64 * 1024];
                    let end = loop {
                        thread::sleep(fake.pace);
                        match data.read(&mut buffer) {
                            Ok(0) => break UploadEnd::Clean(received),
                            Ok(n) => received += n,
                            Err(_) => break UploadEnd::Reset(received),
                        }
                    };
                    let clean = matches!(end, UploadEnd::Clean(_));
                    uploads.push(end);
                    clean
                };
                offset = 0;
                drop(data);
                if ok { "226 done".into() } else { "426 aborted".into() }
            }
            "QUIT" => {
                let _ = writer.write_all(b"221 bye\r\n");
                return;
            }
            _ => "502 not here".into(),
        };
        if writer.write_all(format!("{reply}\r\n").as_bytes()).is_err() {
            return;
        }
    }
}
