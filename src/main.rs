//! The minftp executable: parses the command line and dispatches to the library.

use std::io;
use std::process::ExitCode;

use clap::Parser;
use color_eyre::eyre::Result;
use minftp::cli::{Cli, ClientMode, Command, GetJob, PutJob, ServeMode, UsageError};
use minftp::client::{self, batch, comp431, lab, ls, oneshot};
use minftp::protocol::command::Dialect;
use minftp::server::{shutdown, stdin, tcp};
use minftp::transcript::Transcript;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = color_eyre::config::HookBuilder::default().display_env_section(false).install();
    match run(cli) {
        Ok(code) => code,
        Err(report) if is_broken_pipe(&report) => ExitCode::SUCCESS,
        Err(report) => {
            minftp::diag!("{report:#}");
            // Exit status 2 for how minftp was called (as clap's own errors), 1 for a failure.
            if report.downcast_ref::<UsageError>().is_some() { ExitCode::from(2) } else { ExitCode::FAILURE }
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => match args.into_mode()? {
            ServeMode::Stdin(config) => {
                shutdown::stop_stdin_mode_on_signals()?;
                stdin::run(&config, io::stdin().lock(), &Transcript::stdout(), stdin::RETR_FOLDER.as_ref())?;
            }
            ServeMode::Sockets { listeners, config } => {
                // Before the transcript's writer thread exists, so that it never takes them.
                minftp::signals::block_terminating_signals()?;
                let escape = config.policy.dialect == Dialect::Extended;
                let stdout_fd = std::os::fd::AsRawFd::as_raw_fd(&io::stdout());
                let transcript = Transcript::queued(io::stdout(), Some(stdout_fd), escape)?;
                shutdown::stop_on_signals(transcript.clone())?;
                shutdown::survive_file_size_limits();
                tcp::serve(listeners, config, transcript)?;
            }
        },
        Command::Client(args) => match args.into_mode()? {
            ClientMode::Comp431(config) => {
                client::stop_on_signals(false)?;
                comp431::run(&config, io::stdin().lock(), &Transcript::stdout(), stdin::RETR_FOLDER.as_ref())?;
            }
            ClientMode::Lab(config) => {
                client::stop_on_signals(true)?;
                let mut lines: Box<dyn lab::LineSource> = if config.interactive {
                    Box::new(lab::TerminalLines::new()?)
                } else {
                    Box::new(lab::PlainLines(io::stdin().lock()))
                };
                if !lab::run(&config, lines.as_mut(), &mut io::stdout(), &mut io::stderr())? {
                    return Ok(ExitCode::FAILURE);
                }
            }
        },
        Command::Get(args) => {
            let job = args.into_job()?;
            client::stop_on_signals(false)?;
            match job {
                GetJob::One(connection, request) => {
                    oneshot::get(&connection, &request)?;
                }
                GetJob::Many { connection, remotes, local, into_folder, recursive, options } => {
                    batch::get_many(&connection, &remotes, &local, into_folder, recursive, &options)?;
                }
            }
        }
        Command::Put(args) => {
            let job = args.into_job()?;
            client::stop_on_signals(false)?;
            match job {
                PutJob::One(connection, request) => {
                    oneshot::put(&connection, &request)?;
                }
                PutJob::Many { connection, locals, remote, into_folder, recursive, create_dirs, options } => {
                    batch::put_many(&connection, &locals, &remote, into_folder, recursive, create_dirs, &options)?;
                }
            }
        }
        Command::Ls(args) => {
            let (connection, path, form) = args.into_request()?;
            ls::ls(&connection, &path, form)?;
        }
        Command::Completions { shell } => minftp::cli::write_completions(shell, &mut io::stdout()),
    }
    Ok(ExitCode::SUCCESS)
}

/// A closed standard output (`minftp ... | head`) ends the program quietly.
fn is_broken_pipe(report: &color_eyre::Report) -> bool {
    report
        .chain()
        .any(|cause| cause.downcast_ref::<io::Error>().is_some_and(|err| err.kind() == io::ErrorKind::BrokenPipe))
}
