//! Diagnostics on standard error. Writing them never fails loudly: a server whose stderr
//! was closed (a detached terminal, a test that stopped reading) must keep serving, and
//! `eprintln!` would panic instead.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};

/// Writes `minftp: MESSAGE` and a line feed to standard error, ignoring failures (control
/// bytes escaped: see [`shown`]).
pub fn diagnostic(message: fmt::Arguments<'_>) {
    stderr_line(&format!("minftp: {message}"));
}

/// Writes a line to standard error, ignoring failures (control bytes escaped: see [`shown`]).
pub fn stderr_line(line: &str) {
    let _ = writeln!(io::stderr(), "{}", shown(line));
}

/// `text` as standard error shows it: control bytes other than line ends escaped (`\x1b`).
/// Messages carry what peers chose (a server's file names, a client's paths), and
/// escape sequences in them must not drive the terminal of the user or operator.
pub fn shown(text: &str) -> Cow<'_, str> {
    match crate::protocol::line::escape_controls(text.as_bytes(), true) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        // Only ASCII control bytes were replaced, by ASCII: still UTF-8.
        Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

/// `diag!("format", args)`: a diagnostic line on standard error (see [`diagnostic`]).
#[macro_export]
macro_rules! diag {
    ($($arg:tt)*) => {
        $crate::diagnostics::diagnostic(format_args!($($arg)*))
    };
}
