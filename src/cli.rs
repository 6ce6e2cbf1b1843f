//! The command line as the user types it (clap), its checks, and the generated artefacts
//! (shell completions and man pages) made from the same definitions.

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};
use clap_complete::{Generator, Shell};
use color_eyre::eyre::{Result, WrapErr, eyre};

use crate::protocol::line::DEFAULT_MAX_LINE;
use crate::server::sandbox::Root;
use crate::server::{Limits, ServerConfig};

/// An FTP server and client: byte-exact for the COMP 431 course, usable by real FTP clients.
#[derive(Debug, Parser)]
#[command(name = "minftp", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve files over FTP; standard output carries the COMP 431 transcript
    Serve(ServeArgs),
    /// Run the COMP 431 client session read from standard input
    Client(ClientArgs),
    /// Download one file
    Get(GetArgs),
    /// Upload one file
    Put(PutArgs),
    /// Print a shell completion script
    Completions {
        /// The shell to complete for
        shell: Shell,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TCP port to listen on
    #[arg(default_value_t = 2121)]
    pub port: u16,
    /// Folder to serve
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub root: PathBuf,
    /// Address to listen on (IPv4 or IPv6)
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0")]
    pub bind: IpAddr,
    /// COMP 431 Homework 1 mode: read commands from standard input, no sockets
    #[arg(long)]
    pub stdin: bool,
    /// Answer the command set real FTP clients need
    #[arg(long)]
    pub extended: bool,
    /// Allow uploads and changes (implies --extended)
    #[arg(long)]
    pub writable: bool,
    /// COSC 328 preset: --root server --writable
    #[arg(long)]
    pub lab: bool,
    /// Require this user name (extended only)
    #[arg(long, value_name = "NAME", requires = "password")]
    pub user: Option<String>,
    /// Require this password (extended only)
    #[arg(long, value_name = "PW", env = "MINFTP_PASSWORD", hide_env_values = true, requires = "user")]
    pub password: Option<String>,
    /// Most sessions served at once; more get 421
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_clients: u32,
    /// Seconds a control connection may stay silent
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
    /// Seconds to connect, and to wait on each write, on a data connection
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub data_timeout: u64,
    /// Longest command line in bytes, line ending included
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_LINE as u32, value_parser = clap::value_parser!(u32).range(16..))]
    pub max_line: u32,
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    /// First local port for data connections (one more for each PORT sent)
    #[arg(default_value_t = 2122)]
    pub dataport: u16,
    /// COSC 328 session: OPEN/GET/PUT/CLOSE/QUIT between client/ and server/
    #[arg(long)]
    pub lab: bool,
    /// IPv4 address to advertise in PORT (default: this host's name, resolved)
    #[arg(long, value_name = "IP")]
    pub data_ip: Option<Ipv4Addr>,
    /// Seconds to wait to connect, for a reply, or for the data connection
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Local folder of the lab session
    #[arg(long, value_name = "DIR", default_value = "client", requires = "lab")]
    pub dir: PathBuf,
}

/// Options shared by get and put.
#[derive(Debug, Args)]
pub struct TransferOptions {
    /// Use an active data connection (PORT/EPRT)
    #[arg(long, conflicts_with = "passive")]
    pub active: bool,
    /// Use a passive data connection only (EPSV/PASV)
    #[arg(long)]
    pub passive: bool,
    /// User name (default: anonymous)
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Password
    #[arg(long, value_name = "PW", env = "MINFTP_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Print nothing but errors
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// HOST, HOST:PORT, [IPv6]:PORT, or an ftp:// URL
    pub addr: String,
    /// Remote file (omit when ADDR is a URL)
    pub remote: Option<String>,
    /// Local file, or - for standard output
    #[arg(short, long, value_name = "LOCAL")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub options: TransferOptions,
}

#[derive(Debug, Args)]
pub struct PutArgs {
    /// HOST, HOST:PORT, [IPv6]:PORT, or an ftp:// URL
    pub addr: String,
    /// Local file to upload
    pub local: PathBuf,
    /// Remote name (default: the local file's name)
    pub remote: Option<String>,
    #[command(flatten)]
    pub options: TransferOptions,
}

/// A feature a later release of minftp will bring; reported with exit status 2.
#[derive(Debug)]
pub struct NotBuiltYet(pub &'static str);

impl std::fmt::Display for NotBuiltYet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is not built yet in this version of minftp", self.0)
    }
}

impl std::error::Error for NotBuiltYet {}

/// How `serve` was asked to run, after its flags were checked.
pub enum ServeMode {
    Stdin(ServerConfig),
    Sockets { listener: TcpListener, config: ServerConfig },
}

impl ServeArgs {
    /// Checks the flags, opens the root and (for socket mode) binds the port.
    pub fn into_mode(self) -> Result<ServeMode> {
        if self.extended || self.writable || self.lab || self.user.is_some() {
            return Err(NotBuiltYet("the extended dialect (--extended, --writable, --lab, --user)").into());
        }
        let root = Root::new(&self.root).wrap_err_with(|| format!("cannot serve {}", self.root.display()))?;
        let limits = Limits {
            max_clients: self.max_clients as usize,
            idle_timeout: Duration::from_secs(self.idle_timeout),
            data_timeout: Duration::from_secs(self.data_timeout),
            max_line: self.max_line as usize,
        };
        let config = ServerConfig { root, limits };
        if self.stdin {
            return Ok(ServeMode::Stdin(config));
        }
        let listener = TcpListener::bind((self.bind, self.port)).map_err(|err| match err.kind() {
            io::ErrorKind::AddrInUse => {
                eyre!("port {} is already in use; pick another port", self.port)
            }
            _ => eyre!("cannot listen on {}:{}: {err}", self.bind, self.port),
        })?;
        Ok(ServeMode::Sockets { listener, config })
    }
}

/// The generated files and their contents, from the clap definitions.
pub fn generated_files() -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::Elvish, Shell::PowerShell] {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "minftp", &mut script);
        let name = shell.file_name("minftp");
        files.push((Path::new("completions").join(name), script));
    }
    let command = Cli::command();
    let mut pages = vec![("minftp.1".to_string(), command.clone())];
    for sub in command.get_subcommands() {
        let name = format!("minftp-{}", sub.get_name());
        pages.push((format!("{name}.1"), sub.clone().name(name)));
    }
    for (file, page) in pages {
        let mut roff = Vec::new();
        clap_mangen::Man::new(page).render(&mut roff).expect("rendering into memory cannot fail");
        files.push((Path::new("man").join(file), roff));
    }
    files
}

/// Writes the generated files under `dir` (used to refresh the committed copies).
pub fn write_generated_files(dir: &Path) -> io::Result<()> {
    for (path, contents) in generated_files() {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().expect("generated files live in a folder"))?;
        fs::write(path, contents)?;
    }
    Ok(())
}

/// Writes the completion script for `shell` to `out`.
pub fn write_completions(shell: Shell, out: &mut dyn io::Write) {
    clap_complete::generate(shell, &mut Cli::command(), "minftp", out);
}

impl ClientArgs {
    pub fn into_config(self) -> Result<crate::client::ClientConfig> {
        if self.lab {
            return Err(NotBuiltYet("the COSC 328 lab session (client --lab)").into());
        }
        Ok(crate::client::ClientConfig {
            first_data_port: self.dataport,
            data_ip: self.data_ip,
            timeout: Duration::from_secs(self.timeout),
        })
    }
}
