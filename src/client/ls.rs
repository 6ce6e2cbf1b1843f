//! `minftp ls`: a remote folder's entries (or a glob's matches), one per line, sorted by
//! name, in the same form whatever the server sends: names, long lines, or JSON.

use std::io::{self, IsTerminal, Write};

use color_eyre::eyre::{Result, WrapErr, eyre};

use super::ftp::FtpError;
use super::listing::{RemoteEntry, has_glob, json_form, long_form, shown_name, split_remote};
use super::oneshot::{Connection, explain_session_failure};

/// How `ls` prints entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListForm {
    /// Names only.
    Names,
    /// Type, size (bytes with `bytes`, else human units on a terminal), time, name.
    Long { bytes: bool },
    /// One JSON object per line.
    Json,
}

/// Lists `path` (the login folder when empty) on the server and prints it to standard output.
pub fn ls(connection: &Connection, path: &str, form: ListForm) -> Result<()> {
    let mut session = connection.open_ftp().map_err(|err| explain_session_failure(err, connection))?;
    let (parent, last) = split_remote(path);
    let mut entries = if has_glob(last) {
        let matching = session.entries_matching(parent, last).map_err(|err| explain(err, parent))?;
        if matching.is_empty() {
            // A name that only looks like a pattern (`report[1].txt`) is listed as it is.
            let listed = session.listed(path).map_err(|_| eyre!("no name matches {path:?}"))?;
            if listed.is_empty() {
                return Err(eyre!("no name matches {path:?}"));
            }
            listed
        } else {
            matching
        }
    } else {
        match session.entries(path) {
            Ok(entries) => entries,
            // MLSD names folders only; LIST of a file lists that file on most servers.
            Err(FtpError::Refused { .. }) if !path.is_empty() => {
                let listed = session.listed(path).map_err(|err| explain(err, path))?;
                if listed.is_empty() {
                    return Err(eyre!("cannot list {path:?}: the server lists nothing by that name"));
                }
                listed
            }
            Err(err) => return Err(explain(err, path)),
        }
    };
    session.quit();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    print_entries(&entries, form).wrap_err("cannot write to standard output")
}

fn explain(err: FtpError, path: &str) -> color_eyre::Report {
    let what = if path.is_empty() { "the login folder".to_string() } else { format!("{path:?}") };
    eyre!(err).wrap_err(format!("cannot list {what}"))
}

fn print_entries(entries: &[RemoteEntry], form: ListForm) -> io::Result<()> {
    let terminal = io::stdout().is_terminal();
    let mut out = io::BufWriter::new(io::stdout().lock());
    for entry in entries {
        match form {
            ListForm::Names => out.write_all(&shown_name(&entry.name, terminal))?,
            ListForm::Long { bytes } => out.write_all(&long_form(entry, bytes || !terminal, terminal))?,
            ListForm::Json => out.write_all(json_form(entry).as_bytes())?,
        }
        out.write_all(b"\n")?;
    }
    out.flush()
}
