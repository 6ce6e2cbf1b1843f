//! The mixed load of the reliability suite: many sessions at once, each again and again
//! logging in, downloading a random served file (sha256-checked), uploading random bytes
//! and reading them back (sha256-checked), listing, and quitting, until time is up.
//! Shared by `ftpload mixed` (the full run) and `tests/load.rs` (the short CI run).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use minftp::client::ftp::{DataMode, FtpSession};
use minftp::protocol::data::STREAM_RECEIVE_BUFFER;
use sha2::{Digest, Sha256};

/// Numbers every session of the process, so upload names never collide across runs.
static NEXT_SESSION: AtomicUsize = AtomicUsize::new(0);

/// What a load run did.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub sessions: usize,
    pub transfers: usize,
    pub bytes: u64,
    pub failures: Vec<String>,
}

/// A served file and its sha256.
#[derive(Debug, Clone)]
pub struct ServedFile {
    pub name: String,
    pub sha256: String,
}

/// The regular files directly in `root` (not in `upload/`), with their digests.
pub fn served_files(root: &Path) -> io::Result<Vec<ServedFile>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let name = entry.file_name().to_string_lossy().into_owned();
            files.push(ServedFile { name, sha256: hex(&Sha256::digest(fs::read(entry.path())?)) });
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A writer that only hashes what it is given.
pub struct HashingSink(pub Sha256);

impl Write for HashingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A small deterministic generator (xorshift), so runs need no randomness crate.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs `clients` sessions against `host:port` for `duration`; uploads go to `upload/` on
/// the server, and local copies of them are made in `scratch`.
pub fn mixed_load(
    host: &str,
    port: u16,
    clients: usize,
    duration: Duration,
    files: &[ServedFile],
    scratch: &Path,
) -> LoadReport {
    let report = Mutex::new(LoadReport::default());
    let deadline = Instant::now() + duration;
    thread::scope(|scope| {
        for client in 0..clients {
            let report = &report;
            let scratch = scratch.join(format!("client-{client}"));
            thread::Builder::new()
                .stack_size(512 * 1024)
                .spawn_scoped(scope, move || {
                    let mut random = Xorshift(0x9E37_79B9_7F4A_7C15 ^ (client as u64 + 1));
                    let mut round = 0;
                    while Instant::now() < deadline {
                        let outcome = one_session(host, port, files, &scratch, client, round, &mut random);
                        let mut report = report.lock().unwrap();
                        report.sessions += 1;
                        match outcome {
                            Ok((transfers, bytes)) => {
                                report.transfers += transfers;
                                report.bytes += bytes;
                            }
                            Err(err) => report.failures.push(format!("client {client} round {round}: {err}")),
                        }
                        round += 1;
                    }
                })
                .expect("a thread");
        }
    });
    report.into_inner().unwrap()
}

fn one_session(
    host: &str,
    port: u16,
    files: &[ServedFile],
    scratch: &PathBuf,
    client: usize,
    round: usize,
    random: &mut Xorshift,
) -> Result<(usize, u64), String> {
    let mut session = FtpSession::open(host, port, "anonymous", "load@", DataMode::Passive, Duration::from_secs(60))
        .map_err(|e| e.to_string())?;
    let file = &files[random.next() as usize % files.len()];
    let mut sink = HashingSink(Sha256::new());
    let mut bytes =
        session.retrieve(&file.name, 0, &mut sink, STREAM_RECEIVE_BUFFER, &mut |_| {}).map_err(|e| e.to_string())?;
    if hex(&sink.0.finalize()) != file.sha256 {
        return Err(format!("{} arrived with other bytes", file.name));
    }
    let size = (random.next() % (256 * 1024)) as usize + 1;
    let content: Vec<u8> = (0..size).map(|_| random.next() as u8).collect();
    fs::create_dir_all(scratch).map_err(|e| e.to_string())?;
    let local = scratch.join("upload.bin");
    fs::write(&local, &content).map_err(|e| e.to_string())?;
    let remote = format!("upload/s{}-c{client}-r{round}.bin", NEXT_SESSION.fetch_add(1, Ordering::Relaxed));
    let opened = fs::File::open(&local).map_err(|e| e.to_string())?;
    bytes += session.store(&remote, 0, &opened, size as u64, &mut |_| {}).map_err(|e| e.to_string())?;
    let mut back = Vec::new();
    bytes += session.retrieve(&remote, 0, &mut back, STREAM_RECEIVE_BUFFER, &mut |_| {}).map_err(|e| e.to_string())?;
    if back != content {
        return Err(format!("{remote} came back with other bytes"));
    }
    let listing = session.list(None).map_err(|e| e.to_string())?;
    if !String::from_utf8_lossy(&listing).contains(&format!(" {}", file.name)) {
        return Err("the listing lacks a served file".into());
    }
    session.quit();
    Ok((3, bytes))
}

/// What a process holds, from /proc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessUsage {
    pub open_files: usize,
    pub threads: usize,
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
}

impl ProcessUsage {
    pub fn of(pid: u32) -> io::Result<ProcessUsage> {
        let count = |dir: &str| fs::read_dir(format!("/proc/{pid}/{dir}")).map(|d| d.count());
        let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        Ok(ProcessUsage {
            open_files: count("fd")?,
            threads: count("task")?,
            rss_kib: field("VmRSS:"),
            peak_rss_kib: field("VmHWM:"),
        })
    }
}
