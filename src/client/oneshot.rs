//! `minftp get` and `minftp put`: one file, with progress, atomic on the local side, and
//! errors that quote the server and say what to do.

use std::fs::{self, File};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, eyre};

use super::ftp::{DataMode, FtpError, FtpSession, Security};
use super::progress::{Progress, Verbosity};
use crate::protocol::data::{FILE_RECEIVE_BUFFER, STREAM_RECEIVE_BUFFER};
use crate::write_policy::{Place, Start, Writing, local_target};

/// Who to log in as.
#[derive(Debug, Clone)]
pub struct Login {
    pub user: String,
    pub password: String,
}

impl Login {
    /// The anonymous login real servers expect.
    pub fn anonymous() -> Login {
        Login { user: "anonymous".into(), password: "minftp@".into() }
    }
}

/// Everything a one-shot transfer needs, validated.
#[derive(Debug, Clone)]
pub struct Connection {
    pub host: String,
    pub port: u16,
    pub login: Login,
    pub mode: DataMode,
    pub timeout: Duration,
    pub verbosity: Verbosity,
    pub security: Security,
}

impl Connection {
    /// Connects and logs in (showing the dialogue on standard error with
    /// [`Verbosity::Dialogue`]).
    pub(crate) fn open_ftp(&self) -> Result<FtpSession, FtpError> {
        if self.verbosity == Verbosity::Dialogue {
            super::control::trace_dialogue();
        }
        let login = &self.login;
        FtpSession::open_with(
            &self.host,
            self.port,
            &login.user,
            &login.password,
            self.mode,
            self.timeout,
            &self.security,
        )
    }
}

/// Where a download goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    File(PathBuf),
    Stdout,
}

/// The local file a download is saved to when `-o` is not given: the remote name's last part.
pub fn default_local_name(remote: &str) -> Result<PathBuf> {
    let name = remote.rsplit('/').next().unwrap_or(remote);
    if name.is_empty() || name == "." || name == ".." {
        return Err(eyre!("{remote:?} names no file; give one, or -o LOCAL"));
    }
    Ok(PathBuf::from(name))
}

/// What to do with what is already there, and with a broken connection.
#[derive(Debug, Clone)]
pub struct Recovery {
    /// Continue a partial file (`--continue`): the local one for `get`, the remote one for
    /// `put`. A download then writes in place and keeps what arrived if it breaks.
    pub resume: bool,
    /// Attempts after the first when the connection breaks, times out or gets a 4xx.
    pub retries: u32,
    /// The wait before the first retry; it doubles for each further one.
    pub retry_delay: Duration,
}

/// A download, validated.
#[derive(Debug, Clone)]
pub struct GetRequest {
    pub remote: String,
    pub destination: Destination,
    /// Refuse to overwrite an existing local file (`--no-clobber`).
    pub no_clobber: bool,
    /// Abort a download that grows past this many bytes (`--max-filesize`).
    pub max_filesize: Option<u64>,
    pub recovery: Recovery,
}

/// An upload, validated.
#[derive(Debug, Clone)]
pub struct PutRequest {
    pub local: PathBuf,
    pub remote: String,
    pub recovery: Recovery,
    /// Make the remote folders above `remote` when they are missing (`--create-dirs`).
    pub create_dirs: bool,
}

/// The longest wait between two attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// Runs `attempt` until it succeeds, fails for good, or the retries are used up; each
/// retry waits longer and is named on standard error.
pub(crate) fn with_retries<T>(
    recovery: &Recovery,
    what: &str,
    mut attempt: impl FnMut() -> Result<T, FtpError>,
) -> Result<T, FtpError> {
    let mut delay = recovery.retry_delay;
    for retry in 1.. {
        match attempt() {
            Err(err) if err.is_transient() && retry <= recovery.retries => {
                crate::diag!(
                    "{what}: {err}; attempt {} of {} in {} s",
                    retry + 1,
                    recovery.retries + 1,
                    delay.as_secs_f32()
                );
                std::thread::sleep(delay);
                delay = (delay * 2).min(MAX_RETRY_DELAY);
            }
            result => return result,
        }
    }
    unreachable!("the loop returns")
}

/// Where a download's bytes go while it runs.
enum Sink {
    File(Writing),
    Stdout(StandardOutput),
}

/// Standard output for `-o -`. On a terminal, a download that starts like a binary file (a
/// NUL byte in its first block) is refused instead of being written, as curl does: it
/// would garble the terminal and help nobody.
struct StandardOutput {
    out: io::StdoutLock<'static>,
    check_binary: bool,
}

impl StandardOutput {
    fn new() -> StandardOutput {
        StandardOutput { out: io::stdout().lock(), check_binary: io::stdout().is_terminal() }
    }
}

impl Write for StandardOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if std::mem::take(&mut self.check_binary) && buf.contains(&0) {
            let refused = "the file looks binary, so it was not written to the terminal; use -o FILE, or a pipe";
            return Err(io::Error::new(io::ErrorKind::InvalidData, refused));
        }
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Sink {
    fn out(&mut self) -> &mut dyn Write {
        match self {
            Sink::File(writing) => writing.file(),
            Sink::Stdout(out) => out,
        }
    }
}

/// How a download ended well.
enum Fetched {
    Bytes { total: u64, announced: Option<u64> },
    AlreadyComplete(u64),
}

/// Downloads `request.remote`, retrying and resuming as `request.recovery` says. A file is
/// written through the write policy: atomically (the old file stays until every byte
/// arrived), or in place with `--continue`. The destination is checked before connecting.
pub fn get(connection: &Connection, request: &GetRequest) -> Result<u64> {
    let remote = request.remote.as_str();
    let (path, resume_from, label) = match &request.destination {
        Destination::Stdout => (None, 0, remote.to_string()),
        Destination::File(path) => {
            let (target, partial) = prepare_local_target(path, request)?;
            let label = target.display().to_string();
            (Some(target), partial, label)
        }
    };
    let mut sink: Option<Sink> = None;
    let mut progress: Option<Progress> = None;
    let outcome = with_retries(&request.recovery, &format!("download of {remote}"), || {
        let mut session = connection.open_ftp()?;
        let announced = session.size(remote);
        if sink.is_none() && resume_from > 0 {
            match announced {
                Some(size) if size == resume_from => {
                    session.quit();
                    return Ok(Fetched::AlreadyComplete(size));
                }
                Some(size) if size < resume_from => {
                    let why = format!("the local file has {resume_from} bytes, more than the {size} of {remote}");
                    return Err(FtpError::Local { context: why, source: io::ErrorKind::InvalidData.into() });
                }
                Some(_) => {}
                None => {
                    let why = format!("the server does not tell the size of {remote}, so it cannot be continued");
                    return Err(FtpError::Local { context: why, source: io::ErrorKind::Unsupported.into() });
                }
            }
        }
        if sink.is_none() {
            sink = Some(match &path {
                None => Sink::Stdout(StandardOutput::new()),
                Some(path) => {
                    let start = if request.recovery.resume { Start::Append } else { Start::Fresh };
                    let writing = Writing::to_local_path(path, start).map_err(|err| FtpError::Local {
                        context: format!("cannot write {}", path.display()),
                        source: err,
                    })?;
                    Sink::File(writing)
                }
            });
        }
        let sink = sink.as_mut().expect("set above");
        let progress = progress.get_or_insert_with(|| Progress::start(&label, announced, connection.verbosity));
        let offset = bytes_so_far(sink).map_err(local_error("cannot read the partial download"))?;
        let buffer = if matches!(sink, Sink::File(_)) { FILE_RECEIVE_BUFFER } else { STREAM_RECEIVE_BUFFER };
        let limit = request.max_filesize.map(|max| max.saturating_sub(offset));
        let mut out = LimitedWriter { inner: sink.out(), left: limit };
        let received = session.retrieve(remote, offset, &mut out, buffer, &mut |n| progress.update(offset + n));
        let received = match received {
            // A server that cannot restart: a file of ours starts again from the beginning.
            Err(FtpError::Refused { command, .. }) if command.starts_with("REST") && !request.recovery.resume => {
                let Sink::File(writing) = sink else {
                    let why = format!("the server cannot continue {remote} where it broke off");
                    return Err(FtpError::Local { context: why, source: io::ErrorKind::Unsupported.into() });
                };
                writing.restart().map_err(local_error("cannot restart"))?;
                session.retrieve(remote, 0, writing.file(), buffer, &mut |n| progress.update(n))?
            }
            other => other.map_err(|err| name_folder(&mut session, remote, err))?,
        };
        session.quit();
        let total = offset + received;
        if let Some(context) = shortfall(remote, total, announced) {
            return Err(FtpError::Io { context, source: io::ErrorKind::UnexpectedEof.into() });
        }
        Ok(Fetched::Bytes { total, announced })
    });
    let progress_or_new =
        |p: Option<Progress>| p.unwrap_or_else(|| Progress::start(&label, None, connection.verbosity));
    match outcome {
        Ok(Fetched::AlreadyComplete(size)) => {
            progress_or_new(progress).finish("already complete:", &label, size);
            Ok(size)
        }
        Ok(Fetched::Bytes { total, announced }) => {
            let verb = match sink {
                Some(Sink::File(writing)) => {
                    writing.commit().wrap_err_with(|| format!("cannot write {label}"))?;
                    "saved"
                }
                Some(Sink::Stdout(mut out)) => {
                    out.flush().wrap_err("cannot write to standard output")?;
                    "wrote to standard output"
                }
                None => "saved",
            };
            progress_or_new(progress).finish(verb, &label, total);
            if let Some(size) = announced.filter(|&size| total > size) {
                let more = total - size;
                crate::diag!(
                    "note: {more} more bytes arrived than SIZE announced ({size}): the file grew while it was read"
                );
            }
            Ok(total)
        }
        Err(err) => {
            if let Some(progress) = progress {
                progress.abandon();
            }
            // A --continue download keeps what arrived; an atomic one leaves nothing.
            drop(sink);
            Err(explain_download_failure(err, remote))
        }
    }
}

/// Checks a download's local target before connecting, so a bad destination fails at once:
/// a folder receives the file under the remote name; `--no-clobber` refuses an existing
/// file; the folder must exist. Returns the target and, with `--continue`, the length of
/// the partial file already there.
fn prepare_local_target(path: &Path, request: &GetRequest) -> Result<(PathBuf, u64)> {
    let name = default_local_name(&request.remote)?;
    let target = local_target(path, &name.to_string_lossy());
    let existing = fs::metadata(&target).ok();
    if request.no_clobber && fs::symlink_metadata(&target).is_ok() {
        return Err(eyre!("{} exists; not overwritten (--no-clobber)", target.display()));
    }
    Place::for_local_path(&target).wrap_err_with(|| format!("cannot write {}", target.display()))?;
    let partial = match existing {
        Some(metadata) if request.recovery.resume && metadata.is_file() => metadata.len(),
        _ => 0,
    };
    Ok((target, partial))
}

/// How many bytes of the download are already written: the file's length (a temporary from
/// an earlier attempt, or the partial file being continued); nothing for standard output.
fn bytes_so_far(sink: &mut Sink) -> io::Result<u64> {
    match sink {
        Sink::File(writing) => writing.file().metadata().map(|m| m.len()),
        Sink::Stdout(_) => Ok(0),
    }
}

/// A writer that fails once more than `left` bytes would be written (`--max-filesize`).
struct LimitedWriter<'a> {
    inner: &'a mut dyn Write,
    left: Option<u64>,
}

impl Write for LimitedWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(left) = self.left.as_mut() {
            if buf.len() as u64 > *left {
                return Err(io::Error::new(io::ErrorKind::FileTooLarge, "the file is larger than --max-filesize"));
            }
            *left -= buf.len() as u64;
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Downloads into `path` through the write policy (used by the lab client).
pub fn download_to_file(
    session: &mut FtpSession,
    remote: &str,
    size: Option<u64>,
    path: &Path,
    progress: &Progress,
) -> Result<u64> {
    let mut file =
        Writing::to_local_path(path, Start::Fresh).wrap_err_with(|| format!("cannot write {}", path.display()))?;
    let bytes = session
        .retrieve(remote, 0, file.file(), FILE_RECEIVE_BUFFER, &mut |n| progress.update(n))
        .map_err(|err| explain_download_failure(err, remote))?;
    if let Some(shortfall) = shortfall(remote, bytes, size) {
        return Err(eyre!(shortfall));
    }
    file.commit().wrap_err_with(|| format!("cannot write {}", path.display()))?;
    Ok(bytes)
}

/// What to say of a download that ended before the size SIZE announced, if it did.
pub(crate) fn shortfall(remote: &str, total: u64, announced: Option<u64>) -> Option<String> {
    let size = announced.filter(|&size| total < size)?;
    Some(format!("the download of {remote} is incomplete: {total} of {size} bytes arrived"))
}

pub(crate) fn explain_download_failure(err: FtpError, remote: &str) -> color_eyre::Report {
    let hint = match (login_hint(&err), err.reply_code()) {
        ("", Some(550)) => " (check the name: paths are relative to the login folder)",
        (hint, _) => hint,
    };
    eyre!(err).wrap_err(format!("cannot download {remote:?}{hint}"))
}

/// What to do about a refused login (the error names the user that was tried).
fn login_hint(err: &FtpError) -> &'static str {
    match err {
        // vsftpd: "530 Non-anonymous sessions must use encryption."; pyftpdlib and
        // ProFTPD: "550 SSL/TLS required on the control channel"; minftp: "530 This
        // server requires TLS".
        FtpError::Refused { command, reply } if command.starts_with("the login") && asks_for_tls(reply.text()) => {
            " (the server wants FTP over TLS: add --tls, or use an ftpes:// URL)"
        }
        FtpError::Refused { command, reply } if reply.code == 530 && command.starts_with("the login") => {
            " (check the password, or log in as another user with --user NAME)"
        }
        _ => "",
    }
}

/// Whether a refusal's text asks for TLS, as servers word it.
fn asks_for_tls(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    ["tls", "ssl", "encrypt"].iter().any(|word| text.contains(word))
}

/// A session that could not be opened (no server, a refused login).
pub(crate) fn explain_session_failure(err: FtpError, connection: &Connection) -> color_eyre::Report {
    let hint = login_hint(&err);
    eyre!(err).wrap_err(format!("cannot start a session with {} port {}{hint}", connection.host, connection.port))
}

/// Uploads `request.local` as `request.remote`, retrying and (with `--continue`) resuming
/// the remote file. A missing local file fails before connecting.
pub fn put(connection: &Connection, request: &PutRequest) -> Result<String> {
    let (local, remote) = (&request.local, request.remote.as_str());
    let file = File::open(local).wrap_err_with(|| format!("cannot read {}", local.display()))?;
    let metadata = file.metadata().wrap_err_with(|| format!("cannot read {}", local.display()))?;
    if !metadata.is_file() {
        return Err(eyre!("{} is not a regular file", local.display()));
    }
    let len = metadata.len();
    let progress = Progress::start(remote, Some(len), connection.verbosity);
    let sent = with_retries(&request.recovery, &format!("upload of {remote}"), || {
        let mut session = connection.open_ftp()?;
        let offset = match request.recovery.resume.then(|| session.size(remote)).flatten() {
            Some(there) if there == len => {
                session.quit();
                return Ok(None);
            }
            Some(there) if there > len => {
                let why =
                    format!("{remote} on the server has {there} bytes, more than the {len} of {}", local.display());
                return Err(FtpError::Local { context: why, source: io::ErrorKind::InvalidData.into() });
            }
            Some(there) => there,
            None => 0,
        };
        let parent = remote.rsplit_once('/').map(|(parent, _)| parent).filter(|p| !p.is_empty());
        if let Some(parent) = parent.filter(|_| request.create_dirs) {
            super::batch::make_folders(&mut session, parent)?;
        }
        let sent = session
            .store(remote, offset, &file, len, &mut |n| progress.update(offset + n))
            .map_err(|err| name_missing_folder(&mut session, remote, err))?;
        session.quit();
        Ok(Some(sent))
    });
    match sent {
        Ok(None) => Ok(progress.finish("already complete:", remote, len)),
        Ok(Some(_)) => Ok(progress.finish("uploaded", remote, len)),
        Err(err) => {
            progress.abandon();
            Err(explain_upload_failure(err, remote))
        }
    }
}

/// A STOR refused because the folder it names is not on the server, said as such; any
/// other error as it was.
pub(crate) fn name_missing_folder(session: &mut FtpSession, remote: &str, err: FtpError) -> FtpError {
    let refused_name = matches!(&err, FtpError::Refused { reply, .. } if matches!(reply.code, 550 | 553));
    let parent = remote.rsplit_once('/').map(|(parent, _)| parent).filter(|p| !p.is_empty());
    match parent {
        Some(parent) if refused_name && session.is_folder(parent).is_ok_and(|is| !is) => FtpError::Explained(format!(
            "the folder {parent:?} does not exist on the server (add --create-dirs to make it)"
        )),
        _ => err,
    }
}

/// A RETR refused because the name is a folder, said as such; any other error as it was.
fn name_folder(session: &mut FtpSession, remote: &str, err: FtpError) -> FtpError {
    let refused = matches!(&err, FtpError::Refused { reply, .. } if reply.code == 550);
    if refused && session.is_folder(remote).unwrap_or(false) {
        return FtpError::Explained(format!("{remote:?} is a folder: add -r to fetch it, or list it with `minftp ls`"));
    }
    err
}

/// Sends an open file as `remote`, with progress; returns the summary line (the lab client).
pub fn upload(session: &mut FtpSession, file: &File, len: u64, remote: &str, verbosity: Verbosity) -> Result<String> {
    let progress = Progress::start(remote, Some(len), verbosity);
    match session.store(remote, 0, file, len, &mut |n| progress.update(n)) {
        Ok(bytes) => Ok(progress.finish("uploaded", remote, bytes)),
        Err(err) => {
            progress.abandon();
            Err(explain_upload_failure(err, remote))
        }
    }
}

pub(crate) fn explain_upload_failure(err: FtpError, remote: &str) -> color_eyre::Report {
    let hint = match &err {
        FtpError::Refused { command, reply }
            if matches!(reply.code, 500 | 502 | 550 | 553) && !command.starts_with("the login") =>
        {
            "; the server does not accept uploads (if it is minftp, start it with `minftp serve --writable`)"
        }
        _ => login_hint(&err),
    };
    eyre!(err).wrap_err(format!("cannot upload {remote:?}{hint}"))
}

fn local_error(context: &str) -> impl FnOnce(io::Error) -> FtpError + '_ {
    move |source| FtpError::Local { context: context.into(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_local_name_is_the_last_part_of_the_remote_path() {
        assert_eq!(default_local_name("dir/sub/file.txt").unwrap(), PathBuf::from("file.txt"));
        assert_eq!(default_local_name("file.txt").unwrap(), PathBuf::from("file.txt"));
        assert!(default_local_name("dir/").is_err());
        assert!(default_local_name("..").is_err());
    }
}
