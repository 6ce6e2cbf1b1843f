//! Progress for people: a bar (or a byte counter) on standard error while bytes move, and
//! one summary line at the end. Only on a terminal, unless forced for tests.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use humansize::{BINARY, FormatSizeOptions, format_size};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

use crate::diagnostics::shown;

/// Set to draw progress bars even when standard error is not a terminal (tests use it).
pub const FORCE_PROGRESS_VARIABLE: &str = "MINFTP_FORCE_PROGRESS";

/// A bar whose total is known: label, bar, bytes of total, rate, time left.
const SIZED_TEMPLATE: &str = "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}";

/// How much a client prints about a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// Only errors (`-q`).
    Quiet,
    /// A progress bar on a terminal, and a summary line.
    Normal,
    /// A progress bar on a terminal; the caller reports the summary itself.
    BarOnly,
    /// The FTP dialogue on standard error (`-v`, see
    /// [`trace_dialogue`](super::control::trace_dialogue)) and the summary line, without a
    /// bar: its redraws would cut through the dialogue's lines.
    Dialogue,
}

/// The progress of one transfer.
pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    verbosity: Verbosity,
}

impl Progress {
    /// Starts showing progress for `label`; `total` is the size when known.
    pub fn start(label: &str, total: Option<u64>, verbosity: Verbosity) -> Progress {
        let bar = progress_target(verbosity).map(|target| {
            let (bar, template) = match total {
                Some(total) => (ProgressBar::with_draw_target(Some(total), target), SIZED_TEMPLATE),
                None => (ProgressBar::with_draw_target(None, target), "{msg} {bytes} {binary_bytes_per_sec}"),
            };
            bar.set_style(ProgressStyle::with_template(template).expect("the template is valid").progress_chars("=> "));
            bar.set_message(shown(label).into_owned());
            bar
        });
        Progress { bar, started: Instant::now(), verbosity }
    }

    /// The byte count so far (cheap: the bar redraws at most 20 times a second).
    pub fn update(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
        }
    }

    /// Removes the bar and returns `VERB NAME: SIZE in TIME (RATE)`, also printing it on
    /// standard error in [`Verbosity::Normal`] and [`Verbosity::Dialogue`].
    pub fn finish(self, verb: &str, name: &str, bytes: u64) -> String {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let line = summary(verb, name, bytes, self.started.elapsed());
        if matches!(self.verbosity, Verbosity::Normal | Verbosity::Dialogue) {
            crate::diagnostics::stderr_line(&line);
        }
        line
    }

    /// Removes the bar after a failure (the error is reported elsewhere).
    pub fn abandon(self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The progress of many transfers (`get -r`, `-j`): one bar for all of them (files done of
/// the total, bytes, rate, ETA), with a line above it per finished file, on a terminal.
/// Failures are always printed; the summary line unless quiet.
pub struct BatchProgress {
    bar: Option<ProgressBar>,
    total_files: usize,
    verbosity: Verbosity,
}

impl BatchProgress {
    pub fn start(total_files: usize, total_bytes: u64, verbosity: Verbosity) -> BatchProgress {
        let bar = progress_target(verbosity).map(|target| {
            let bar = ProgressBar::with_draw_target(Some(total_bytes), target);
            let template = SIZED_TEMPLATE;
            bar.set_style(ProgressStyle::with_template(template).expect("the template is valid").progress_chars("=> "));
            bar.set_message(format!("0/{total_files} files"));
            bar
        });
        BatchProgress { bar, total_files, verbosity }
    }

    /// The bytes moved so far, all transfers together.
    pub fn update(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
        }
    }

    /// A file is done (`done` of them so far): its line goes above the bar.
    pub fn finished(&self, done: usize, line: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{done}/{} files", self.total_files));
            bar.println(shown(line));
        }
    }

    /// A line worth reading even off a terminal (a skipped entry), unless quiet.
    pub fn note(&self, line: &str) {
        if self.verbosity != Verbosity::Quiet {
            self.print(line);
        }
    }

    /// A file failed: always said.
    pub fn failure(&self, line: &str) {
        self.print(&format!("minftp: {line}"));
    }

    fn print(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| crate::diagnostics::stderr_line(line)),
            None => crate::diagnostics::stderr_line(line),
        }
    }

    /// Removes the bar and prints `summary` (unless quiet).
    pub fn finish(self, summary: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if self.verbosity != Verbosity::Quiet {
            crate::diagnostics::stderr_line(summary);
        }
    }
}

/// Where a bar is drawn: standard error on a terminal (or when forced for tests); nowhere
/// when quiet or off a terminal.
fn progress_target(verbosity: Verbosity) -> Option<ProgressDrawTarget> {
    let forced = std::env::var_os(FORCE_PROGRESS_VARIABLE).is_some();
    let show = matches!(verbosity, Verbosity::Normal | Verbosity::BarOnly) && (forced || io::stderr().is_terminal());
    show.then(|| {
        if forced {
            ProgressDrawTarget::term_like_with_hz(Box::new(PlainStderr), 20)
        } else {
            ProgressDrawTarget::stderr()
        }
    })
}

/// A size as people read it: `1.00 GiB`.
pub fn human_size(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    format_size(bytes, FormatSizeOptions::from(BINARY).decimal_places(2).decimal_zeroes(2))
}

/// `saved file.txt: 1.00 GiB in 0.45 s (2.22 GiB/s)`.
pub fn summary(verb: &str, name: &str, bytes: u64, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    let rate = if seconds > 0.0 { human_size((bytes as f64 / seconds) as u64) } else { "-".into() };
    format!("{verb} {name}: {} in {seconds:.2} s ({rate}/s)", human_size(bytes))
}

/// Standard error as a terminal for indicatif, for when progress is forced onto a pipe.
#[derive(Debug)]
struct PlainStderr;

impl TermLike for PlainStderr {
    fn width(&self) -> u16 {
        100
    }
    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        write!(io::stderr(), "\x1b[{n}A")
    }
    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        write!(io::stderr(), "\x1b[{n}B")
    }
    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        write!(io::stderr(), "\x1b[{n}C")
    }
    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        write!(io::stderr(), "\x1b[{n}D")
    }
    fn write_line(&self, line: &str) -> io::Result<()> {
        writeln!(io::stderr(), "{line}")
    }
    fn write_str(&self, text: &str) -> io::Result<()> {
        write!(io::stderr(), "{text}")
    }
    fn clear_line(&self) -> io::Result<()> {
        write!(io::stderr(), "\r\x1b[2K")
    }
    fn flush(&self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_have_binary_units_and_two_decimals() {
        assert_eq!(human_size(1 << 30), "1.00 GiB");
        assert_eq!(human_size(1536), "1.50 KiB");
        assert_eq!(human_size(12), "12 B");
    }

    #[test]
    fn the_summary_line_gives_size_time_and_rate() {
        assert_eq!(
            summary("saved", "f.txt", 1 << 30, Duration::from_millis(500)),
            "saved f.txt: 1.00 GiB in 0.50 s (2.00 GiB/s)"
        );
    }
}
