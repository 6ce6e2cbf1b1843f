//! Progress for people: a bar (or a byte counter) on standard error while bytes move, and
//! one summary line at the end. Only on a terminal, unless forced for tests.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use humansize::{BINARY, FormatSizeOptions, format_size};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

/// Set to draw progress bars even when standard error is not a terminal (tests use it).
pub const FORCE_PROGRESS_VARIABLE: &str = "MINFTP_FORCE_PROGRESS";

/// How much a client prints about a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// Only errors (`-q`).
    Quiet,
    /// A progress bar on a terminal, and a summary line.
    Normal,
    /// A progress bar on a terminal; the caller reports the summary itself.
    BarOnly,
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
        let forced = std::env::var_os(FORCE_PROGRESS_VARIABLE).is_some();
        let show = verbosity != Verbosity::Quiet && (forced || io::stderr().is_terminal());
        let bar = show.then(|| {
            let target = if forced {
                ProgressDrawTarget::term_like_with_hz(Box::new(PlainStderr), 20)
            } else {
                ProgressDrawTarget::stderr()
            };
            let (bar, template) = match total {
                Some(total) => (
                    ProgressBar::with_draw_target(Some(total), target),
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
                ),
                None => (ProgressBar::with_draw_target(None, target), "{msg} {bytes} {binary_bytes_per_sec}"),
            };
            bar.set_style(ProgressStyle::with_template(template).expect("the template is valid").progress_chars("=> "));
            bar.set_message(label.to_string());
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
    /// standard error in [`Verbosity::Normal`].
    pub fn finish(self, verb: &str, name: &str, bytes: u64) -> String {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let line = summary(verb, name, bytes, self.started.elapsed());
        if self.verbosity == Verbosity::Normal {
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
