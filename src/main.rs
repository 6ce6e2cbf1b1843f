//! The minftp executable: parses the command line and dispatches to the library.

use std::io;
use std::process::ExitCode;

use clap::Parser;
use color_eyre::eyre::Result;
use minftp::cli::{Cli, ClientMode, Command, ServeMode};
use minftp::client::{comp431, lab, oneshot};
use minftp::server::{shutdown, stdin, tcp};
use minftp::transcript::Transcript;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = color_eyre::config::HookBuilder::default().display_env_section(false).install();
    match run(cli) {
        Ok(code) => code,
        Err(report) if is_broken_pipe(&report) => ExitCode::SUCCESS,
        Err(report) => {
            eprintln!("minftp: {report:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => match args.into_mode()? {
            ServeMode::Stdin(config) => {
                stdin::run(&config, io::stdin().lock(), &Transcript::stdout(), stdin::RETR_FOLDER.as_ref())?;
            }
            ServeMode::Sockets { listener, config } => {
                let transcript = Transcript::stdout();
                shutdown::exit_cleanly_on_interrupt(transcript.clone())?;
                shutdown::survive_file_size_limits();
                tcp::serve(listener, config, transcript)?;
            }
        },
        Command::Client(args) => match args.into_mode()? {
            ClientMode::Comp431(config) => {
                comp431::run(&config, io::stdin().lock(), &Transcript::stdout(), stdin::RETR_FOLDER.as_ref())?;
            }
            ClientMode::Lab(config) => lab::run(&config, io::stdin().lock(), &mut io::stdout())?,
        },
        Command::Get(args) => {
            let (connection, remote, destination) = args.into_request()?;
            oneshot::get(&connection, &remote, &destination)?;
        }
        Command::Put(args) => {
            let (connection, local, remote) = args.into_request()?;
            oneshot::put(&connection, &local, &remote)?;
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
