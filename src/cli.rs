//! The command line as the user types it (clap), its checks, and the generated artefacts
//! (shell completions and man pages) made from the same definitions.

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};
use clap_complete::{Generator, Shell};
use color_eyre::eyre::{Result, WrapErr, eyre};

use crate::client::ftp::DataMode;
use crate::client::oneshot::{Connection, Destination, GetRequest, Login, PutRequest, Recovery, default_local_name};
use crate::client::progress::Verbosity;
use crate::client::target::{Target, check_sendable, parse_target};
use crate::protocol::command::Dialect;
use crate::protocol::line::DEFAULT_MAX_LINE;
use crate::server::access_log::AccessLog;
use crate::server::sandbox::Root;
use crate::server::session::{Credentials, Policy};
use crate::server::{DEFAULT_BANNER, Limits, Operation, ServerConfig};

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
    /// TCP port to listen on (0: any free port, shown on standard error)
    #[arg(default_value_t = 2121)]
    pub port: u16,
    /// Folder to serve [default: ., or server with --lab]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Address to listen on, IPv4 or IPv6 [default: 0.0.0.0; 127.0.0.1 with --lab]
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<IpAddr>,
    /// COMP 431 Homework 1 mode: read commands from standard input, no sockets
    #[arg(long, conflicts_with_all = ["extended", "writable", "lab", "user"])]
    pub stdin: bool,
    /// Answer the command set real FTP clients need (curl, wget, lftp, FileZilla, ftplib)
    #[arg(long)]
    pub extended: bool,
    /// Allow uploads and changes (implies --extended)
    #[arg(long)]
    pub writable: bool,
    /// COSC 328 preset: --root server --writable (creates server/ if missing)
    #[arg(long)]
    pub lab: bool,
    /// Require this user name (extended dialect only; default: anonymous, any password)
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Require this password with --user (or set MINFTP_PASSWORD, which keeps it out of `ps`)
    #[arg(long, value_name = "PW", requires = "user")]
    pub password: Option<String>,
    /// The greeting's text (extended dialect) [default: minftp FTP server ready.]
    #[arg(long, value_name = "TEXT")]
    pub banner: Option<String>,
    /// Address announced in PASV replies behind NAT or in a container: an IP, or a name
    /// resolved at each PASV (EPSV needs none)
    #[arg(long, value_name = "HOST")]
    pub public_address: Option<String>,
    /// Append an access log to FILE: a line per session start and end, transfer, change, login
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Write the access log to standard error too
    #[arg(short, long)]
    pub verbose: bool,
    /// Prefix each transcript line with its session's number (extended dialect)
    #[arg(long)]
    pub transcript_sessions: bool,
    /// Most sessions one client address may hold at once; more get 421
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_per_ip: Option<u32>,
    /// Most bytes per second one session may move on its data connections
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_rate: Option<u64>,
    /// Ports for passive data connections, as FIRST-LAST [default: any free port]
    #[arg(long, value_name = "FIRST-LAST", value_parser = parse_port_range)]
    pub passive_ports: Option<RangeInclusive<u16>>,
    /// Most sessions served at once; more get 421
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_clients: u32,
    /// Seconds a control connection may stay silent (at most a day)
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub idle_timeout: u64,
    /// Seconds to connect or accept, and to wait on each read or write, on a data connection
    /// (at most a day)
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub data_timeout: u64,
    /// Longest command line in bytes, line ending included (16 to 16 MiB)
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_LINE as u32, value_parser = clap::value_parser!(u32).range(16..=16 << 20))]
    pub max_line: u32,
}

/// `FIRST-LAST`, with FIRST <= LAST.
fn parse_port_range(text: &str) -> std::result::Result<RangeInclusive<u16>, String> {
    let (first, last) = text.split_once('-').ok_or("expected FIRST-LAST, such as 50000-50100")?;
    let first: u16 = first.trim().parse().map_err(|e| format!("bad first port: {e}"))?;
    let last: u16 = last.trim().parse().map_err(|e| format!("bad last port: {e}"))?;
    if first == 0 || first > last {
        return Err("the range must be FIRST-LAST with 0 < FIRST <= LAST".into());
    }
    Ok(first..=last)
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
    #[arg(long, value_name = "IP", conflicts_with = "lab")]
    pub data_ip: Option<Ipv4Addr>,
    /// Seconds to wait to connect, for a reply, or for the data connection (at most a day)
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
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
    /// Seconds to wait to connect, for a reply, or for data
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    /// Continue a partial file: the local one (get) or the remote one (put)
    #[arg(short = 'c', long = "continue")]
    pub resume: bool,
    /// Attempts after the first when the connection breaks, times out or gets a 4xx (0: none)
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub retry: u32,
    /// Seconds before the first retry; each further one waits twice as long (at most 60)
    #[arg(long, value_name = "SECS", default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=60))]
    pub retry_delay: u64,
}

impl TransferOptions {
    /// Refuses a user or password that cannot be sent in a command line (see
    /// [`check_sendable`]), before anything is sent.
    fn check_login(&self) -> Result<()> {
        for value in [&self.user, &self.password].into_iter().flatten() {
            check_sendable(value).map_err(|e| eyre!(e))?;
        }
        Ok(())
    }

    fn recovery(&self) -> Recovery {
        Recovery { resume: self.resume, retries: self.retry, retry_delay: Duration::from_secs(self.retry_delay) }
    }

    /// The connection to `target`: flags first, then the URL's login, then anonymous.
    fn connection(&self, target: &Target) -> Connection {
        let anonymous = Login::anonymous();
        let user = self.user.clone().or_else(|| target.user.clone());
        let login = match user {
            None => anonymous,
            Some(user) => {
                let password = self.password.clone().or_else(|| target.password.clone()).unwrap_or_default();
                Login { user, password }
            }
        };
        Connection {
            host: target.host.clone(),
            port: target.port,
            login,
            mode: match (self.active, self.passive) {
                (true, _) => DataMode::Active,
                (_, true) => DataMode::Passive,
                _ => DataMode::Auto,
            },
            timeout: Duration::from_secs(self.timeout),
            verbosity: if self.quiet { Verbosity::Quiet } else { Verbosity::Normal },
        }
    }
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// HOST, HOST:PORT, [IPv6]:PORT, or an ftp:// URL
    pub addr: String,
    /// Remote file (omit when ADDR is a URL)
    pub remote: Option<String>,
    /// Local file or folder, or - for standard output
    #[arg(short, long, value_name = "LOCAL")]
    pub output: Option<PathBuf>,
    /// Do not overwrite an existing local file
    #[arg(short = 'n', long, conflicts_with = "resume")]
    pub no_clobber: bool,
    /// Abort a download larger than this many bytes (nothing is kept)
    #[arg(long, value_name = "BYTES")]
    pub max_filesize: Option<u64>,
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

impl GetArgs {
    /// The connection and the download.
    pub fn into_request(self) -> Result<(Connection, GetRequest)> {
        let target = parse_target(&self.addr).map_err(|e| eyre!(e))?;
        let remote = match (target.path.clone(), self.remote) {
            (Some(_), Some(_)) => return Err(eyre!("give the remote file either in the URL or as REMOTE, not both")),
            (Some(path), None) | (None, Some(path)) => path,
            (None, None) => {
                return Err(eyre!("name the remote file: minftp get ADDR REMOTE, or an ftp:// URL with a path"));
            }
        };
        let destination = match self.output {
            Some(path) if path.as_os_str() == "-" => Destination::Stdout,
            Some(path) => Destination::File(path),
            None => Destination::File(default_local_name(&remote)?),
        };
        check_sendable(&remote).map_err(|e| eyre!(e))?;
        self.options.check_login()?;
        if destination == Destination::Stdout && self.options.resume {
            return Err(eyre!("--continue needs a local file; standard output cannot be continued"));
        }
        let request = GetRequest {
            remote,
            destination,
            no_clobber: self.no_clobber,
            max_filesize: self.max_filesize,
            recovery: self.options.recovery(),
        };
        Ok((self.options.connection(&target), request))
    }
}

impl PutArgs {
    /// The connection and the upload.
    pub fn into_request(self) -> Result<(Connection, PutRequest)> {
        let target = parse_target(&self.addr).map_err(|e| eyre!(e))?;
        let local_name = self
            .local
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| eyre!("{} names no file", self.local.display()))?;
        let remote = match (target.path.clone(), self.remote) {
            (Some(_), Some(_)) => return Err(eyre!("give the remote name either in the URL or as REMOTE, not both")),
            (Some(path), None) if path.ends_with('/') => format!("{path}{local_name}"),
            (Some(path), None) | (None, Some(path)) => path,
            (None, None) => local_name,
        };
        check_sendable(&remote).map_err(|e| eyre!(e))?;
        self.options.check_login()?;
        let request = PutRequest { local: self.local, remote, recovery: self.options.recovery() };
        Ok((self.options.connection(&target), request))
    }
}

/// How `serve` was asked to run, after its flags were checked.
pub enum ServeMode {
    Stdin(ServerConfig),
    Sockets { listener: TcpListener, config: ServerConfig },
}

impl ServeArgs {
    /// Checks the flags, opens the root and (for socket mode) binds the port.
    pub fn into_mode(self) -> Result<ServeMode> {
        let extended = self.extended || self.writable || self.lab;
        if self.user.is_some() && !extended {
            return Err(eyre!("--user applies to the extended dialect; add --extended (or --writable)"));
        }
        for (given, flag) in [
            (self.banner.is_some(), "--banner"),
            (self.public_address.is_some(), "--public-address"),
            (self.transcript_sessions, "--transcript-sessions"),
        ] {
            if given && !extended {
                return Err(eyre!("{flag} applies to the extended dialect; add --extended (or --writable)"));
            }
        }
        // A password without a user would be an open server that looks protected.
        let environment_password = std::env::var("MINFTP_PASSWORD").ok().filter(|p| !p.is_empty());
        let password = self.password.clone().or(environment_password.clone());
        if self.user.is_some() && password.is_none() {
            return Err(eyre!("--user needs a password: --password PW, or MINFTP_PASSWORD in the environment"));
        }
        // Said with the startup lines, after the address.
        let mut warnings = Vec::new();
        if self.user.is_none() && environment_password.is_some() && extended && !self.stdin {
            warnings.push(
                "warning: MINFTP_PASSWORD is set but --user is not: this server is anonymous (any name, any password)"
                    .to_string(),
            );
        }
        let root_dir = self.root.clone().unwrap_or_else(|| PathBuf::from(if self.lab { "server" } else { "." }));
        if self.lab {
            fs::create_dir_all(&root_dir).wrap_err_with(|| format!("cannot create {}", root_dir.display()))?;
        }
        let root = Root::new(&root_dir).wrap_err_with(|| format!("cannot serve {}", root_dir.display()))?;
        let limits = Limits {
            max_clients: self.max_clients as usize,
            idle_timeout: Duration::from_secs(self.idle_timeout),
            data_timeout: Duration::from_secs(self.data_timeout),
            max_line: self.max_line as usize,
            ..Limits::default()
        };
        let credentials = match (self.user, password) {
            (Some(user), Some(password)) => {
                Some(Credentials { user: user.into_bytes(), password: password.into_bytes() })
            }
            _ => None,
        };
        let access_log = if self.log.is_some() || self.verbose {
            let log = AccessLog::open(self.log.as_deref(), self.verbose).wrap_err_with(|| {
                format!("cannot write the log {}", self.log.as_deref().unwrap_or(Path::new("-")).display())
            })?;
            Some(std::sync::Arc::new(log))
        } else {
            None
        };
        let operation = Operation {
            banner: extended.then(|| self.banner.clone().unwrap_or_else(|| DEFAULT_BANNER.to_string())),
            public_address: self.public_address.clone(),
            access_log,
            transcript_sessions: self.transcript_sessions,
            max_per_ip: self.max_per_ip.map(|n| n as usize),
            max_rate: self.max_rate,
            warnings,
        };
        let policy = Policy {
            dialect: if extended { Dialect::Extended } else { Dialect::Comp431 },
            writable: self.writable || self.lab,
            credentials,
        };
        let config = ServerConfig { root, limits, policy, passive_ports: self.passive_ports, operation };
        if self.stdin {
            return Ok(ServeMode::Stdin(config));
        }
        // The lab's server is for one machine, as the COSC 328 handout's listens on 127.0.0.1.
        let bind = self.bind.unwrap_or(if self.lab {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        });
        let listener = TcpListener::bind((bind, self.port)).map_err(|err| match err.kind() {
            io::ErrorKind::AddrInUse => eyre!("port {} is already in use; pick another port", self.port),
            _ => eyre!("cannot listen on {bind}:{}: {err}", self.port),
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

/// How `client` was asked to run.
pub enum ClientMode {
    Comp431(crate::client::ClientConfig),
    Lab(crate::client::lab::LabConfig),
}

impl ClientArgs {
    pub fn into_mode(self) -> Result<ClientMode> {
        let timeout = Duration::from_secs(self.timeout);
        if self.lab {
            return Ok(ClientMode::Lab(crate::client::lab::LabConfig { folder: self.dir, timeout }));
        }
        Ok(ClientMode::Comp431(crate::client::ClientConfig {
            first_data_port: self.dataport,
            data_ip: self.data_ip,
            timeout,
        }))
    }
}
