//! `minftp get` and `minftp put`: one file, with progress, atomic on the local side, and
//! errors that quote the server and say what to do.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, eyre};

use super::ftp::{DataMode, FtpError, FtpSession};
use super::progress::{Progress, Verbosity};
use crate::atomic::AtomicFile;
use crate::protocol::data::{FILE_RECEIVE_BUFFER, STREAM_RECEIVE_BUFFER};

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
}

impl Connection {
    fn open(&self) -> Result<FtpSession> {
        FtpSession::open(&self.host, self.port, &self.login.user, &self.login.password, self.mode, self.timeout)
            .map_err(|err| eyre!(err).wrap_err(format!("cannot log in to {}:{}", self.host, self.port)))
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

/// Downloads `remote` to `destination`. A file is written through a temporary name and
/// replaces the target only when the server confirmed the transfer and, when the size was
/// known, every byte arrived.
pub fn get(connection: &Connection, remote: &str, destination: &Destination) -> Result<u64> {
    let mut session = connection.open()?;
    let size = session.size(remote);
    let label = match destination {
        Destination::File(path) => path.display().to_string(),
        Destination::Stdout => remote.to_string(),
    };
    let progress = Progress::start(&label, size, connection.verbosity);
    let result = match destination {
        Destination::Stdout => {
            let stdout = io::stdout();
            let mut out = stdout.lock();
            download(&mut session, remote, size, &mut out, STREAM_RECEIVE_BUFFER, &progress).and_then(|bytes| {
                out.flush().wrap_err("cannot write to standard output")?;
                Ok(bytes)
            })
        }
        Destination::File(path) => download_to_file(&mut session, remote, size, path, &progress),
    };
    session.quit();
    match result {
        Ok(bytes) => {
            progress.finish("saved", &label, bytes);
            Ok(bytes)
        }
        Err(err) => {
            progress.abandon();
            Err(err)
        }
    }
}

/// Downloads into a temporary file beside `path`, renamed over it on success.
pub fn download_to_file(
    session: &mut FtpSession,
    remote: &str,
    size: Option<u64>,
    path: &Path,
    progress: &Progress,
) -> Result<u64> {
    let mut file = AtomicFile::create(path).wrap_err_with(|| format!("cannot write {}", path.display()))?;
    let bytes = download(session, remote, size, file.file(), FILE_RECEIVE_BUFFER, progress)?;
    file.commit().wrap_err_with(|| format!("cannot write {}", path.display()))?;
    Ok(bytes)
}

fn download(
    session: &mut FtpSession,
    remote: &str,
    size: Option<u64>,
    out: &mut dyn Write,
    buffer_size: usize,
    progress: &Progress,
) -> Result<u64> {
    let bytes = session
        .retrieve(remote, out, buffer_size, &mut |n| progress.update(n))
        .map_err(|err| explain_download_failure(err, remote))?;
    if let Some(size) = size.filter(|&size| size != bytes) {
        return Err(eyre!("the download of {remote} is incomplete: {bytes} of {size} bytes arrived"));
    }
    Ok(bytes)
}

fn explain_download_failure(err: FtpError, remote: &str) -> color_eyre::Report {
    let hint = match err.reply_code() {
        Some(550) => " (check the name: paths are relative to the server's folder)",
        Some(530) => " (log in with --user/--password or a user@ URL)",
        _ => "",
    };
    eyre!(err).wrap_err(format!("cannot download {remote}{hint}"))
}

/// Uploads `local` as `remote` with sendfile. A missing local file fails before connecting.
pub fn put(connection: &Connection, local: &Path, remote: &str) -> Result<String> {
    let file = File::open(local).wrap_err_with(|| format!("cannot read {}", local.display()))?;
    let metadata = file.metadata().wrap_err_with(|| format!("cannot read {}", local.display()))?;
    if !metadata.is_file() {
        return Err(eyre!("{} is not a regular file", local.display()));
    }
    let mut session = connection.open()?;
    let result = upload(&mut session, &file, metadata.len(), remote, connection.verbosity);
    session.quit();
    result
}

/// Sends an open file as `remote`, with progress; returns the summary line.
pub fn upload(session: &mut FtpSession, file: &File, len: u64, remote: &str, verbosity: Verbosity) -> Result<String> {
    let progress = Progress::start(remote, Some(len), verbosity);
    match session.store(remote, file, len, &mut |n| progress.update(n)) {
        Ok(bytes) => Ok(progress.finish("uploaded", remote, bytes)),
        Err(err) => {
            progress.abandon();
            Err(explain_upload_failure(err, remote))
        }
    }
}

fn explain_upload_failure(err: FtpError, remote: &str) -> color_eyre::Report {
    let hint = match err.reply_code() {
        Some(500 | 502 | 550 | 553) => {
            "; the server does not accept uploads (if it is minftp, start it with `minftp serve --writable`)"
        }
        _ => "",
    };
    eyre!(err).wrap_err(format!("cannot upload {remote}{hint}"))
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
