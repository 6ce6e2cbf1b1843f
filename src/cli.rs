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

use crate::client::batch::BatchOptions;
use crate::client::ftp::{DataMode, Security};
use crate::client::listing::has_glob;
use crate::client::login::{can_prompt, default_netrc, prompt_password, read_netrc};
use crate::client::ls::ListForm;
use crate::client::oneshot::{Connection, Destination, GetRequest, Login, PutRequest, Recovery, default_local_name};
use crate::client::progress::Verbosity;
use crate::client::target::{Target, UrlTls, check_sendable, parse_target};
use crate::protocol::command::Dialect;
use crate::protocol::line::DEFAULT_MAX_LINE;
use crate::server::access_log::AccessLog;
use crate::server::sandbox::Root;
use crate::server::session::{Credentials, Policy, TlsPolicy};
use crate::server::tcp::Listeners;
use crate::server::{DEFAULT_BANNER, Limits, Operation, ServerConfig};
use crate::tls::{ServerTls, Trust};

/// An FTP server and client: byte-exact for the COMP 431 course, usable by real FTP clients.
#[derive(Debug, Parser)]
#[command(name = "minftp", version, propagate_version = true, disable_help_subcommand = true, after_help = TOP_EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve files over FTP. The default dialect is the COMP 431 course's (eight commands,
    /// its exact transcript on standard output); --extended serves real FTP clients
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Run the COMP 431 client session read from standard input, or with --lab the COSC
    /// 328 session (OPEN, GET, PUT, CLOSE, QUIT, HELP) typed by a person
    #[command(after_help = CLIENT_EXAMPLES)]
    Client(ClientArgs),
    /// Download files, globs or trees, with resume, retries, parallel connections and progress
    #[command(after_help = GET_EXAMPLES)]
    Get(GetArgs),
    /// Upload files or trees, with resume, retries, parallel connections and progress
    #[command(after_help = PUT_EXAMPLES)]
    Put(PutArgs),
    /// List a remote folder: names, a long form, or JSON, the same whatever the server
    #[command(after_help = LS_EXAMPLES)]
    Ls(LsArgs),
    /// Print a shell completion script
    #[command(after_help = COMPLETIONS_EXAMPLES)]
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
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
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
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
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
    /// FTP over TLS (extended dialect): AUTH TLS required before login, PROT P for data.
    /// Without --cert, a self-signed certificate is made once and kept; its fingerprint is
    /// printed at start
    #[arg(long)]
    pub tls: bool,
    /// With --tls: let clear-text clients in too
    #[arg(long, requires = "tls", conflicts_with = "tls_implicit")]
    pub tls_optional: bool,
    /// TLS from the first byte (ftps://, usually port 990) instead of AUTH TLS; implies --tls
    #[arg(long)]
    pub tls_implicit: bool,
    /// With --tls: also listen on PORT for implicit TLS (ftps://, usually 990), beside the
    /// explicit port (0: a free port, shown at start)
    #[arg(long, value_name = "PORT", requires = "tls", conflicts_with = "tls_implicit")]
    pub tls_implicit_port: Option<u16>,
    /// Certificate chain for TLS, PEM (the server's certificate first); it and --key are
    /// read again for new connections when they change, so a renewal needs no restart
    #[arg(long, value_name = "FILE", requires = "key", value_hint = clap::ValueHint::FilePath)]
    pub cert: Option<PathBuf>,
    /// Private key of --cert, PEM
    #[arg(long, value_name = "FILE", requires = "cert", value_hint = clap::ValueHint::FilePath)]
    pub key: Option<PathBuf>,
    /// Accept PROT P data connections that resume no TLS session of the same client (for
    /// clients that cannot, such as Python's ftplib by default)
    #[arg(long)]
    pub tls_no_reuse_check: bool,
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
    /// COMP 431: the first local port for data connections, one more for each PORT sent
    /// [default: 2122]. With --lab: the server's port on 127.0.0.1, opened at start
    #[arg(value_name = "PORT")]
    pub dataport: Option<u16>,
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
    #[arg(long, value_name = "DIR", default_value = "client", requires = "lab", value_hint = clap::ValueHint::DirPath)]
    pub dir: PathBuf,
}

/// How to reach and log in to a server: shared by get, put and ls.
#[derive(Debug, Args)]
pub struct ConnectOptions {
    /// Use an active data connection (PORT/EPRT)
    #[arg(long, conflicts_with = "passive")]
    pub active: bool,
    /// Use a passive data connection only (EPSV/PASV)
    #[arg(long)]
    pub passive: bool,
    /// User name (default: from the URL, else ~/.netrc, else anonymous)
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Password (default: from the URL, else ~/.netrc, else asked for on a terminal)
    #[arg(long, value_name = "PW", env = "MINFTP_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Read logins from FILE instead of ~/.netrc (the format curl, wget, lftp and ftp read)
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub netrc_file: Option<PathBuf>,
    /// Print nothing but errors
    #[arg(short, long)]
    pub quiet: bool,
    /// Show the FTP dialogue on standard error, as curl -v: commands sent (a password as
    /// ****), replies, connections and TLS handshakes; no progress bar
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Seconds to wait to connect, for a reply, or for data
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    /// Require TLS (AUTH TLS, PBSZ 0, PROT P); a server that refuses it is left before the
    /// login is sent. An ftpes:// URL means the same; an ftps:// URL means TLS from the
    /// first byte instead
    #[arg(long)]
    pub tls: bool,
    /// Trust the CA certificates in FILE (PEM) as well as the system's
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath, conflicts_with_all = ["pin_sha256", "insecure"])]
    pub cacert: Option<PathBuf>,
    /// Trust exactly the certificate with this SHA-256 fingerprint, as `minftp serve --tls`
    /// prints it (colons optional): for self-signed servers
    #[arg(long, value_name = "HEX", value_parser = crate::tls::parse_fingerprint, conflicts_with = "insecure")]
    pub pin_sha256: Option<[u8; 32]>,
    /// Do not check the server's certificate: still encrypted, but anyone in between can
    /// read and change everything
    #[arg(short = 'k', long)]
    pub insecure: bool,
}

/// What to do with many files and with broken transfers: shared by get and put.
#[derive(Debug, Args)]
pub struct TransferOptions {
    #[command(flatten)]
    pub connect: ConnectOptions,
    /// Continue a partial file: the local one (get) or the remote one (put)
    #[arg(short = 'c', long = "continue")]
    pub resume: bool,
    /// Attempts after the first when the connection breaks, times out or gets a 4xx (0: none)
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub retry: u32,
    /// Seconds before the first retry; each further one waits twice as long (at most 60)
    #[arg(long, value_name = "SECS", default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=60))]
    pub retry_delay: u64,
    /// Transfer folders and everything in them
    #[arg(short, long)]
    pub recursive: bool,
    /// Control connections at once for several files or a tree
    #[arg(short = 'j', long = "parallel", value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub parallel: u32,
    /// Skip files whose copy already has the same size and is not older (as lftp mirror
    /// --only-newer), so that a second run of a mirror transfers nothing
    #[arg(long)]
    pub newer: bool,
}

impl ConnectOptions {
    /// How to trust the server, when the session uses TLS (`--tls`, `ftpes://` or `ftps://`).
    fn security(&self, target: &Target) -> Result<Security> {
        let trust = match (&self.cacert, self.pin_sha256, self.insecure) {
            (_, Some(pin), _) => Trust::Pinned(pin),
            (_, _, true) => Trust::Anything,
            (extra_ca, None, false) => Trust::Verified { extra_ca: extra_ca.clone() },
        };
        let asked = self.cacert.is_some() || self.pin_sha256.is_some() || self.insecure;
        if !self.tls && target.tls == UrlTls::AsTold {
            if asked {
                return Err(usage("--cacert, --pin-sha256 and --insecure need --tls or an ftpes:// or ftps:// URL"));
            }
            return Ok(Security::Plain);
        }
        if trust == Trust::Anything {
            crate::diag!(
                "warning: --insecure: the server's certificate is not checked; anyone in between can read and change the session"
            );
        }
        let config = crate::tls::client_config(&trust).map_err(|err| eyre!("{err}"))?;
        Ok(if target.tls == UrlTls::Implicit { Security::Implicit(config) } else { Security::Explicit(config) })
    }

    /// Who to log in as: flags first, then the URL, then the .netrc entry for the host; a
    /// user without a password is asked for one on a terminal; no user at all is anonymous.
    fn login(&self, target: &Target) -> Result<Login> {
        let mut user = self.user.clone().or_else(|| target.user.clone());
        let mut password = self.password.clone().or_else(|| target.password.clone());
        if password.is_none() {
            let (path, required) = match &self.netrc_file {
                Some(path) => (Some(path.clone()), true),
                None => (default_netrc(), false),
            };
            if let Some(path) = path {
                let found = read_netrc(&path, required, &target.host, user.as_deref())
                    .wrap_err_with(|| format!("cannot read {}", path.display()))?;
                if let Some(found) = found {
                    user = user.or(found.user);
                    password = found.password.filter(|_| user.is_some());
                }
            }
        }
        let Some(user) = user else { return Ok(Login::anonymous()) };
        // CR, LF or NUL would end the command line early and smuggle in another command
        // (see check_sendable); refused before anything is sent or asked for.
        check_sendable(&user).map_err(usage)?;
        let password = match password {
            Some(password) => password,
            None if can_prompt() => prompt_password(&format!("Password for {user}@{}: ", target.host))
                .wrap_err("cannot read the password from the terminal")?,
            None => String::new(),
        };
        // Said without the password itself.
        check_sendable(&password)
            .map_err(|_| usage("the password contains CR, LF or NUL, which cannot be sent in an FTP command"))?;
        Ok(Login { user, password })
    }

    /// The connection to `target`.
    fn connection(&self, target: &Target) -> Result<Connection> {
        Ok(Connection {
            host: target.host.clone(),
            port: target.port,
            login: self.login(target)?,
            mode: match (self.active, self.passive) {
                (true, _) => DataMode::Active,
                (_, true) => DataMode::Passive,
                _ => DataMode::Auto,
            },
            timeout: Duration::from_secs(self.timeout),
            verbosity: match (self.quiet, self.verbose) {
                (true, _) => Verbosity::Quiet,
                (_, true) => Verbosity::Dialogue,
                _ => Verbosity::Normal,
            },
            security: self.security(target)?,
        })
    }
}

impl TransferOptions {
    fn recovery(&self) -> Recovery {
        Recovery { resume: self.resume, retries: self.retry, retry_delay: Duration::from_secs(self.retry_delay) }
    }

    fn batch(&self) -> BatchOptions {
        BatchOptions { parallel: self.parallel as usize, newer: self.newer, recovery: self.recovery() }
    }
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// HOST, HOST:PORT, [IPv6]:PORT, or an ftp://, ftpes:// or ftps:// URL
    pub addr: String,
    /// Remote files, folders (with -r) or quoted globs such as '*.csv' (omit when ADDR is a
    /// URL with a path)
    #[arg(value_name = "REMOTE")]
    pub remotes: Vec<String>,
    /// Local file, or - for standard output; the folder for several files or a tree
    #[arg(short, long, value_name = "LOCAL", value_hint = clap::ValueHint::AnyPath)]
    pub output: Option<PathBuf>,
    /// Do not overwrite an existing local file (one file)
    #[arg(short = 'n', long, conflicts_with = "resume")]
    pub no_clobber: bool,
    /// Abort a download larger than this many bytes (one file; nothing is kept)
    #[arg(long, value_name = "BYTES")]
    pub max_filesize: Option<u64>,
    #[command(flatten)]
    pub options: TransferOptions,
}

#[derive(Debug, Args)]
pub struct PutArgs {
    /// HOST, HOST:PORT, [IPv6]:PORT, or an ftp://, ftpes:// or ftps:// URL (its path: the remote name or folder)
    pub addr: String,
    /// Local files (folders with -r), then the remote name or folder as cp takes them: LOCAL
    /// REMOTE, or LOCAL... FOLDER (. for the login folder); all local with a URL path
    #[arg(required = true, value_name = "PATH", value_hint = clap::ValueHint::AnyPath)]
    pub paths: Vec<PathBuf>,
    /// Create the remote folders the upload goes into when they are missing
    #[arg(long)]
    pub create_dirs: bool,
    #[command(flatten)]
    pub options: TransferOptions,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// HOST, HOST:PORT, [IPv6]:PORT, or an ftp://, ftpes:// or ftps:// URL
    pub addr: String,
    /// Remote folder or quoted glob (default: the login folder, or the URL's path)
    pub path: Option<String>,
    /// Long form: type, size, modification time (UTC), name
    #[arg(short, long, conflicts_with = "json")]
    pub long: bool,
    /// One JSON object per entry (name, type, size, modified, target)
    #[arg(long)]
    pub json: bool,
    /// Sizes in bytes, not human units, in the long form
    #[arg(long)]
    pub bytes: bool,
    #[command(flatten)]
    pub connect: ConnectOptions,
}

/// What `get` was asked to do: one file (which may go to standard output), or many.
pub enum GetJob {
    One(Connection, GetRequest),
    Many {
        connection: Connection,
        remotes: Vec<String>,
        local: PathBuf,
        into_folder: bool,
        recursive: bool,
        options: BatchOptions,
    },
}

/// What `put` was asked to do: one file, or many.
pub enum PutJob {
    One(Connection, PutRequest),
    Many {
        connection: Connection,
        locals: Vec<PathBuf>,
        remote: String,
        into_folder: bool,
        recursive: bool,
        create_dirs: bool,
        options: BatchOptions,
    },
}

impl GetArgs {
    /// The connection and the download(s).
    pub fn into_job(self) -> Result<GetJob> {
        let target = parse_target(&self.addr).map_err(usage)?;
        let remotes = match (target.path.clone(), self.remotes) {
            (Some(_), more) if !more.is_empty() => {
                return Err(usage("give the remote files either in the URL or as REMOTE arguments, not both"));
            }
            (Some(path), _) => vec![path],
            // `get -r ftp://host/`: the login folder's tree.
            (None, remotes) if remotes.is_empty() && self.options.recursive => vec![String::new()],
            (None, remotes) if remotes.is_empty() => {
                return Err(usage("name the remote file: minftp get ADDR REMOTE, or an ftp:// URL with a path"));
            }
            (None, remotes) => remotes,
        };
        for remote in &remotes {
            check_sendable(remote).map_err(usage)?;
        }
        let options = &self.options;
        // --newer compares with the listing's size and time, which the batch path keeps.
        let many = options.recursive
            || options.newer
            || remotes.len() > 1
            || remotes.iter().any(|r| r.ends_with('/') || has_glob(r.rsplit('/').next().unwrap_or(r)));
        if many {
            if self.output.as_ref().is_some_and(|o| o.as_os_str() == "-") {
                return Err(usage("-o - takes one file; several files or a tree need a folder"));
            }
            if self.no_clobber || self.max_filesize.is_some() {
                return Err(usage("--no-clobber and --max-filesize apply to one file; use --newer for several"));
            }
            let single_named = remotes.len() == 1 && !has_glob(&remotes[0]) && self.output.is_some();
            return Ok(GetJob::Many {
                connection: options.connect.connection(&target)?,
                local: self.output.unwrap_or_else(|| PathBuf::from(".")),
                into_folder: !single_named,
                recursive: options.recursive,
                options: options.batch(),
                remotes,
            });
        }
        let remote = remotes.into_iter().next().expect("one remote");
        let destination = match self.output {
            Some(path) if path.as_os_str() == "-" => Destination::Stdout,
            Some(path) => Destination::File(path),
            None => Destination::File(default_local_name(&remote).map_err(|e| usage(e.to_string()))?),
        };
        if destination == Destination::Stdout && options.resume {
            return Err(usage("--continue needs a local file; standard output cannot be continued"));
        }
        let request = GetRequest {
            remote,
            destination,
            no_clobber: self.no_clobber,
            max_filesize: self.max_filesize,
            recovery: options.recovery(),
        };
        Ok(GetJob::One(options.connect.connection(&target)?, request))
    }
}

impl PutArgs {
    /// The connection and the upload(s). As cp takes its paths: the URL's path is the remote
    /// name or folder (every path is then local); else with two paths the second is the
    /// remote name (a folder when it ends with `/`), with more the last is the remote
    /// folder; one path goes into the login folder.
    pub fn into_job(self) -> Result<PutJob> {
        let target = parse_target(&self.addr).map_err(usage)?;
        let mut locals = self.paths;
        let remote = match target.path.clone() {
            Some(path) => Some(path),
            None if locals.len() >= 2 => {
                let last = locals.pop().expect("two");
                Some(last.to_str().ok_or_else(|| usage(format!("{} is not UTF-8", last.display())))?.to_string())
            }
            None => None,
        };
        if let Some(remote) = &remote {
            check_sendable(remote).map_err(usage)?;
        }
        let options = &self.options;
        let one_file = locals.len() == 1 && !options.recursive && !options.newer && !locals[0].is_dir();
        if one_file {
            let local = locals.pop().expect("one");
            let local_name = local
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| usage(format!("{} names no file", local.display())))?;
            let remote = match remote {
                Some(path) if path.ends_with('/') => format!("{path}{local_name}"),
                Some(path) => path,
                None => local_name,
            };
            check_sendable(&remote).map_err(usage)?;
            let request = PutRequest { local, remote, recovery: options.recovery(), create_dirs: self.create_dirs };
            return Ok(PutJob::One(options.connect.connection(&target)?, request));
        }
        let into_folder = !(locals.len() == 1 && remote.as_ref().is_some_and(|r| !r.ends_with('/')));
        Ok(PutJob::Many {
            connection: options.connect.connection(&target)?,
            locals,
            remote: remote.unwrap_or_default(),
            into_folder,
            recursive: options.recursive,
            create_dirs: self.create_dirs,
            options: options.batch(),
        })
    }
}

impl LsArgs {
    /// The connection, the path and the form.
    pub fn into_request(self) -> Result<(Connection, String, ListForm)> {
        let target = parse_target(&self.addr).map_err(usage)?;
        let path = match (target.path.clone(), self.path) {
            (Some(_), Some(_)) => return Err(usage("give the path either in the URL or as PATH, not both")),
            (Some(path), None) | (None, Some(path)) => path,
            (None, None) => String::new(),
        };
        check_sendable(&path).map_err(usage)?;
        let form = match (self.long, self.json) {
            (_, true) => ListForm::Json,
            (true, _) => ListForm::Long { bytes: self.bytes },
            _ => ListForm::Names,
        };
        Ok((self.connect.connection(&target)?, path, form))
    }
}

/// How `serve` was asked to run, after its flags were checked.
pub enum ServeMode {
    Stdin(ServerConfig),
    Sockets { listeners: Listeners, config: ServerConfig },
}

impl ServeArgs {
    /// The certificate for --tls: --cert and --key, or the kept self-signed one (made now
    /// when there is none) for this host's names and addresses.
    fn server_tls(&self, extended: bool) -> Result<Option<ServerTls>> {
        let wanted = self.tls || self.tls_implicit || self.cert.is_some() || self.tls_no_reuse_check;
        if !wanted {
            return Ok(None);
        }
        if !extended {
            return Err(usage("TLS applies to the extended dialect; add --extended (or --writable)"));
        }
        if !(self.tls || self.tls_implicit) {
            return Err(usage("--cert and --tls-no-reuse-check need --tls (or --tls-implicit)"));
        }
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            let announced = self.public_address.as_deref();
            return ServerTls::from_files(cert, key, announced).map(Some).map_err(|err| eyre!("{err}"));
        }
        let folder = crate::tls::data_folder()
            .ok_or_else(|| eyre!("no HOME or XDG_DATA_HOME to keep a certificate in; give --cert and --key"))?;
        let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
        names.extend(crate::server::announce::host_name());
        names.extend(crate::server::announce::interface_ipv4().map(|ip| ip.to_string()));
        names.extend(self.public_address.clone());
        names.extend(self.bind.filter(|ip| !ip.is_unspecified()).map(|ip| ip.to_string()));
        names.dedup();
        ServerTls::self_signed(&folder, &names)
            .map(Some)
            .map_err(|err| eyre!("cannot make or read the TLS certificate in {}: {err}", folder.display()))
    }

    /// Checks the flags, opens the root and (for socket mode) binds the port.
    pub fn into_mode(self) -> Result<ServeMode> {
        let extended = self.extended || self.writable || self.lab;
        if self.user.is_some() && !extended {
            return Err(usage("--user applies to the extended dialect; add --extended (or --writable)"));
        }
        for (given, flag) in [
            (self.banner.is_some(), "--banner"),
            (self.public_address.is_some(), "--public-address"),
            (self.transcript_sessions, "--transcript-sessions"),
        ] {
            if given && !extended {
                return Err(usage(format!("{flag} applies to the extended dialect; add --extended (or --writable)")));
            }
        }
        // A password without a user would be an open server that looks protected.
        let environment_password = std::env::var("MINFTP_PASSWORD").ok().filter(|p| !p.is_empty());
        let password = self.password.clone().or(environment_password.clone());
        if self.user.is_some() && password.is_none() {
            return Err(usage("--user needs a password: --password PW, or MINFTP_PASSWORD in the environment"));
        }
        // Said with the startup lines, after the address.
        let mut warnings = Vec::new();
        if self.user.is_none() && environment_password.is_some() && extended && !self.stdin {
            warnings.push(
                "warning: MINFTP_PASSWORD is set but --user is not: this server is anonymous (any name, any password)"
                    .to_string(),
            );
        }
        let tls = self.server_tls(extended)?;
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
            announce_sessions: self.lab,
            tls: tls.map(std::sync::Arc::new),
            implicit_tls: self.tls_implicit,
            tls_no_reuse_check: self.tls_no_reuse_check,
        };
        let policy = Policy {
            dialect: if extended { Dialect::Extended } else { Dialect::Comp431 },
            writable: self.writable || self.lab,
            credentials,
            tls: match (self.tls || self.tls_implicit, self.tls_optional) {
                (false, _) => TlsPolicy::Off,
                (true, false) => TlsPolicy::Required,
                (true, true) => TlsPolicy::Optional,
            },
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
        let listen = |port: u16| {
            TcpListener::bind((bind, port)).map_err(|err| match err.kind() {
                io::ErrorKind::AddrInUse => eyre!("port {port} is already in use; pick another port"),
                _ => eyre!("cannot listen on {bind}:{port}: {err}"),
            })
        };
        let main = listen(self.port)?;
        let implicit_tls = self.tls_implicit_port.map(listen).transpose()?;
        Ok(ServeMode::Sockets { listeners: Listeners { main, implicit_tls }, config })
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
    let mut command = Cli::command();
    command.build();
    let mut pages = vec![("minftp".to_string(), command.clone())];
    for sub in command.get_subcommands() {
        // The synopsis names the command as it is typed, with clap's usage line.
        let typed = format!("minftp {}", sub.get_name());
        let usage = sub.clone().bin_name(&typed).render_usage().to_string();
        let usage = usage.strip_prefix("Usage: ").unwrap_or(&usage).to_string();
        let page = sub.clone().name(format!("minftp-{}", sub.get_name())).bin_name(typed).override_usage(usage);
        pages.push((format!("minftp-{}", sub.get_name()), page));
    }
    for (name, page) in pages {
        files.push((Path::new("man").join(format!("{name}.1")), man_page(&name, page)));
    }
    files
}

/// One man page: clap's title, name, synopsis, description, options and commands, then the
/// sections clap has no place for (examples, exit status, environment, files).
fn man_page(name: &str, page: clap::Command) -> Vec<u8> {
    let examples = page.get_after_help().map(|help| help.to_string()).unwrap_or_default();
    let man = clap_mangen::Man::new(page.clone());
    let mut roff = Vec::new();
    let rendered = (|| {
        man.render_title(&mut roff)?;
        man.render_name_section(&mut roff)?;
        man.render_synopsis_section(&mut roff)?;
        man.render_description_section(&mut roff)?;
        man.render_options_section(&mut roff)?;
        if page.get_subcommands().next().is_some() {
            man.render_subcommands_section(&mut roff)?;
        }
        io::Result::Ok(())
    })();
    rendered.expect("rendering into memory cannot fail");
    let escape = |text: &str| text.replace('\\', "\\e").replace('-', "\\-");
    let mut extra = String::new();
    let (example_lines, notes) = examples.split_once("\n\n").unwrap_or((&examples, ""));
    if let Some(example_lines) = example_lines.strip_prefix("Examples:\n") {
        extra.push_str(".SH EXAMPLES\n.nf\n");
        extra.push_str(&escape(example_lines));
        extra.push_str("\n.fi\n");
    }
    if !notes.is_empty() {
        extra.push_str(&format!(".SH \"LAB COMMANDS\"\n{}\n", escape(notes)));
    }
    extra.push_str(
        ".SH \"EXIT STATUS\"\n0 on success; 1 when the work failed (a refused transfer, a lab \
         command that failed, a server that cannot start); 2 when minftp was called wrongly (an \
         unknown or bad flag or argument); 128 + the signal's number after SIGINT, SIGTERM or \
         SIGHUP for the clients (the server exits 0).\n",
    );
    extra.push_str(&format!(
        ".SH ENVIRONMENT\n.TP\n.B MINFTP_PASSWORD\nThe password of \\fBminftp serve \\-\\-user\\fR, or of \
         \\fBminftp get\\fR and \\fBput\\fR with \\fB\\-\\-user\\fR, kept out of \\fBps\\fR.\n\
         .TP\n.B XDG_DATA_HOME, HOME\nWhere \\fBserve \\-\\-tls\\fR keeps its self-signed certificate.\n\
         .SH FILES\n.TP\n.B retr_files/fileN\nWhere the COMP 431 client (and \\fBserve \\-\\-stdin\\fR) \
         saves retrieved files.\n.TP\n.B .minftp\\-part\\-*\nTemporary files of uploads and downloads in \
         flight, removed when they end and by a writable server at start.\n.TP\n\
         .B $XDG_DATA_HOME/minftp/tls/cert.pem, key.pem\nThe self-signed certificate \\fBserve \\-\\-tls\\fR \
         makes on first use without \\fB\\-\\-cert\\fR (default folder ~/.local/share/minftp/tls; the key \
         is mode 0600).\n.SH \"SEE ALSO\"\n{}\n",
        ["minftp", "minftp-serve", "minftp-client", "minftp-get", "minftp-put", "minftp-ls", "minftp-completions"]
            .iter()
            .filter(|page| **page != name)
            .map(|page| format!("\\fB{}\\fR(1)", page.replace('-', "\\-")))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    roff.extend_from_slice(extra.as_bytes());
    roff
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

/// Examples shown at the end of `--help` and in the EXAMPLES section of the man pages.
const TOP_EXAMPLES: &str = "Examples:
  minftp serve 9123                        the COMP 431 server (transcript on standard output)
  minftp serve 2121 --writable             a server for curl, lftp, FileZilla, uploads allowed
  minftp get 127.0.0.1:2121 file.txt       download one file
  minftp get -r 127.0.0.1:2121 pub -o pub   mirror a folder
  minftp ls -l 127.0.0.1:2121              list the login folder";
const SERVE_EXAMPLES: &str = "Examples:
  minftp serve 9123                        COMP 431 server; compare its stdout with the course's
  minftp serve --stdin < Input1            COMP 431 Homework 1: commands from standard input
  minftp serve 2121 --writable --user alice --log access.log
                                           uploads with a login (password from MINFTP_PASSWORD)
  minftp serve 2121 --writable --tls       FTP over TLS, a self-signed certificate made once
                                           and kept; its fingerprint is printed at start
  minftp serve 990 --extended --tls-implicit --cert fullchain.pem --key privkey.pem";
const CLIENT_EXAMPLES: &str = "Examples:
  minftp client 10000 < ClientInput1       COMP 431 client, data ports from 10000
  minftp client --lab 12000                COSC 328 session, connected to 127.0.0.1:12000

Lab commands (any case): OPEN PORT, OPEN HOST PORT, GET NAME, PUT NAME, CLOSE, QUIT, HELP";
const GET_EXAMPLES: &str = "Examples:
  minftp get 127.0.0.1:2121 dir/file.txt -o copy.txt
  minftp get 127.0.0.1:2121 big.iso -c --retry 5   continue a partial file, retrying
  minftp get '[::1]:2121' file.txt -o - | sha256sum
  minftp get 127.0.0.1:2121 a.txt b.txt '*.csv' -o inbox/
                                            several files and a glob into a folder
  minftp get -r 127.0.0.1:2121 photos -o backup --newer
                                            mirror a tree; again, only what changed
  minftp get ftp://alice@example.org/report.pdf
                                            asks for alice's password (or reads ~/.netrc)
  minftp get --tls --pin-sha256 3F:A1:...:9C example.org:2121 file.txt
                                            TLS, trusting exactly the server's certificate
  minftp get ftpes://example.org/file.txt    explicit TLS (AUTH TLS, port 21), as --tls
  minftp get ftps://example.org/file.txt     implicit TLS (port 990)";
const COMPLETIONS_EXAMPLES: &str = "Examples:
  minftp completions bash > ~/.local/share/bash-completion/completions/minftp
  minftp completions zsh > ~/.zfunc/_minftp";
const PUT_EXAMPLES: &str = "Examples:
  minftp put 127.0.0.1:2121 local.bin
  minftp put 127.0.0.1:2121 local.bin dir/remote.bin --continue
  minftp put 127.0.0.1:2121 a.csv b.csv reports/ --create-dirs
                                            several files into a remote folder
  minftp put -r -j 8 127.0.0.1:2121 site www    upload the tree site/ as www/
  minftp put --tls --cacert ca.pem example.org:2121 report.pdf";
const LS_EXAMPLES: &str = "Examples:
  minftp ls 127.0.0.1:2121                    names in the login folder
  minftp ls -l 127.0.0.1:2121 pub             type, size, time (UTC), name
  minftp ls --json ftp://example.org/pub/ | jq -r 'select(.type == \"file\") | .name'
  minftp ls 127.0.0.1:2121 'logs/*.gz'        a glob's matches";

/// An error in how minftp was called (exit status 2, as clap's own usage errors), as
/// opposed to a failure while it ran (exit status 1).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A usage error as a report (see [`UsageError`]).
pub fn usage(message: impl Into<String>) -> color_eyre::Report {
    eyre!(UsageError(message.into()))
}

/// The COMP 431 client's first data port when none is given (SPEC §1).
pub const DEFAULT_DATA_PORT: u16 = 2122;

/// How `client` was asked to run.
pub enum ClientMode {
    Comp431(crate::client::ClientConfig),
    Lab(crate::client::lab::LabConfig),
}

impl ClientArgs {
    pub fn into_mode(self) -> Result<ClientMode> {
        let timeout = Duration::from_secs(self.timeout);
        if self.lab {
            if self.dataport == Some(0) {
                return Err(usage("0 is not a server port; use 1-65535"));
            }
            return Ok(ClientMode::Lab(crate::client::lab::LabConfig {
                folder: self.dir,
                timeout,
                open_at_start: self.dataport,
                interactive: io::IsTerminal::is_terminal(&io::stdin()),
            }));
        }
        Ok(ClientMode::Comp431(crate::client::ClientConfig {
            first_data_port: self.dataport.unwrap_or(DEFAULT_DATA_PORT),
            data_ip: self.data_ip,
            timeout,
        }))
    }
}
