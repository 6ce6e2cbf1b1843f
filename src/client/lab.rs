//! The COSC 328 lab session (SPEC §6.1): OPEN, GET, PUT, CLOSE, QUIT and HELP typed by a
//! person, files kept in `client/`, and every failure explained without ending the session.

use std::fs::{self, File};
use std::io::{self, BufRead, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use super::ftp::{DataMode, FtpSession};
use super::oneshot::{Login, download_to_file, upload};
use super::progress::{Progress, Verbosity};
use crate::diagnostics::shown;
use crate::signals;

/// The lab session's settings.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// The local folder files are read from and saved to (created if missing).
    pub folder: PathBuf,
    pub timeout: Duration,
    /// `client --lab PORT`: open 127.0.0.1 PORT before the first command.
    pub open_at_start: Option<u16>,
    /// A person types the commands (standard input is a terminal): a banner and a prompt.
    pub interactive: bool,
}

/// One request of the lab session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabCommand {
    Open {
        host: String,
        port: u16,
    },
    Get(String),
    Put(String),
    Close,
    Quit,
    Help,
    /// A blank line.
    Nothing,
}

const HELP: &str = "commands (any case):
  OPEN PORT            connect to 127.0.0.1 on PORT
  OPEN HOST PORT       connect to HOST on PORT
  GET NAME             download NAME into the local folder
  PUT NAME             upload NAME from the local folder
  CLOSE                close the connection
  QUIT                 close and leave
  HELP                 this list";

/// Parses one line. NAME is the rest of the line, spaces included.
pub fn parse_lab_command(line: &str) -> Result<LabCommand, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    let trimmed = line.trim_start();
    if trimmed.trim().is_empty() {
        return Ok(LabCommand::Nothing);
    }
    let (word, rest) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
    let rest = rest.trim_start_matches(' ');
    let name = |verb: &str| {
        if rest.is_empty() {
            Err(format!("{verb} needs a file name, as in: {verb} notes.txt"))
        } else {
            Ok(rest.to_string())
        }
    };
    match word.to_ascii_uppercase().as_str() {
        "OPEN" => parse_open(rest),
        "GET" => name("GET").map(LabCommand::Get),
        "PUT" => name("PUT").map(LabCommand::Put),
        "CLOSE" | "QUIT" | "HELP" if !rest.trim().is_empty() => Err(format!("{word} takes nothing after it")),
        "CLOSE" => Ok(LabCommand::Close),
        "QUIT" | "EXIT" | "BYE" => Ok(LabCommand::Quit),
        "HELP" | "?" => Ok(LabCommand::Help),
        _ => Err(format!("unknown command {word:?}; type HELP for the list")),
    }
}

fn parse_open(rest: &str) -> Result<LabCommand, String> {
    let words: Vec<&str> = rest.split_whitespace().collect();
    let (host, port) = match words[..] {
        [port] => ("127.0.0.1", port),
        [host, port] => (host, port),
        _ => return Err("use OPEN PORT or OPEN HOST PORT, as in: OPEN 12000".into()),
    };
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| format!("{port:?} is not a port number (1-65535)"))?;
    Ok(LabCommand::Open { host: host.to_string(), port })
}

/// A NAME as a path inside the local folder: relative, without `..`.
fn local_path(folder: &Path, name: &str) -> Result<PathBuf, String> {
    let relative = Path::new(name);
    if relative.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(format!(
            "{name:?} must be a plain name inside {:?} (no '..', no leading '/')",
            folder.display().to_string()
        ));
    }
    Ok(folder.join(relative))
}

/// Where the lab session's lines come from.
pub trait LineSource {
    /// The next line (without its line ending), or `None` at the end of input.
    fn next_line(&mut self) -> io::Result<Option<String>>;
}

/// Lines read from a pipe or a file: no prompt, no editing.
pub struct PlainLines<R>(pub R);

impl<R: BufRead> LineSource for PlainLines<R> {
    fn next_line(&mut self) -> io::Result<Option<String>> {
        let mut line = Vec::new();
        if self.0.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        // Not UTF-8: shown with replacement characters, and refused as a command below.
        Ok(Some(String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_string()))
    }
}

/// Lines typed at a terminal, with line editing and history (as readline gives lftp and
/// the classic `ftp`), behind the `ftp> ` prompt. Ctrl-C on an empty line and Ctrl-D leave.
pub struct TerminalLines(rustyline::DefaultEditor);

impl TerminalLines {
    pub fn new() -> io::Result<TerminalLines> {
        rustyline::DefaultEditor::new().map(TerminalLines).map_err(io::Error::other)
    }
}

impl LineSource for TerminalLines {
    fn next_line(&mut self) -> io::Result<Option<String>> {
        match self.0.readline("ftp> ") {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = self.0.add_history_entry(line.as_str());
                }
                Ok(Some(line))
            }
            Err(rustyline::error::ReadlineError::Interrupted | rustyline::error::ReadlineError::Eof) => Ok(None),
            Err(err) => Err(io::Error::other(err)),
        }
    }
}

/// Runs the session over `lines`: what happens goes to `out`, errors to `err`. Returns
/// whether every command succeeded (the exit status says so).
pub fn run(
    config: &LabConfig,
    lines: &mut dyn LineSource,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<bool> {
    fs::create_dir_all(&config.folder)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create the local folder {:?}: {e}", config.folder)))?;
    if config.interactive {
        writeln!(out, "minftp lab client: files go to and come from {:?}; type HELP for the commands", config.folder)?;
    }
    let mut lab = Lab { config, session: None, all_ok: true };
    if let Some(port) = config.open_at_start {
        lab.say(LabCommand::Open { host: "127.0.0.1".into(), port }, out, err)?;
    }
    while let Some(line) = lines.next_line()? {
        let command = match parse_lab_command(&line) {
            Ok(command) => command,
            Err(message) => {
                lab.all_ok = false;
                writeln!(err, "error: {}", shown(&message))?;
                continue;
            }
        };
        if command == LabCommand::Quit {
            break;
        }
        lab.say(command, out, err)?;
    }
    if lab.session.is_some() {
        lab.close();
        writeln!(out, "connection closed")?;
    }
    writeln!(out, "bye")?;
    Ok(lab.all_ok)
}

struct Lab<'a> {
    config: &'a LabConfig,
    session: Option<Connected>,
    all_ok: bool,
}

/// An open connection and where it goes.
struct Connected {
    session: FtpSession,
    host: String,
    port: u16,
}

impl Lab<'_> {
    /// Carries out `command` and writes what happened (or why not, on `err`).
    fn say(&mut self, command: LabCommand, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<()> {
        match self.carry_out(command) {
            Ok(text) if text.is_empty() => Ok(()),
            Ok(text) => writeln!(out, "{text}"),
            Err(text) => {
                self.all_ok = false;
                // The text may carry what the server sent (names, reply texts).
                writeln!(err, "error: {}", shown(&text))
            }
        }
    }

    fn carry_out(&mut self, command: LabCommand) -> Result<String, String> {
        match command {
            LabCommand::Nothing | LabCommand::Quit => Ok(String::new()),
            LabCommand::Help => Ok(HELP.to_string()),
            LabCommand::Close => match self.session.is_some() {
                true => {
                    self.close();
                    Ok("connection closed".into())
                }
                false => Err("not connected".into()),
            },
            LabCommand::Open { host, port } => {
                let login = Login::anonymous();
                // The new connection first: a failed OPEN keeps the one that was open.
                let opened =
                    FtpSession::open(&host, port, &login.user, &login.password, DataMode::Auto, self.config.timeout);
                let session = match opened {
                    Ok(session) => session,
                    Err(error) => {
                        let kept = match &self.session {
                            Some(previous) => format!("; still connected to {} port {}", previous.host, previous.port),
                            None => String::new(),
                        };
                        return Err(format!("{error}{kept}"));
                    }
                };
                let mut said = String::new();
                if self.session.is_some() {
                    self.close();
                    said.push_str("previous connection closed\n");
                }
                said.push_str(&format!("connected to {host} port {port}"));
                self.session = Some(Connected { session, host, port });
                Ok(said)
            }
            LabCommand::Get(name) => {
                let path = local_path(&self.config.folder, &name)?;
                let connected = self.session.as_mut().ok_or("not connected; use OPEN PORT first")?;
                let session = &mut connected.session;
                let in_progress = interruptible();
                let size = session.size(&name);
                let progress = Progress::start(&name, size, Verbosity::BarOnly);
                let result = download_to_file(session, &name, size, &path, &progress);
                drop(in_progress);
                let result = result.map(|bytes| progress.finish("downloaded", &name, bytes));
                self.report(result, "interrupted; nothing was saved")
            }
            LabCommand::Put(name) => {
                let path = local_path(&self.config.folder, &name)?;
                let file =
                    File::open(&path).map_err(|err| format!("cannot read {:?}: {err}", path.display().to_string()))?;
                let len = file
                    .metadata()
                    .map_err(|err| format!("cannot read {:?}: {err}", path.display().to_string()))?
                    .len();
                let connected = self.session.as_mut().ok_or("not connected; use OPEN PORT first")?;
                let in_progress = interruptible();
                let result = upload(&mut connected.session, &file, len, &name, Verbosity::BarOnly);
                drop(in_progress);
                // The reset tells the server the upload is cut off: minftp's discards it.
                self.report(result, "interrupted; the upload was reset, so the server cannot take it for a whole file")
            }
        }
    }

    /// Turns a transfer's result into a message; a failure that broke the connection also
    /// ends the session, so the next command says "not connected" instead of failing again.
    /// A failure that Ctrl-C caused is told as `after_ctrl_c`.
    fn report(&mut self, result: color_eyre::Result<String>, after_ctrl_c: &str) -> Result<String, String> {
        let interrupted = signals::transfers_aborted();
        signals::clear_abort();
        if result.is_err() && interrupted {
            // Ctrl-C aborted the transfer (see super::stop_on_signals); back to the prompt.
            return Err(after_ctrl_c.into());
        }
        result.map_err(|err| {
            let mut message = format!("{err:#}");
            if self.session.as_mut().is_some_and(|s| !s.session.is_alive()) {
                self.session = None;
                message.push_str(" (the connection is closed; OPEN again)");
            }
            message
        })
    }

    fn close(&mut self) {
        if let Some(connected) = self.session.take() {
            connected.session.quit();
        }
    }
}

/// Marks a GET or PUT as in progress from its first request on, not only while data flows:
/// Ctrl-C while it waits for a reply (a slow server) or creates its file then aborts this
/// command and keeps the session, as it does mid-transfer (see super::stop_on_signals).
/// An abort left over from a Ctrl-C that came as the last command was ending is cleared.
fn interruptible() -> signals::TransferGuard {
    signals::clear_abort();
    signals::TransferGuard::before_connection()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_case_insensitive() {
        assert_eq!(parse_lab_command("open 12000"), Ok(LabCommand::Open { host: "127.0.0.1".into(), port: 12000 }));
        assert_eq!(parse_lab_command("Get a.txt"), Ok(LabCommand::Get("a.txt".into())));
        assert_eq!(parse_lab_command("quit\r\n"), Ok(LabCommand::Quit));
    }

    #[test]
    fn open_takes_a_port_or_a_host_and_a_port() {
        assert_eq!(parse_lab_command("OPEN localhost 21"), Ok(LabCommand::Open { host: "localhost".into(), port: 21 }));
        assert!(parse_lab_command("OPEN").is_err());
        assert!(parse_lab_command("OPEN 0").is_err());
        assert!(parse_lab_command("OPEN 70000").is_err());
        assert!(parse_lab_command("OPEN a b c").is_err());
    }

    #[test]
    fn names_are_the_rest_of_the_line_spaces_included() {
        assert_eq!(parse_lab_command("PUT my file.txt"), Ok(LabCommand::Put("my file.txt".into())));
        assert!(parse_lab_command("GET").is_err());
        assert!(parse_lab_command("GET   ").is_err());
    }

    #[test]
    fn blank_lines_do_nothing_and_unknown_words_are_explained() {
        assert_eq!(parse_lab_command("   "), Ok(LabCommand::Nothing));
        assert!(parse_lab_command("LIST").unwrap_err().contains("HELP"));
        assert!(parse_lab_command("CLOSE now").is_err());
    }

    #[test]
    fn local_names_stay_inside_the_folder() {
        let folder = Path::new("client");
        assert_eq!(local_path(folder, "a b.txt").unwrap(), Path::new("client/a b.txt"));
        assert!(local_path(folder, "../secret").is_err());
        assert!(local_path(folder, "/etc/passwd").is_err());
    }
}
