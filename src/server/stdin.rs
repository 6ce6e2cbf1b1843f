//! `serve --stdin` (COMP 431 Homework 1): the session machine driven by standard input,
//! with RETR copying the file into `retr_files/fileN`.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::ServerConfig;
use super::sandbox::OpenedFile;
use super::session::{Channel, Session, Step, Transfer};
use crate::protocol::line::{Line, LineReader};
use crate::protocol::reply::Reply;
use crate::transcript::Transcript;
use crate::write_policy::{Start, Writing};

/// The folder, relative to the working directory, that receives retrieved files.
pub const RETR_FOLDER: &str = "retr_files";

/// Runs a whole session read from `input`; returns at a valid QUIT or at end of input.
pub fn run(config: &ServerConfig, input: impl Read, transcript: &Transcript, retr_folder: &Path) -> io::Result<()> {
    transcript.reply(&Reply::Greeting);
    let mut session = Session::new(Channel::Stdin);
    let mut reader = LineReader::new(input, config.limits.max_line);
    let mut copies = 0u64;
    loop {
        let line = reader.next_line(&mut |chunk| transcript.write(chunk))?;
        let step = match line {
            None => return Ok(()),
            Some(Line::TooLong { .. }) => Step::Reply(session.handle_over_long_line()),
            Some(Line::Complete(bytes) | Line::Unterminated(bytes)) => {
                transcript.write(bytes);
                session.handle(bytes)
            }
        };
        match step {
            Step::Reply(reply) => transcript.reply(&reply),
            Step::Quit(reply) => {
                transcript.reply(&reply);
                return Ok(());
            }
            Step::Transfer { transfer: Transfer::Retrieve { path, .. }, .. } => match config.root.open(&path) {
                None => transcript.reply(&Reply::FileUnavailable),
                Some(opened) => {
                    session.start_transfer();
                    transcript.reply(&Reply::FileStatusOk);
                    match copy_into_folder(opened, retr_folder, copies + 1) {
                        Ok(_) => {
                            copies += 1;
                            transcript.reply(&Reply::FileActionDone);
                        }
                        Err(err) => {
                            crate::diag!("cannot copy into {}: {err}", retr_folder.display());
                            transcript.reply(&Reply::LocalError);
                        }
                    }
                }
            },
            // The COMP 431 dialect has no other transfers or actions; should one ever
            // appear, it is refused rather than half done.
            other => {
                debug_assert!(false, "not a COMP 431 step: {other:?}");
                transcript.reply(&Reply::UnknownCommand);
            }
        }
    }
}

/// Copies the file to `folder/fileN` through a temporary name, so a failed copy leaves
/// no partial file.
fn copy_into_folder(mut opened: OpenedFile, folder: &Path, n: u64) -> io::Result<PathBuf> {
    fs::create_dir_all(folder)?;
    let target = folder.join(format!("file{n}"));
    let mut copy = Writing::to_local_path(&target, Start::Fresh)?;
    io::copy(&mut opened.file, copy.file())?;
    copy.commit()?;
    Ok(target)
}
