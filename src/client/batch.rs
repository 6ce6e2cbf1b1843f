//! Many files at once: `get` and `put` of several names, of remote globs (`'*.csv'`) and of
//! whole trees (`-r`), over N control connections (`-j`), with one aggregate progress bar,
//! `--newer` (skip what is already the same) and a summary. One file's failure does not
//! stop the others; the result says whether all succeeded.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use color_eyre::eyre::{Result, WrapErr, eyre};

use super::ftp::{FtpError, FtpSession};
use super::listing::{Modified, RemoteEntry, RemoteKind, has_glob, split_remote};
use super::oneshot::{Connection, Recovery, explain_download_failure, explain_upload_failure, with_retries};
use super::progress::BatchProgress;
use crate::protocol::data::FILE_RECEIVE_BUFFER;
use crate::protocol::timestamp::unix_seconds;
use crate::write_policy::{Start, Writing};

/// How a batch runs.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Control connections at once (`-j`).
    pub parallel: usize,
    /// Skip a file whose copy has the same size and is not older (`--newer`).
    pub newer: bool,
    pub recovery: Recovery,
}

/// The deepest tree a mirror descends: deeper is a link loop on the server, not a tree.
const MAX_DEPTH: usize = 64;

/// One file to move.
#[derive(Debug, Clone)]
enum Transfer {
    Download { remote: String, local: PathBuf, size: Option<u64>, modified: Option<Modified> },
    Upload { local: PathBuf, remote: String, size: u64, modified: i64 },
}

impl Transfer {
    fn size(&self) -> u64 {
        match self {
            Transfer::Download { size, .. } => size.unwrap_or(0),
            Transfer::Upload { size, .. } => *size,
        }
    }

    /// How the file is named in lines and messages: its remote path.
    fn label(&self) -> &str {
        match self {
            Transfer::Download { remote, .. } | Transfer::Upload { remote, .. } => remote,
        }
    }
}

/// What a batch will do, worked out before any file moves.
#[derive(Default)]
struct Plan {
    transfers: Vec<Transfer>,
    /// Files whose copy is already the same (`--newer`).
    up_to_date: usize,
    /// Entries not transferred on purpose, with why (symlinks, special files).
    skipped: Vec<String>,
    /// Names that failed before any transfer, with the error.
    failed: Vec<String>,
    /// Remote folders of a mirror still to be listed.
    folders: Vec<Folder>,
}

/// A remote folder of a mirror to list, where its copy goes, and how deep it is.
#[derive(Debug, Clone)]
struct Folder {
    remote: String,
    local: PathBuf,
    depth: usize,
}

impl Plan {
    /// Takes in what another part of the planning found.
    fn absorb(&mut self, other: Plan) {
        self.transfers.extend(other.transfers);
        self.up_to_date += other.up_to_date;
        self.skipped.extend(other.skipped);
        self.failed.extend(other.failed);
        self.folders.extend(other.folders);
    }
}

/// A remote download named on the command line: a file, a folder (with `-r`), or a glob.
/// With `into_folder` false (one folder named, `-o` given), the folder's contents go into
/// `local` itself, as `lftp mirror DIR LOCALDIR` does; else each name goes into `local`.
pub fn get_many(
    connection: &Connection,
    remotes: &[String],
    local: &Path,
    into_folder: bool,
    recursive: bool,
    options: &BatchOptions,
) -> Result<()> {
    let started = Instant::now();
    if into_folder {
        fs::create_dir_all(local).wrap_err_with(|| format!("cannot create the folder {}", local.display()))?;
    }
    let mut session = open(connection)?;
    let mut plan = Plan::default();
    for remote in remotes {
        let planned = plan_download(&mut session, remote, local, into_folder, recursive, options.newer, &mut plan);
        if let Err(err) = planned {
            plan.failed.push(format!("{}", explain_download_failure(err, remote)));
        }
    }
    let sessions = list_folders(connection, session, &mut plan, options);
    run(connection, sessions, plan, options, "downloaded", started)
}

/// Uploads local files and (with `-r`) folders: each into the remote folder `remote` (the
/// login folder when empty), or, with `into_folder` false (one local path and a remote
/// name), as `remote` itself, as `lftp mirror -R LOCALDIR REMOTEDIR` does. Folders are made
/// as needed for trees, and above `remote` with `create_dirs`.
pub fn put_many(
    connection: &Connection,
    locals: &[PathBuf],
    remote: &str,
    into_folder: bool,
    recursive: bool,
    create_dirs: bool,
    options: &BatchOptions,
) -> Result<()> {
    let started = Instant::now();
    let mut session = open(connection)?;
    let mut plan = Plan::default();
    let folder = if into_folder { remote } else { remote.rsplit_once('/').map_or("", |(parent, _)| parent) };
    if (create_dirs || recursive) && !folder.is_empty() {
        make_folders(&mut session, folder).map_err(|err| eyre!(err).wrap_err(format!("cannot create {folder:?}")))?;
    }
    for local in locals {
        let name = local.file_name().and_then(|n| n.to_str());
        let Some(name) = name else {
            plan.failed.push(format!("{}: the name is not UTF-8, or names no file", local.display()));
            continue;
        };
        let target = if into_folder { remote_join(remote, name) } else { remote.to_string() };
        if let Err(err) = plan_upload(&mut session, local, &target, recursive, options.newer, &mut plan) {
            plan.failed.push(format!("cannot upload {}: {err:#}", local.display()));
        }
    }
    run(connection, vec![session], plan, options, "uploaded", started)
}

fn open(connection: &Connection) -> Result<FtpSession> {
    connection.open_ftp().map_err(|err| super::oneshot::explain_session_failure(err, connection))
}

/// Creates `path` and each folder above it on the server (MKD; existing ones are fine).
pub fn make_folders(session: &mut FtpSession, path: &str) -> Result<(), FtpError> {
    let mut so_far = String::new();
    for part in path.split('/') {
        if !so_far.is_empty() || path.starts_with('/') {
            so_far.push('/');
        }
        so_far.push_str(part);
        if !part.is_empty() && part != "." {
            session.make_folder(&so_far)?;
        }
    }
    Ok(())
}

/// `folder/name`, or `name` in the login folder.
fn remote_join(folder: &str, name: &str) -> String {
    match folder {
        "" => name.to_string(),
        f if f.ends_with('/') => format!("{f}{name}"),
        f => format!("{f}/{name}"),
    }
}

fn plan_download(
    session: &mut FtpSession,
    remote: &str,
    local: &Path,
    into_folder: bool,
    recursive: bool,
    newer: bool,
    plan: &mut Plan,
) -> Result<(), FtpError> {
    let (parent, last) = split_remote(remote);
    if has_glob(last) {
        let matches = session.entries_matching(parent, last)?;
        // A name that only looks like a pattern (`report[1].txt`) is fetched as it is.
        if let Some(size) = session.size(remote).filter(|_| matches.is_empty()) {
            add_named_file(session, remote, last, Some(size), local, into_folder, newer, plan);
            return Ok(());
        }
        if matches.is_empty() {
            plan.failed.push(format!("no name matches {remote:?}"));
        }
        for entry in matches {
            add_entry(parent, &entry, local, recursive, newer, 0, plan);
        }
        return Ok(());
    }
    let is_folder = remote.ends_with('/') || last.is_empty() || session.is_folder(remote)?;
    if !is_folder {
        let size = session.size(remote);
        add_named_file(session, remote, last, size, local, into_folder, newer, plan);
        return Ok(());
    }
    if !recursive {
        plan.failed.push(format!("{remote:?} is a folder: add -r to fetch it, or list it with `minftp ls`"));
        return Ok(());
    }
    let target = if into_folder && !last.is_empty() { local.join(last) } else { local.to_path_buf() };
    // `/` stays the server's root; `dir/` is `dir`; nothing named is the login folder.
    let folder = match remote.trim_end_matches('/') {
        "" if remote.starts_with('/') => "/",
        trimmed => trimmed,
    };
    plan.folders.push(Folder { remote: folder.to_string(), local: target, depth: 0 });
    Ok(())
}

/// Plans a file named on the command line (`size` from SIZE; its time is asked with MDTM):
/// saved as `name` in `local`, or as `local` itself when one file was named with `-o`.
#[allow(clippy::too_many_arguments)]
fn add_named_file(
    session: &mut FtpSession,
    remote: &str,
    name: &str,
    size: Option<u64>,
    local: &Path,
    into_folder: bool,
    newer: bool,
    plan: &mut Plan,
) {
    let target = if into_folder || local.is_dir() { local.join(name) } else { local.to_path_buf() };
    let modified = session.modified(remote);
    add_file(remote.to_string(), target, size, modified, newer, plan);
}

/// Plans one listed entry of `folder`: a file, a folder (mirrored with `recursive`), or
/// something skipped; names that cannot be a local file name fail.
fn add_entry(
    folder: &str,
    entry: &RemoteEntry,
    local: &Path,
    recursive: bool,
    newer: bool,
    depth: usize,
    plan: &mut Plan,
) {
    let shown = String::from_utf8_lossy(&entry.name);
    let Some(name) = entry.utf8_name().filter(|_| entry.is_safe_name()) else {
        let why = if entry.is_safe_name() { "is not UTF-8" } else { "cannot be a local file name" };
        plan.failed.push(format!("{:?} in {folder:?} {why}; not fetched", shown));
        return;
    };
    let remote = remote_join(folder, name);
    let target = local.join(std::ffi::OsStr::from_bytes(&entry.name));
    match &entry.kind {
        RemoteKind::File => add_file(remote, target, entry.size, entry.modified, newer, plan),
        RemoteKind::Directory if recursive => plan.folders.push(Folder { remote, local: target, depth: depth + 1 }),
        RemoteKind::Directory => plan.skipped.push(format!("{remote}/ (a folder: add -r)")),
        RemoteKind::Symlink(_) => plan.skipped.push(format!("{remote} (a symlink on the server: not followed)")),
        RemoteKind::Other => plan.skipped.push(format!("{remote} (not a regular file)")),
    }
}

fn add_file(
    remote: String,
    local: PathBuf,
    size: Option<u64>,
    modified: Option<Modified>,
    newer: bool,
    plan: &mut Plan,
) {
    if newer && local_is_current(&local, size, modified) {
        plan.up_to_date += 1;
        return;
    }
    plan.transfers.push(Transfer::Download { remote, local, size, modified });
}

/// `--newer` for a download: the local file has the remote size and is not older than the
/// remote file (within the listing's precision). Without a remote size or time, only what
/// is known is compared.
fn local_is_current(local: &Path, size: Option<u64>, modified: Option<Modified>) -> bool {
    let Ok(metadata) = fs::metadata(local) else { return false };
    let local_time = metadata.modified().map_or(0, unix_seconds);
    metadata.is_file()
        && size.is_none_or(|size| size == metadata.len())
        && modified.is_none_or(|m| m.not_newer_than(local_time))
}

/// Lists every folder of the mirrors in `plan` (and the folders found in them) on up to
/// `options.parallel` sessions at once, `first` among them, making each local folder
/// (empty ones too) and planning what it holds; returns the sessions, for the transfers.
/// Over a network each listing costs round trips, so a tree of many folders lists as many
/// times faster as there are sessions. A session the server refuses (a cap on sessions
/// per client) leaves the work to the others.
fn list_folders(
    connection: &Connection,
    first: FtpSession,
    plan: &mut Plan,
    options: &BatchOptions,
) -> Vec<FtpSession> {
    if plan.folders.is_empty() {
        return vec![first];
    }
    let listers = options.parallel.max(1);
    let pending = plan.folders.drain(..).collect();
    let state = Mutex::new(Listing { pending, busy: 0, alive: listers, found: Plan::default() });
    let changed = Condvar::new();
    let mut sessions = Vec::new();
    std::thread::scope(|scope| {
        let mut first = Some(first);
        let listers: Vec<_> = (0..listers)
            .map(|_| {
                let mut session = first.take();
                let (state, changed) = (&state, &changed);
                scope.spawn(move || {
                    list_worker(connection, &mut session, state, changed, options.newer);
                    session
                })
            })
            .collect();
        sessions = listers.into_iter().filter_map(|lister| lister.join().ok().flatten()).collect();
    });
    let Listing { found, .. } = state.into_inner().expect("no lister panics holding it");
    plan.absorb(found);
    sessions
}

/// The shared state of [`list_folders`]: folders waiting, listers at work and alive, what
/// was found.
struct Listing {
    pending: VecDeque<Folder>,
    busy: usize,
    alive: usize,
    found: Plan,
}

/// One lister: lists folders until none is waiting and no other lister may add more.
fn list_worker(
    connection: &Connection,
    session: &mut Option<FtpSession>,
    state: &Mutex<Listing>,
    changed: &Condvar,
    newer: bool,
) {
    let lock = || state.lock().expect("no lister panics holding it");
    loop {
        let folder = {
            let mut listing = lock();
            loop {
                if let Some(folder) = listing.pending.pop_front() {
                    listing.busy += 1;
                    break folder;
                }
                if listing.busy == 0 {
                    listing.alive -= 1;
                    changed.notify_all();
                    return;
                }
                listing = changed.wait(listing).expect("no lister panics holding it");
            }
        };
        let mut found = Plan::default();
        match session.take().map_or_else(|| connection.open_ftp(), Ok) {
            Ok(mut open) => {
                if list_one(&mut open, &folder, newer, &mut found) {
                    *session = Some(open);
                }
            }
            Err(err) => {
                // Refused (a cap on sessions per client) while another lister lives: it
                // lists this folder. Decided under the lock, so that a lister is always left.
                let mut listing = lock();
                if listing.alive > 1 {
                    listing.pending.push_front(folder);
                    listing.busy -= 1;
                    listing.alive -= 1;
                    changed.notify_all();
                    return;
                }
                drop(listing);
                found.failed.push(format!("cannot list {:?}: {err}", folder.remote));
            }
        }
        let mut listing = lock();
        listing.pending.extend(found.folders.drain(..));
        listing.found.absorb(found);
        listing.busy -= 1;
        changed.notify_all();
    }
}

/// Lists one folder of a mirror into `found`: its local copy made, its entries planned.
/// Returns whether the session is still fit to use (not broken on the network).
fn list_one(session: &mut FtpSession, folder: &Folder, newer: bool, found: &mut Plan) -> bool {
    let Folder { remote, local, depth } = folder;
    if *depth > MAX_DEPTH {
        found.failed.push(format!("{remote:?} is more than {MAX_DEPTH} folders deep (a link loop?); not fetched"));
        return true;
    }
    if let Err(err) = fs::create_dir_all(local) {
        found.failed.push(format!("cannot create the folder {}: {err}", local.display()));
        return true;
    }
    match session.entries(remote) {
        Ok(entries) => {
            for entry in &entries {
                add_entry(remote, entry, local, true, newer, *depth, found);
            }
            true
        }
        Err(err) => {
            found.failed.push(format!("cannot list {remote:?}: {err}"));
            !matches!(err, FtpError::Io { .. } | FtpError::TimedOut { .. })
        }
    }
}

fn plan_upload(
    session: &mut FtpSession,
    local: &Path,
    remote: &str,
    recursive: bool,
    newer: bool,
    plan: &mut Plan,
) -> Result<()> {
    let metadata = fs::metadata(local)?;
    if metadata.is_dir() {
        if !recursive {
            return Err(eyre!("it is a folder: add -r to upload it"));
        }
        upload_folder(session, local, remote, newer, 0, plan);
        return Ok(());
    }
    let (parent, name) = remote.rsplit_once('/').unwrap_or(("", remote));
    let existing = if newer { entries_or_none(session, parent) } else { Vec::new() };
    add_upload(
        local.to_path_buf(),
        remote.to_string(),
        &metadata,
        existing.iter().find(|e| e.name == name.as_bytes()),
        plan,
    );
    Ok(())
}

/// The entries of a remote folder, or none when it cannot be listed (it does not exist yet).
fn entries_or_none(session: &mut FtpSession, folder: &str) -> Vec<RemoteEntry> {
    session.entries(folder).unwrap_or_default()
}

fn add_upload(local: PathBuf, remote: String, metadata: &fs::Metadata, there: Option<&RemoteEntry>, plan: &mut Plan) {
    if !metadata.is_file() {
        plan.skipped.push(format!("{} (not a regular file)", local.display()));
        return;
    }
    let modified = metadata.modified().map_or(0, unix_seconds);
    let current = there.is_some_and(|entry| {
        entry.kind == RemoteKind::File
            && entry.size == Some(metadata.len())
            && entry.modified.is_some_and(|m| m.seconds + m.precision.seconds() > modified)
    });
    if current {
        plan.up_to_date += 1;
    } else {
        plan.transfers.push(Transfer::Upload { local, remote, size: metadata.len(), modified });
    }
}

/// Makes the remote folder `remote` and plans the upload of the local tree `local` into it.
/// Symlinks to files are uploaded as files; symlinks to folders are not followed (a loop
/// would never end).
fn upload_folder(session: &mut FtpSession, local: &Path, remote: &str, newer: bool, depth: usize, plan: &mut Plan) {
    if depth > MAX_DEPTH {
        plan.failed.push(format!("{} is more than {MAX_DEPTH} folders deep; not uploaded", local.display()));
        return;
    }
    if let Err(err) = session.make_folder(remote) {
        plan.failed.push(format!("cannot create the remote folder {remote:?}: {err}"));
        return;
    }
    let existing = if newer { entries_or_none(session, remote) } else { Vec::new() };
    let mut children: Vec<_> = match fs::read_dir(local) {
        Ok(read) => read.filter_map(|e| e.ok()).collect(),
        Err(err) => {
            plan.failed.push(format!("cannot read the folder {}: {err}", local.display()));
            return;
        }
    };
    children.sort_by_key(|e| e.file_name());
    for child in children {
        let path = child.path();
        let Some(name) = child.file_name().to_str().map(str::to_string) else {
            plan.failed.push(format!("{} has a name that is not UTF-8; not uploaded", path.display()));
            continue;
        };
        let child_remote = remote_join(remote, &name);
        let is_link = child.file_type().is_ok_and(|t| t.is_symlink());
        match fs::metadata(&path) {
            Ok(m) if m.is_dir() && is_link => plan.skipped.push(format!("{} (a symlink to a folder)", path.display())),
            Ok(m) if m.is_dir() => upload_folder(session, &path, &child_remote, newer, depth + 1, plan),
            Ok(m) => {
                let there = existing.iter().find(|e| e.name == name.as_bytes());
                add_upload(path, child_remote, &m, there, plan);
            }
            Err(err) => plan.failed.push(format!("cannot read {}: {err}", path.display())),
        }
    }
}

/// What a worker tells the main thread when a transfer ended: the bytes moved, or the error
/// in words.
struct Finished {
    transfer: Transfer,
    result: Result<u64, String>,
}

/// Runs the plan on `options.parallel` sessions (the planning one is reused), shows
/// progress, prints the summary, and fails when any file failed.
fn run(
    connection: &Connection,
    sessions: Vec<FtpSession>,
    plan: Plan,
    options: &BatchOptions,
    verb: &str,
    started: Instant,
) -> Result<()> {
    let Plan { transfers, up_to_date, skipped, mut failed, .. } = plan;
    let total_files = transfers.len();
    let total_bytes: u64 = transfers.iter().map(Transfer::size).sum();
    let progress = BatchProgress::start(total_files, total_bytes, connection.verbosity);
    for line in &failed {
        progress.failure(line);
    }
    for line in &skipped {
        progress.note(&format!("skipped {line}"));
    }
    let workers = options.parallel.clamp(1, total_files.max(1));
    let queue = Mutex::new(Queue { transfers: VecDeque::from(transfers), alive: workers });
    let moved = AtomicU64::new(0);
    let (events, received) = mpsc::channel();
    let mut done_files = 0;
    let mut done_bytes = 0;
    std::thread::scope(|scope| {
        let mut sessions = sessions.into_iter();
        for _ in 0..workers {
            let (queue, moved, events) = (&queue, &moved, events.clone());
            let mut session = sessions.next().map(|session| Worker { session, transfers: 0 });
            scope.spawn(move || work(connection, &mut session, queue, moved, &events, &options.recovery));
        }
        // More sessions than workers (a tree listed wider than it has files): done with.
        sessions.for_each(FtpSession::quit);
        drop(events);
        loop {
            match received.recv_timeout(Duration::from_millis(100)) {
                Ok(Finished { transfer, result }) => match result {
                    Ok(bytes) => {
                        done_files += 1;
                        done_bytes += bytes;
                        progress.finished(done_files, &format!("{verb} {}", transfer.label()));
                    }
                    Err(message) => {
                        progress.failure(&message);
                        failed.push(message);
                    }
                },
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            progress.update(moved.load(Ordering::Relaxed));
        }
    });
    let failures = failed.len();
    let mut summary = format!(
        "{verb} {done_files} {} ({}) in {:.2} s",
        if done_files == 1 { "file" } else { "files" },
        super::progress::human_size(done_bytes),
        started.elapsed().as_secs_f64()
    );
    if up_to_date > 0 {
        summary.push_str(&format!("; {up_to_date} up to date"));
    }
    if !skipped.is_empty() {
        summary.push_str(&format!("; {} skipped", skipped.len()));
    }
    if failures > 0 {
        summary.push_str(&format!("; {failures} failed"));
    }
    progress.finish(&summary);
    if failures > 0 {
        return Err(eyre!("{failures} of {} files failed (named above)", done_files + failures));
    }
    Ok(())
}

/// A worker's session, with how many transfers it made.
struct Worker {
    session: FtpSession,
    transfers: usize,
}

/// One worker: takes transfers from the queue until it is empty, on its own session
/// (opened when first needed, and again after a broken connection).
/// The transfers waiting, and how many workers are still running (one may leave only
/// while another is left to take its file: both decided under this lock).
struct Queue {
    transfers: VecDeque<Transfer>,
    alive: usize,
}

fn work(
    connection: &Connection,
    worker: &mut Option<Worker>,
    queue: &Mutex<Queue>,
    moved: &AtomicU64,
    events: &mpsc::Sender<Finished>,
    recovery: &Recovery,
) {
    let lock = || queue.lock().expect("no worker panics holding it");
    loop {
        let transfer = {
            let mut waiting = lock();
            match waiting.transfers.pop_front() {
                Some(transfer) => transfer,
                None => {
                    waiting.alive -= 1;
                    break;
                }
            }
        };
        if worker.is_none() {
            match connection.open_ftp() {
                Ok(session) => *worker = Some(Worker { session, transfers: 0 }),
                // Refused (a cap on sessions per client) while another worker runs: that one
                // takes this file. The last worker goes on and reports what fails.
                Err(_) => {
                    let mut waiting = lock();
                    if waiting.alive > 1 {
                        waiting.transfers.push_front(transfer);
                        waiting.alive -= 1;
                        return;
                    }
                }
            }
        }
        let what = match &transfer {
            Transfer::Download { remote, .. } => format!("download of {remote}"),
            Transfer::Upload { remote, .. } => format!("upload of {remote}"),
        };
        // A download's file, kept across attempts.
        let mut sink = None;
        let result = with_retries(recovery, &what, || {
            let mut live = match worker.take() {
                Some(live) => live,
                None => Worker { session: connection.open_ftp()?, transfers: 0 },
            };
            let mut counted = 0;
            let mut count = |n: u64| {
                moved.fetch_add(n.saturating_sub(counted), Ordering::Relaxed);
                counted = n;
            };
            let mut outcome = move_one(&mut live.session, &transfer, recovery.resume, &mut sink, &mut count);
            // Under TLS each data connection resumes the control connection's TLS session
            // with a ticket the server gave, used once; a server that gives none after
            // uploads (minftp, for curl's sake) refuses the data connection (522) once a
            // session has spent its tickets. A new session brings new ones.
            if matches!(&outcome, Err(FtpError::Refused { reply, .. }) if reply.code == 522) && live.transfers > 0 {
                live.session.quit();
                live = Worker { session: connection.open_ftp()?, transfers: 0 };
                outcome = move_one(&mut live.session, &transfer, recovery.resume, &mut sink, &mut count);
            }
            // A download keeps what arrived (the retry continues it); an upload starts over.
            if outcome.is_err() && matches!(transfer, Transfer::Upload { .. }) {
                moved.fetch_sub(counted, Ordering::Relaxed);
            }
            live.transfers += 1;
            // A session that failed on the network is not reused; a refusal leaves it fine.
            if !matches!(outcome, Err(FtpError::Io { .. } | FtpError::TimedOut { .. } | FtpError::Interrupted)) {
                *worker = Some(live);
            }
            outcome
        });
        let result = result.map_err(|err| {
            let report = match &transfer {
                Transfer::Download { remote, .. } => explain_download_failure(err, remote),
                Transfer::Upload { remote, .. } => explain_upload_failure(err, remote),
            };
            format!("{report:#}")
        });
        if events.send(Finished { transfer, result }).is_err() {
            break;
        }
    }
    if let Some(live) = worker.take() {
        live.session.quit();
    }
}

/// Moves one file on an open session: a download through the write policy (atomic, or
/// continued in place with `resume`) into `sink`, which keeps what arrived between
/// attempts so that a retry continues with REST, its modification time set to the
/// server's; an upload with the server told the local modification time where it offers
/// MFMT.
fn move_one(
    session: &mut FtpSession,
    transfer: &Transfer,
    resume: bool,
    sink: &mut Option<Writing>,
    on_progress: &mut dyn FnMut(u64),
) -> Result<u64, FtpError> {
    match transfer {
        Transfer::Download { remote, local, size, modified } => {
            let local_error = |context: String| move |source| FtpError::Local { context, source };
            let cannot_write = || format!("cannot write {}", local.display());
            if sink.is_none() {
                let partial = fs::metadata(local).ok().filter(|m| m.is_file()).map_or(0, |m| m.len());
                let continued = resume && partial > 0 && size.is_some_and(|size| partial < size);
                let start = if continued { Start::Append } else { Start::Fresh };
                *sink = Some(Writing::to_local_path(local, start).map_err(local_error(cannot_write()))?);
            }
            let writing = sink.as_mut().expect("set above");
            // What an earlier attempt (or a partial file being continued) already holds.
            let offset = writing.file().metadata().map_err(local_error(cannot_write()))?.len();
            let (offset, got) = match session.retrieve(remote, offset, writing.file(), FILE_RECEIVE_BUFFER, on_progress)
            {
                // A server that cannot restart: our own temporary starts again from byte 0.
                Err(FtpError::Refused { command, .. }) if command.starts_with("REST") && writing.is_atomic() => {
                    writing.restart().map_err(local_error(cannot_write()))?;
                    (0, session.retrieve(remote, 0, writing.file(), FILE_RECEIVE_BUFFER, on_progress)?)
                }
                other => (offset, other?),
            };
            let total = offset + got;
            if let Some(context) = super::oneshot::shortfall(remote, total, *size) {
                return Err(FtpError::Io { context, source: std::io::ErrorKind::UnexpectedEof.into() });
            }
            let mut writing = sink.take().expect("set above");
            if let Some(modified) = modified.filter(|_| writing.is_atomic() || offset > 0) {
                // The listing's time, so that `--newer` finds the copy current next time.
                let when = UNIX_EPOCH + Duration::from_secs(modified.seconds.max(0) as u64);
                let _ = writing.file().set_modified(when);
            }
            writing.commit().map_err(local_error(cannot_write()))?;
            Ok(total)
        }
        Transfer::Upload { local, remote, size, modified } => {
            let file = File::open(local)
                .map_err(|source| FtpError::Local { context: format!("cannot read {}", local.display()), source })?;
            let sent = session
                .store(remote, 0, &file, *size, on_progress)
                .map_err(|err| super::oneshot::name_missing_folder(session, remote, err))?;
            session.set_modified(remote, *modified);
            Ok(sent)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::listing::Precision;

    fn minute(seconds: i64) -> Modified {
        Modified { seconds, precision: Precision::Minute }
    }

    #[test]
    fn remote_paths_join_with_one_slash() {
        assert_eq!(remote_join("", "a"), "a");
        assert_eq!(remote_join("/", "a"), "/a");
        assert_eq!(remote_join("d/", "a"), "d/a");
        assert_eq!(remote_join("d", "a"), "d/a");
    }

    #[test]
    fn a_local_file_is_current_with_the_same_size_and_a_time_not_older() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"abc").unwrap();
        let now = unix_seconds(fs::metadata(&path).unwrap().modified().unwrap());
        assert!(local_is_current(&path, Some(3), Some(minute(now))));
        assert!(local_is_current(&path, Some(3), None));
        assert!(!local_is_current(&path, Some(4), Some(minute(now))));
        assert!(!local_is_current(&path, Some(3), Some(minute(now + 120))));
        assert!(!local_is_current(&dir.path().join("missing"), Some(3), None));
    }
}
