//! The benchmark's load client: the same requests for every server under test, so their
//! timings compare. Built on minftp's own control connection and FTP session.
//!
//! ```text
//! ftpload logins HOST PORT COUNT                 COUNT sequential logins (USER, PASS, QUIT)
//! ftpload downloads HOST PORT COUNT FILE SHA256  COUNT concurrent downloads of FILE, each checked
//! ftpload mixed HOST PORT CLIENTS SECONDS ROOT [SERVER_PID]
//!                                                CLIENTS sessions for SECONDS doing login, RETR
//!                                                of a random file of ROOT (the served folder),
//!                                                STOR into ROOT/upload and RETR back, LIST,
//!                                                QUIT; all sha256-checked. With SERVER_PID, the
//!                                                server's descriptors, threads and memory
//!                                                before and after.
//! ftpload ceiling sendfile FILE                FILE sent over a loopback connection with
//!                                                minftp's own sendfile loop, received with its
//!                                                own receive loop and dropped: no FTP at all
//! ftpload ceiling memory BYTES                   the same with BYTES written from memory
//! ftpload upload-memory HOST PORT PATH BYTES     one STOR of BYTES zeros written from memory
//!                                                (no file read): what a server can take in
//! ```
//! The ceilings bound what any server or client can reach here: the kernel's loopback path
//! with one sender and one receiver, and the server's own receive path.
//!
//! For the concurrent downloads the sessions log in one after another (each starts when the
//! previous one is logged in: 300 connections opened in the same instant overflow the
//! accept backlog of some servers, pyftpdlib's is 100, and that would measure the kernel's
//! SYN queue instead of the servers), then wait at a barrier until every one is logged in,
//! and only then all download at once; the time is that of the downloads, from the barrier
//! on. (Before the barrier, each session finished its download before the next had logged
//! in, and "300 concurrent downloads" never overlapped.)
//! Prints one line: `seconds=S ok=N failed=M`, and for the downloads `held=H`, the sessions
//! that were logged in at once when the downloads began.

use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

mod load;

use minftp::client::control::{ControlConnection, ServerReply};
use minftp::client::ftp::{DataMode, FtpSession};
use minftp::protocol::data::{STREAM_RECEIVE_BUFFER, SendMethod, receive, send_file};
use minftp::protocol::transport::Channel;
use sha2::{Digest, Sha256};

const TIMEOUT: Duration = Duration::from_secs(120);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (ok, failed, seconds) = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["logins", host, port, count] => logins(host, parse(port), parse(count)),
        ["downloads", host, port, count, file, sha256] => {
            let (ok, failed, seconds, held) = downloads(host, parse(port), parse(count), file, sha256);
            println!("seconds={seconds:.4} ok={ok} failed={failed} held={held}");
            return if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE };
        }
        ["ceiling", "sendfile", file] => ceiling(Sender::File(file)),
        ["ceiling", "memory", bytes] => ceiling(Sender::Memory(parse(bytes))),
        ["upload-memory", host, port, path, bytes] => upload_from_memory(host, parse(port), path, parse(bytes)),
        ["mixed", host, port, clients, seconds, root, ref pid @ ..] => {
            return mixed(host, parse(port), parse(clients), parse(seconds), root, pid.first().map(|p| parse(p)));
        }
        _ => {
            eprintln!(
                "usage: ftpload logins HOST PORT COUNT | downloads HOST PORT COUNT FILE SHA256 | \
                 ceiling sendfile FILE | ceiling memory BYTES | upload-memory HOST PORT PATH BYTES | mixed ..."
            );
            return ExitCode::from(2);
        }
    };
    println!("seconds={seconds:.4} ok={ok} failed={failed}");
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn mixed(host: &str, port: u16, clients: usize, seconds: u64, root: &str, server: Option<u32>) -> ExitCode {
    let files = load::served_files(std::path::Path::new(root)).expect("the served folder is readable");
    let scratch = std::env::temp_dir().join(format!("ftpload-{}", std::process::id()));
    let before = server.map(|pid| load::ProcessUsage::of(pid).expect("the server process"));
    let started = Instant::now();
    let report = load::mixed_load(host, port, clients, Duration::from_secs(seconds), &files, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    println!(
        "seconds={:.1} sessions={} transfers={} bytes={} failed={}",
        started.elapsed().as_secs_f64(),
        report.sessions,
        report.transfers,
        report.bytes,
        report.failures.len()
    );
    for failure in report.failures.iter().take(20) {
        eprintln!("failure: {failure}");
    }
    if let (Some(pid), Some(before)) = (server, before) {
        // Sessions end asynchronously on the server: give them a moment to finish.
        thread::sleep(Duration::from_secs(2));
        let after = load::ProcessUsage::of(pid).expect("the server process");
        println!("server before: {before:?}");
        println!("server after:  {after:?}");
    }
    if report.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// What the ceiling's sending side sends.
enum Sender<'a> {
    File(&'a str),
    Memory(u64),
}

/// Bytes written per call when sending from memory (the size of minftp's file buffer).
const MEMORY_CHUNK: usize = 1024 * 1024;

/// One loopback connection: a thread sends, this one receives into minftp's stream buffer
/// and drops the bytes; the time runs from connect to the end of the stream.
fn ceiling(what: Sender) -> (usize, usize, f64) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let address = listener.local_addr().expect("its address");
    let file = match what {
        Sender::File(path) => Some(std::fs::File::open(path).expect("the file to send")),
        Sender::Memory(_) => None,
    };
    let len = what_len(&what);
    let started = Instant::now();
    let sender = thread::spawn(move || -> io::Result<()> {
        let (socket, _) = listener.accept()?;
        socket.set_nodelay(true)?;
        match (file, len) {
            (Some(file), len) => {
                send_file(SendMethod::Sendfile, &file, 0, len, &Channel::plain(socket), TIMEOUT, &mut |_| {})
                    .map_err(|e| io::Error::other(e.to_string()))?;
            }
            (None, len) => {
                let chunk = vec![0u8; MEMORY_CHUNK];
                let mut socket = socket;
                let mut left = len;
                while left > 0 {
                    let n = left.min(MEMORY_CHUNK as u64) as usize;
                    socket.write_all(&chunk[..n])?;
                    left -= n as u64;
                }
            }
        }
        Ok(())
    });
    let data = Channel::plain(TcpStream::connect(address).expect("connect to the loopback sender"));
    let received = receive(&data, &mut io::sink(), STREAM_RECEIVE_BUFFER, &mut |_| {});
    let seconds = started.elapsed().as_secs_f64();
    let sent = sender.join().expect("the sender thread");
    let ok = received.is_ok() && sent.is_ok();
    (usize::from(ok), usize::from(!ok), seconds)
}

fn what_len(what: &Sender) -> u64 {
    match what {
        Sender::File(path) => std::fs::metadata(path).expect("the file to send").len(),
        Sender::Memory(len) => *len,
    }
}

/// Logs in, stores `bytes` zeros as `path` over EPSV, written from memory in 1 MiB calls
/// (no file is read, so only the server and the kernel bound it); timed from STOR to the
/// server's final reply.
fn upload_from_memory(host: &str, port: u16, path: &str, bytes: u64) -> (usize, usize, f64) {
    let stored = || -> io::Result<f64> {
        let mut control = logged_in(host, port)?;
        expect(control.exchange("TYPE I")?, &[200])?;
        let passive = expect(control.exchange("EPSV")?, &[229])?;
        let text = passive.text();
        let data_port: u16 = text
            .split('|')
            .nth(3)
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| io::Error::other(format!("no port in {text}")))?;
        let started = Instant::now();
        let mut data = TcpStream::connect((host, data_port))?;
        expect(control.exchange(&format!("STOR {path}"))?, &[125, 150])?;
        let chunk = vec![0u8; MEMORY_CHUNK];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(MEMORY_CHUNK as u64) as usize;
            data.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        drop(data);
        expect(control.read_server_reply()?, &[226, 250])?;
        let seconds = started.elapsed().as_secs_f64();
        let _ = control.exchange("QUIT");
        Ok(seconds)
    };
    match stored() {
        Ok(seconds) => (1, 0, seconds),
        Err(err) => {
            eprintln!("upload failed: {err}");
            (0, 1, 0.0)
        }
    }
}

fn parse<T: std::str::FromStr>(text: &str) -> T {
    text.parse().unwrap_or_else(|_| panic!("not a number: {text}"))
}

/// `reply` when its code is one of `codes`, else an error naming it.
fn expect(reply: ServerReply, codes: &[u16]) -> io::Result<ServerReply> {
    if codes.contains(&reply.code) { Ok(reply) } else { Err(io::Error::other(format!("unexpected reply {reply}"))) }
}

/// Connects and logs in anonymously: greeting, USER, PASS, each reply checked.
fn logged_in(host: &str, port: u16) -> io::Result<ControlConnection> {
    let mut control = ControlConnection::connect(host, port, TIMEOUT)?;
    expect(control.read_server_reply()?, &[220])?;
    expect(control.exchange("USER anonymous")?, &[331, 230])?;
    expect(control.exchange("PASS bench@")?, &[230])?;
    Ok(control)
}

/// One login: connect, greeting, USER, PASS, QUIT, each reply checked.
fn login(host: &str, port: u16) -> io::Result<()> {
    expect(logged_in(host, port)?.exchange("QUIT")?, &[221]).map(drop)
}

fn logins(host: &str, port: u16, count: usize) -> (usize, usize, f64) {
    let started = Instant::now();
    let ok = (0..count).filter(|_| login(host, port).map_err(|e| eprintln!("login failed: {e}")).is_ok()).count();
    (ok, count - ok, started.elapsed().as_secs_f64())
}

fn download(
    host: &str,
    port: u16,
    file: &str,
    logged_in: mpsc::Sender<()>,
    everyone_in: &Barrier,
    held: &AtomicUsize,
) -> Result<String, String> {
    let session = FtpSession::open(host, port, "anonymous", "bench@", DataMode::Passive, TIMEOUT);
    if session.is_ok() {
        held.fetch_add(1, Ordering::SeqCst);
    }
    let _ = logged_in.send(());
    // Also after a failed login, or the others would wait for ever.
    everyone_in.wait();
    let mut session = session.map_err(|e| e.to_string())?;
    let mut sink = load::HashingSink(Sha256::new());
    session.retrieve(file, 0, &mut sink, STREAM_RECEIVE_BUFFER, &mut |_| {}).map_err(|e| e.to_string())?;
    session.quit();
    Ok(sink.0.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn downloads(host: &str, port: u16, count: usize, file: &str, sha256: &str) -> (usize, usize, f64, usize) {
    let everyone_in = Arc::new(Barrier::new(count + 1));
    let held = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::with_capacity(count);
    for _ in 0..count {
        let (host, file, everyone_in, held) =
            (host.to_string(), file.to_string(), Arc::clone(&everyone_in), Arc::clone(&held));
        let (logged_in, wait) = mpsc::channel();
        let worker = thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || download(&host, port, &file, logged_in, &everyone_in, &held))
            .expect("a thread");
        let _ = wait.recv();
        workers.push(worker);
    }
    everyone_in.wait();
    let held = held.load(Ordering::SeqCst);
    let started = Instant::now();
    let mut ok = 0;
    for worker in workers {
        match worker.join().expect("no panic") {
            Ok(digest) if digest == sha256 => ok += 1,
            Ok(digest) => eprintln!("wrong bytes: sha256 {digest}"),
            Err(err) => eprintln!("download failed: {err}"),
        }
    }
    (ok, count - ok, started.elapsed().as_secs_f64(), held)
}
