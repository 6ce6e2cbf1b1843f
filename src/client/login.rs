//! Where a login's user and password come from when the command line does not give both:
//! the user's `.netrc` (read as curl, wget, lftp and ftp read it) and a prompt on the
//! terminal that does not echo.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// What a `.netrc` says for one host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetrcLogin {
    pub user: Option<String>,
    pub password: Option<String>,
}

/// `~/.netrc`, when HOME is set.
pub fn default_netrc() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| Path::new(&home).join(".netrc"))
}

/// The login `.netrc` text gives for `host`: its `machine host` entry (the one whose `login`
/// is `user`, when a user is already chosen), else its `default` entry. Tokens are
/// separated by white space; a token may be "quoted" (with `\` escapes); `macdef` bodies
/// (up to an empty line) are skipped.
pub fn netrc_login(text: &str, host: &str, user: Option<&str>) -> Option<NetrcLogin> {
    let tokens = netrc_tokens(text);
    let mut entries: Vec<(Option<String>, NetrcLogin)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        match tokens[i].as_str() {
            "machine" => {
                entries.push((tokens.get(i + 1).cloned(), NetrcLogin::default()));
                i += 2;
            }
            "default" => {
                entries.push((None, NetrcLogin::default()));
                i += 1;
            }
            key @ ("login" | "password" | "account") => {
                let value = tokens.get(i + 1).cloned();
                if let Some((_, login)) = entries.last_mut() {
                    match key {
                        "login" => login.user = value,
                        "password" => login.password = value,
                        _ => {}
                    }
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    let fits = |login: &NetrcLogin| user.is_none() || login.user.is_none() || login.user.as_deref() == user;
    let machine = entries.iter().find(|(name, login)| name.as_deref() == Some(host) && fits(login));
    let default = || entries.iter().find(|(name, login)| name.is_none() && fits(login));
    machine.or_else(default).map(|(_, login)| login.clone())
}

/// The tokens of a `.netrc`, with `macdef` bodies left out.
fn netrc_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let mut chars = line.chars().peekable();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let Some(&first) = chars.peek() else { break };
            let mut token = String::new();
            if first == '"' {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => token.extend(chars.next()),
                        c => token.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    token.push(c);
                }
            }
            let is_macdef = token == "macdef";
            tokens.push(token);
            if is_macdef {
                // The macro's name ends the line; its body runs to the next empty line.
                for body in lines.by_ref() {
                    if body.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
        }
    }
    tokens
}

/// Reads the `.netrc` at `path` for `host`: `Ok(None)` when it has no entry for the host or
/// (for the default path, `required` false) when the file does not exist.
pub fn read_netrc(path: &Path, required: bool, host: &str, user: Option<&str>) -> io::Result<Option<NetrcLogin>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(netrc_login(&text, host, user)),
        Err(err) if err.kind() == io::ErrorKind::NotFound && !required => Ok(None),
        Err(err) => Err(err),
    }
}

/// Whether a password can be asked for: standard input and standard error are a terminal.
pub fn can_prompt() -> bool {
    io::stdin().is_terminal() && io::stderr().is_terminal()
}

/// The terminal's settings while echo is off, for the signal handler to put back.
static ECHO_OFF: AtomicBool = AtomicBool::new(false);
static mut SAVED_TERMINAL: Option<libc::termios> = None;

extern "C" fn restore_and_exit(signal: libc::c_int) {
    // SAFETY: tcsetattr and _exit are async-signal-safe; SAVED_TERMINAL is written before
    // ECHO_OFF is set and not written again while it is set.
    unsafe {
        if ECHO_OFF.load(Ordering::SeqCst)
            && let Some(saved) = (*std::ptr::addr_of!(SAVED_TERMINAL)).as_ref()
        {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved);
        }
        libc::_exit(128 + signal);
    }
}

/// Asks for a password on standard error and reads it from the terminal on standard input
/// with echo off. Ctrl-C (or another terminating signal) puts the terminal back before the
/// program ends, so the shell does not stay blind.
pub fn prompt_password(prompt: &str) -> io::Result<String> {
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios is plain data; tcgetattr fills it for a descriptor that is open.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: set once, before the handlers that read it are installed.
    unsafe { *std::ptr::addr_of_mut!(SAVED_TERMINAL) = Some(saved) };
    let signals = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];
    let handler = restore_and_exit as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only calls async-signal-safe functions.
    let previous: Vec<_> = signals.iter().map(|&s| unsafe { libc::signal(s, handler) }).collect();
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    ECHO_OFF.store(true, Ordering::SeqCst);
    // SAFETY: `quiet` is a copy of valid settings with echo cleared.
    let set = unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &quiet) };
    let read = if set != 0 {
        Err(io::Error::last_os_error())
    } else {
        let mut stderr = io::stderr().lock();
        let _ = write!(stderr, "{prompt}");
        let _ = stderr.flush();
        let mut line = String::new();
        io::stdin().lock().read_line(&mut line).map(|_| line)
    };
    // SAFETY: puts back the settings read above; then the handlers that were there.
    unsafe {
        libc::tcsetattr(fd, libc::TCSAFLUSH, &saved);
    }
    ECHO_OFF.store(false, Ordering::SeqCst);
    for (&signal, &old) in signals.iter().zip(&previous) {
        // SAFETY: reinstalls what libc::signal returned for this signal.
        unsafe { libc::signal(signal, old) };
    }
    let line = read?;
    Ok(line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(user: &str, password: &str) -> Option<NetrcLogin> {
        Some(NetrcLogin { user: Some(user.into()), password: Some(password.into()) })
    }

    #[test]
    fn the_machine_entry_for_the_host_wins_over_default() {
        let text = "machine other.org login bob password b\nmachine 127.0.0.1\n  login alice\n  password \"s e\\\"cret\"\ndefault login anon password x\n";
        assert_eq!(netrc_login(text, "127.0.0.1", None), login("alice", "s e\"cret"));
        assert_eq!(netrc_login(text, "elsewhere", None), login("anon", "x"));
        assert_eq!(netrc_login("machine a login u password p", "b", None), None);
    }

    #[test]
    fn a_chosen_user_takes_only_its_own_entry() {
        let text = "machine h login alice password a\nmachine h login bob password b\n";
        assert_eq!(netrc_login(text, "h", Some("bob")), login("bob", "b"));
        assert_eq!(netrc_login(text, "h", Some("carol")), None);
    }

    #[test]
    fn macdef_bodies_are_skipped() {
        let text = "macdef init\nmachine h login evil password e\n\nmachine h login good password g\n";
        assert_eq!(netrc_login(text, "h", None), login("good", "g"));
    }

    #[test]
    fn a_missing_default_file_is_no_entry_but_a_named_one_is_an_error() {
        let missing = Path::new("/nonexistent-minftp-test/.netrc");
        assert!(read_netrc(missing, false, "h", None).unwrap().is_none());
        assert!(read_netrc(missing, true, "h", None).is_err());
    }
}
