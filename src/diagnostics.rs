//! Diagnostics on standard error. Writing them never fails loudly: a server whose stderr
//! was closed (a detached terminal, a test that stopped reading) must keep serving, and
//! `eprintln!` would panic instead.

use std::fmt;
use std::io::{self, Write};

/// Writes `minftp: MESSAGE` and a line feed to standard error, ignoring failures.
pub fn diagnostic(message: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr(), "minftp: {message}");
}

/// Writes a line to standard error as it is, ignoring failures.
pub fn stderr_line(line: &str) {
    let _ = writeln!(io::stderr(), "{line}");
}

/// `diag!("format", args)`: a diagnostic line on standard error (see [`diagnostic`]).
#[macro_export]
macro_rules! diag {
    ($($arg:tt)*) => {
        $crate::diagnostics::diagnostic(format_args!($($arg)*))
    };
}
