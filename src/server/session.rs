//! The server's session state machine (SPEC §3.2-3.3, §5): a command line in, a reply or
//! an action out; no I/O. Both dialects and every driver use this one machine.

use std::borrow::Cow;
use std::net::{SocketAddr, SocketAddrV4};
use std::time::Duration;

use super::listing::parse_timestamp;
use super::vpath::VirtualPath;
use crate::protocol::command::{Command, CommandError, Dialect, Verb, parse_command_in, verb_of};
use crate::protocol::reply::Reply;

/// Where the commands come from; it decides only what a valid QUIT is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// `serve --stdin` (Homework 1): QUIT gets `200 Command OK.`.
    Stdin,
    /// A control connection: QUIT gets `221 Goodbye.`.
    Socket,
}

/// Login progress (SPEC §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    LoggedOut,
    UserGiven,
    LoggedIn,
}

/// A required login (`--user` / `--password`); without one, any name and password will do.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: Vec<u8>,
    pub password: Vec<u8>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials {{ user: {:?}, password: **** }}", String::from_utf8_lossy(&self.user))
    }
}

/// What a session is allowed to do.
#[derive(Debug, Clone)]
pub struct Policy {
    pub dialect: Dialect,
    /// Uploads and changes allowed (`--writable`).
    pub writable: bool,
    pub credentials: Option<Credentials>,
    pub tls: TlsPolicy,
}

impl Policy {
    /// The COMP 431 server: eight verbs, anonymous, read-only.
    pub fn comp431() -> Policy {
        Policy { dialect: Dialect::Comp431, writable: false, credentials: None, tls: TlsPolicy::Off }
    }
}

/// FTP over TLS (RFC 4217) on a server of the extended dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsPolicy {
    /// No TLS: AUTH is answered 502.
    Off,
    /// `--tls`: no login before AUTH TLS, no data connection without PROT P.
    Required,
    /// `--tls --tls-optional`: TLS for clients that ask, clear text for the others.
    Optional,
}

/// How a download's data connection is ended before the final reply ([`Session::data_close`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataClose {
    /// Close it and reply at once.
    Immediate,
    /// Half-close it, wait until the client closes its end (at most this long), then reply.
    AfterPeerCloses(Duration),
}

/// The longest wait for a COMP 431 client to close the data connection (SPEC §3.4).
pub const PEER_CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Failed logins after which the connection is closed.
pub const MAX_LOGIN_FAILURES: u32 = 3;

/// Where the next data connection comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataTarget {
    /// The server connects to this address (PORT, EPRT).
    Active(SocketAddr),
    /// The client connects to the listener the driver opened (PASV, EPSV).
    Passive,
}

/// A path as a command named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestedPath {
    /// COMP 431 RETR: the argument as sent, resolved by the sandbox's COMP 431 rule.
    Raw(Vec<u8>),
    /// Extended dialect: resolved against the working directory.
    Virtual(VirtualPath),
}

/// The listing formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// LIST: `ls -l` lines.
    Long,
    /// NLST: names only.
    Names,
    /// MLSD: RFC 3659 facts.
    Facts,
}

/// Work on a data connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transfer {
    Retrieve { path: RequestedPath, offset: u64 },
    Store { path: VirtualPath, append: bool, offset: u64 },
    List { path: VirtualPath, format: ListFormat },
}

/// Work on the file system without a data connection; the driver answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileAction {
    /// CWD/CDUP: if the folder exists, call [`Session::change_directory`] and answer 250.
    ChangeDirectory(VirtualPath),
    Size(VirtualPath),
    ModificationTime(VirtualPath),
    /// MLST: one entry's facts on the control connection.
    Facts(VirtualPath),
    /// STAT with a path: a listing on the control connection.
    Status(VirtualPath),
    MakeDirectory(VirtualPath),
    RemoveDirectory(VirtualPath),
    Delete(VirtualPath),
    /// RNFR: if the path exists, call [`Session::rename_source_exists`] and answer 350.
    RenameFrom(VirtualPath),
    RenameTo {
        from: VirtualPath,
        to: VirtualPath,
    },
    /// MFMT: set the modification time (seconds since the epoch) of a file.
    SetModificationTime {
        path: VirtualPath,
        seconds: i64,
    },
}

/// What the driver must do with one command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this reply; the session goes on.
    Reply(Reply),
    /// Send this reply, then end the session.
    Quit(Reply),
    /// A transfer that passed every check the machine can make. The driver checks the file:
    /// when it cannot be used it answers 550 (the data target stays pending); when it can,
    /// it calls [`Session::start_transfer`] and answers 150.
    Transfer {
        transfer: Transfer,
        data: DataTarget,
    },
    File(FileAction),
    /// PASV (`extended: false`) or EPSV: open a listener, call [`Session::passive_opened`]
    /// and answer 227 or 229 with its address.
    OpenPassive {
        extended: bool,
    },
    /// A wrong login: answer `530 Login incorrect.` after a delay, and close when `close`.
    RejectLogin {
        close: bool,
    },
    /// AUTH TLS accepted: answer 234, run the TLS handshake, then call
    /// [`Session::tls_started`] (a failed handshake ends the session).
    StartTls,
}

/// One client's session state.
#[derive(Debug, Clone)]
pub struct Session {
    channel: Channel,
    policy: Policy,
    login: Login,
    user: Vec<u8>,
    login_failures: u32,
    data: Option<DataTarget>,
    cwd: VirtualPath,
    restart_offset: u64,
    rename_source: Option<VirtualPath>,
    epsv_all: bool,
    /// The control connection is under TLS (after AUTH TLS, or from the start when implicit).
    secured: bool,
    /// PROT P: data connections are under TLS too.
    data_private: bool,
}

impl Session {
    /// A COMP 431 session.
    pub fn new(channel: Channel) -> Self {
        Session::with_policy(channel, Policy::comp431())
    }

    pub fn with_policy(channel: Channel, policy: Policy) -> Self {
        Session {
            channel,
            policy,
            login: Login::LoggedOut,
            user: Vec::new(),
            login_failures: 0,
            data: None,
            cwd: VirtualPath::root(),
            restart_offset: 0,
            rename_source: None,
            epsv_all: false,
            secured: false,
            data_private: false,
        }
    }

    /// The control connection is now under TLS: the handshake after [`Step::StartTls`]
    /// succeeded, or the connection is implicit TLS. Data connections are private from
    /// then on until PROT C, as vsftpd and pyftpdlib assume of implicit clients.
    pub fn tls_started(&mut self) {
        self.secured = true;
        self.data_private = self.policy.tls != TlsPolicy::Off;
    }

    /// Whether data connections must be under TLS (PROT P).
    pub fn data_private(&self) -> bool {
        self.data_private
    }

    pub fn login(&self) -> Login {
        self.login
    }

    /// The user name of the last USER (empty before any).
    pub fn user(&self) -> &[u8] {
        &self.user
    }

    /// The pending COMP 431 PORT address, if any.
    pub fn pending_port(&self) -> Option<SocketAddrV4> {
        match self.data {
            Some(DataTarget::Active(SocketAddr::V4(addr))) => Some(addr),
            _ => None,
        }
    }

    pub fn cwd(&self) -> &VirtualPath {
        &self.cwd
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The line as the transcript shows it: a password is masked when a real login is
    /// required, so it never reaches standard output.
    pub fn transcript_echo<'a>(&self, line: &'a [u8]) -> Cow<'a, [u8]> {
        if self.policy.credentials.is_none() {
            return Cow::Borrowed(line);
        }
        // Any line that starts like PASS, whatever follows it (`PASS<TAB>secret`, a leading
        // space is no verb), is masked: a mistyped password is still a password.
        let starts_like_pass = line.len() > 4 && line[..4].eq_ignore_ascii_case(b"PASS");
        if !starts_like_pass {
            return Cow::Borrowed(line);
        }
        let ending: &[u8] = if line.ends_with(b"\r\n") {
            b"\r\n"
        } else if line.ends_with(b"\n") {
            b"\n"
        } else {
            b""
        };
        Cow::Owned([&line[..4], b" ****", ending].concat())
    }

    /// Handles one complete command line (its line ending included).
    pub fn handle(&mut self, line: &[u8]) -> Step {
        let step = match parse_command_in(line, self.policy.dialect) {
            // An unknown verb changes no state at all.
            Err(CommandError::UnknownVerb) => return Step::Reply(Reply::UnknownCommand),
            Err(CommandError::BadSyntax) => Step::Reply(Reply::BadParameter),
            Ok(command) => self.apply(command),
        };
        if let Step::Reply(reply) = &step
            && self.login == Login::UserGiven
            && cancels_pending_user(verb_of(line, self.policy.dialect), reply)
        {
            self.login = Login::LoggedOut;
        }
        step
    }

    /// A line over the length limit: answered like an unknown verb, and like it changes nothing.
    pub fn handle_over_long_line(&mut self) -> Reply {
        Reply::UnknownCommand
    }

    /// The transfer announced by [`Step::Transfer`] got its 150: the data target and the
    /// restart offset are used up.
    pub fn start_transfer(&mut self) {
        self.data = None;
        self.restart_offset = 0;
    }

    /// The reply that closes a successful transfer: the course's 250, or the 226 real
    /// clients expect in the extended dialect.
    pub fn transfer_done_reply(&self) -> Reply {
        match self.policy.dialect {
            Dialect::Comp431 => Reply::FileActionDone,
            Dialect::Extended => Reply::TransferComplete,
        }
    }

    /// How a download's data connection ends before its final reply (decided, SPEC §3.4).
    /// The course's clients read one reply per `recv()`: a fast server's 150 and 250 would
    /// arrive in one read. So in the COMP 431 dialect the server half-closes the data
    /// connection and waits (at most [`PEER_CLOSE_WAIT`]) until the client closes its end;
    /// such a client has read the 150 before it accepted the data connection. Real clients
    /// (the extended dialect) get their 226 at once.
    pub fn data_close(&self) -> DataClose {
        match self.policy.dialect {
            Dialect::Comp431 => DataClose::AfterPeerCloses(PEER_CLOSE_WAIT),
            Dialect::Extended => DataClose::Immediate,
        }
    }

    /// The driver opened the passive listener announced by [`Step::OpenPassive`].
    pub fn passive_opened(&mut self) {
        self.data = Some(DataTarget::Passive);
    }

    /// The folder of a [`FileAction::ChangeDirectory`] exists.
    pub fn change_directory(&mut self, path: VirtualPath) {
        self.cwd = path;
    }

    /// The path of a [`FileAction::RenameFrom`] exists.
    pub fn rename_source_exists(&mut self, path: VirtualPath) {
        self.rename_source = Some(path);
    }

    /// A syntactically valid command: sequence rules (530 before 503) and state changes.
    fn apply(&mut self, command: Command) -> Step {
        // RNFR must be followed directly by RNTO.
        let rename_source = self.rename_source.take();
        let reply = match command {
            Command::Quit => {
                *self = Session::with_policy(self.channel, self.policy.clone());
                return Step::Quit(match self.channel {
                    Channel::Stdin => Reply::CommandOk,
                    Channel::Socket => Reply::Goodbye,
                });
            }
            Command::User(_) | Command::Pass(_) if self.policy.tls == TlsPolicy::Required && !self.secured => {
                Reply::TlsRequiredForLogin
            }
            Command::User(name) => {
                // (SPEC §3.3) A new login keeps a pending PORT: only RETR, PORT or QUIT end it.
                if self.login == Login::LoggedIn {
                    self.cwd = VirtualPath::root();
                }
                self.login = Login::UserGiven;
                self.user = name;
                if self.policy.credentials.is_some() { Reply::UserNeedsPassword } else { Reply::UserOk }
            }
            Command::Pass(password) => match self.login {
                Login::LoggedOut => Reply::NotLoggedIn,
                Login::UserGiven => return self.check_password(&password),
                Login::LoggedIn => Reply::BadSequence,
            },
            // Real clients ask for these before logging in (lftp sends FEAT first).
            Command::Feat => Reply::Features { tls: self.policy.tls != TlsPolicy::Off },
            Command::Auth(mechanism) => return self.auth(&mechanism),
            Command::Pbsz(_) if !self.secured => Reply::TlsFirst,
            // TLS protects the whole stream: the only buffer size is 0 (RFC 4217 §8).
            Command::Pbsz(_) => Reply::ProtectionBufferSet,
            Command::Prot(_) if !self.secured => Reply::TlsFirst,
            Command::Prot(level) => self.protect(&level),
            Command::Ccc if !self.secured => Reply::TlsFirst,
            Command::Ccc => Reply::CccRefused,

            Command::Help(_) => Reply::Help,
            Command::Opts(option) => options_reply(&option),
            Command::Stat(None) => Reply::Status { logged_in: self.login == Login::LoggedIn },
            _ if self.login != Login::LoggedIn => Reply::NotLoggedIn,
            Command::Type(kind) => Reply::TypeSet(kind),
            Command::Syst => Reply::SystemType,
            Command::Noop => Reply::CommandOk,
            Command::Port(address) => self.set_active(SocketAddr::V4(address), Reply::PortOk(address)),
            Command::Eprt(address) => self.set_active(address, Reply::ExtendedPortOk),
            Command::Pasv if self.epsv_all => Reply::BadSequence,
            Command::Pasv => return Step::OpenPassive { extended: false },
            Command::Epsv(None) => return Step::OpenPassive { extended: true },
            Command::Epsv(Some(argument)) => match argument.to_ascii_uppercase().as_slice() {
                b"ALL" => {
                    self.epsv_all = true;
                    Reply::EpsvAllAccepted
                }
                b"1" | b"2" => return Step::OpenPassive { extended: true },
                _ => Reply::ProtocolNotSupported,
            },
            Command::Retr(path) => {
                let path = match self.policy.dialect {
                    Dialect::Comp431 => RequestedPath::Raw(path),
                    Dialect::Extended => RequestedPath::Virtual(self.cwd.join(&path)),
                };
                return self.transfer(Transfer::Retrieve { path, offset: self.restart_offset });
            }
            Command::List(argument) => return self.list(argument, ListFormat::Long),
            Command::Nlst(argument) => return self.list(argument, ListFormat::Names),
            Command::Mlsd(argument) => return self.list(argument, ListFormat::Facts),
            Command::Pwd => Reply::CurrentDirectory(self.cwd.as_bytes().to_vec()),
            Command::Cwd(path) => return Step::File(FileAction::ChangeDirectory(self.cwd.join(&path))),
            Command::Cdup => return Step::File(FileAction::ChangeDirectory(self.cwd.parent())),
            Command::Size(path) => return Step::File(FileAction::Size(self.cwd.join(&path))),
            Command::Mdtm(path) => return Step::File(FileAction::ModificationTime(self.cwd.join(&path))),
            Command::Mlst(path) => return Step::File(FileAction::Facts(self.path_or_cwd(path.as_deref()))),
            Command::Stat(Some(path)) => return Step::File(FileAction::Status(self.path_or_cwd(Some(&path)))),
            Command::Rest(offset) => {
                self.restart_offset = offset;
                Reply::RestartAt(offset)
            }
            Command::Abor => {
                self.data = None;
                Reply::NothingToAbort
            }
            Command::Mode(mode) if mode.eq_ignore_ascii_case(b"S") => Reply::ModeSet,
            Command::Stru(structure) if structure.eq_ignore_ascii_case(b"F") => Reply::StructureSet,
            Command::Mode(_) | Command::Stru(_) => Reply::ParameterNotImplemented,
            Command::Allo(_) => Reply::AlloIgnored,
            // Everything below changes the served folder.
            _ if !self.policy.writable => Reply::PermissionDenied,
            Command::Stor(path) => {
                let (path, offset) = (self.cwd.join(&path), self.restart_offset);
                return self.transfer(Transfer::Store { path, append: false, offset });
            }
            Command::Appe(path) => {
                return self.transfer(Transfer::Store { path: self.cwd.join(&path), append: true, offset: 0 });
            }
            Command::Dele(path) => return Step::File(FileAction::Delete(self.cwd.join(&path))),
            Command::Mkd(path) => return Step::File(FileAction::MakeDirectory(self.cwd.join(&path))),
            Command::Rmd(path) => return Step::File(FileAction::RemoveDirectory(self.cwd.join(&path))),
            Command::Rnfr(path) => return Step::File(FileAction::RenameFrom(self.cwd.join(&path))),
            Command::Mfmt(argument) => {
                let parsed = argument
                    .iter()
                    .position(|&b| b == b' ')
                    .and_then(|space| Some((parse_timestamp(&argument[..space])?, &argument[space + 1..])))
                    .filter(|(_, path)| !path.is_empty());
                match parsed {
                    Some((seconds, path)) => {
                        return Step::File(FileAction::SetModificationTime { path: self.cwd.join(path), seconds });
                    }
                    None => Reply::BadParameter,
                }
            }
            Command::Rnto(path) => match rename_source {
                Some(from) => return Step::File(FileAction::RenameTo { from, to: self.cwd.join(&path) }),
                None => Reply::BadSequence,
            },
        };
        Step::Reply(reply)
    }

    fn check_password(&mut self, password: &[u8]) -> Step {
        let Some(credentials) = &self.policy.credentials else {
            self.login = Login::LoggedIn;
            return Step::Reply(Reply::LoggedIn);
        };
        if self.user == credentials.user && password == credentials.password.as_slice() {
            self.login = Login::LoggedIn;
            self.login_failures = 0;
            return Step::Reply(Reply::UserLoggedIn);
        }
        self.login = Login::LoggedOut;
        self.login_failures += 1;
        Step::RejectLogin { close: self.login_failures >= MAX_LOGIN_FAILURES }
    }

    fn set_active(&mut self, address: SocketAddr, reply: Reply) -> Reply {
        if self.epsv_all {
            return Reply::BadSequence;
        }
        self.data = Some(DataTarget::Active(address));
        reply
    }

    /// A transfer needs a data target first (SPEC §3.3: otherwise 503, even for a missing
    /// file), and on a server that requires TLS, PROT P.
    fn transfer(&mut self, transfer: Transfer) -> Step {
        match self.data {
            None => Step::Reply(Reply::BadSequence),
            Some(_) if self.policy.tls == TlsPolicy::Required && !self.data_private => {
                Step::Reply(Reply::DataProtectionRequired)
            }
            Some(data) => Step::Transfer { transfer, data },
        }
    }

    /// AUTH: TLS (and its older names) before login starts the handshake; the login state
    /// starts again under TLS (RFC 4217 §4).
    fn auth(&mut self, mechanism: &[u8]) -> Step {
        let known = [&b"TLS"[..], b"TLS-C", b"SSL", b"TLS-P"].iter().any(|m| mechanism.eq_ignore_ascii_case(m));
        Step::Reply(if self.policy.tls == TlsPolicy::Off {
            Reply::TlsNotConfigured
        } else if !known {
            Reply::AuthMechanismUnknown
        } else if self.secured || self.login == Login::LoggedIn {
            Reply::TlsNotNow
        } else {
            self.login = Login::LoggedOut;
            return Step::StartTls;
        })
    }

    /// PROT P or C (S and E are for other mechanisms than TLS).
    fn protect(&mut self, level: &[u8]) -> Reply {
        if level.eq_ignore_ascii_case(b"P") {
            self.data_private = true;
            Reply::DataPrivate
        } else if level.eq_ignore_ascii_case(b"C") {
            if self.policy.tls == TlsPolicy::Required {
                return Reply::ClearDataRefused;
            }
            self.data_private = false;
            Reply::DataClear
        } else {
            Reply::ProtectionLevelUnknown
        }
    }

    /// LIST, NLST and MLSD: options such as `-a` or `-la` are ignored (wget sends `LIST -a`).
    fn list(&mut self, argument: Option<Vec<u8>>, format: ListFormat) -> Step {
        let argument = argument.as_deref().map(strip_list_options).filter(|a| !a.is_empty());
        let path = self.path_or_cwd(argument);
        self.transfer(Transfer::List { path, format })
    }

    fn path_or_cwd(&self, path: Option<&[u8]>) -> VirtualPath {
        path.map_or_else(|| self.cwd.clone(), |path| self.cwd.join(path))
    }
}

/// (decided, revised: SPEC §3.3) What cancels a pending USER, so that the next PASS gets
/// 530: a valid command refused because nobody is logged in (TYPE, SYST, NOOP, PORT, RETR:
/// 530), and an invalid USER or PASS line (501). Every other line keeps it: a 500, and a 501
/// for any other verb (an invalid QUIT is processed "as if nothing happened").
fn cancels_pending_user(verb: Option<Verb>, reply: &Reply) -> bool {
    match reply.code() {
        530 => true,
        501 => matches!(verb, Some(Verb::User | Verb::Pass)),
        _ => false,
    }
}

/// What is left of a LIST argument once leading `-options` are removed.
fn strip_list_options(mut argument: &[u8]) -> &[u8] {
    while argument.starts_with(b"-") {
        let end = argument.iter().position(|&b| b == b' ').unwrap_or(argument.len());
        argument = &argument[end..];
        argument = &argument[argument.iter().take_while(|&&b| b == b' ').count()..];
    }
    argument
}

/// OPTS: UTF8 ON (lftp and FileZilla require a 200) and the MLST fact selection.
fn options_reply(option: &[u8]) -> Reply {
    let upper = option.to_ascii_uppercase();
    if upper == b"UTF8 ON" || upper == b"UTF8" {
        Reply::Utf8On
    } else if upper.starts_with(b"MLST") {
        Reply::MlstOptions
    } else {
        Reply::BadParameter
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn codes(session: &mut Session, lines: &[&str]) -> Vec<u16> {
        lines
            .iter()
            .map(|line| match session.handle(line.as_bytes()) {
                Step::Reply(r) | Step::Quit(r) => r.code(),
                Step::Transfer { .. } => 150,
                other => panic!("not a COMP 431 step: {other:?}"),
            })
            .collect()
    }

    fn logged_in() -> Session {
        let mut s = Session::new(Channel::Socket);
        assert_eq!(codes(&mut s, &["USER a\r\n", "PASS b\r\n"]), [331, 230]);
        s
    }

    fn with_port() -> Session {
        let mut s = logged_in();
        assert_eq!(codes(&mut s, &["PORT 127,0,0,1,4,0\r\n"]), [200]);
        s
    }

    #[test]
    fn user_then_pass_logs_in() {
        let s = logged_in();
        assert_eq!(s.login(), Login::LoggedIn);
    }

    #[test]
    fn pass_without_user_is_530() {
        let mut s = Session::new(Channel::Socket);
        assert_eq!(codes(&mut s, &["PASS x\r\n"]), [530]);
    }

    #[test]
    fn pass_when_logged_in_is_503() {
        let mut s = logged_in();
        assert_eq!(codes(&mut s, &["PASS x\r\n"]), [503]);
    }

    #[test]
    fn user_twice_stays_user_given() {
        let mut s = Session::new(Channel::Socket);
        assert_eq!(codes(&mut s, &["USER a\r\n", "user b\r\n", "PASS c\r\n"]), [331, 331, 230]);
    }

    #[test]
    fn user_when_logged_in_starts_a_new_login_and_keeps_the_port() {
        // Changed with SPEC §3.3 (revised): the Spring 2025 handout says a PORT "should remain
        // open unless a valid RETR command occurs, another valid PORT command overrides the
        // previous PORT, or a valid QUIT command occurs"; this test used to expect it dropped.
        let mut s = with_port();
        assert_eq!(codes(&mut s, &["USER c\r\n"]), [331]);
        assert_eq!(s.login(), Login::UserGiven);
        assert!(s.pending_port().is_some());
        assert_eq!(codes(&mut s, &["PASS d\r\n", "RETR f\r\n"]), [230, 150]);
    }

    #[test]
    fn a_cancelled_login_keeps_the_port() {
        let mut s = with_port();
        assert_eq!(codes(&mut s, &["USER c\r\n", "NOOP\r\n", "PASS d\r\n"]), [331, 530, 530]);
        assert!(s.pending_port().is_some());
        assert_eq!(codes(&mut s, &["USER c\r\n", "PASS d\r\n", "RETR f\r\n"]), [331, 230, 150]);
    }

    #[test]
    fn an_invalid_quit_keeps_a_pending_user() {
        // SPEC §3.3 (revised): an invalid QUIT is processed "as if nothing happened".
        let mut s = Session::new(Channel::Socket);
        assert_eq!(codes(&mut s, &["USER a\r\n", "QUIT x\r\n", "PASS b\r\n"]), [331, 501, 230]);
    }

    #[test]
    fn a_501_for_another_verb_keeps_a_pending_user() {
        let mut s = Session::new(Channel::Socket);
        let lines = ["USER a\r\n", "TYPE X\r\n", "NOOP x\r\n", "PORT 1,2\r\n", "RETR \r\n", "PASS b\r\n"];
        assert_eq!(codes(&mut s, &lines), [331, 501, 501, 501, 501, 230]);
    }

    #[test]
    fn an_invalid_user_line_cancels_a_pending_user() {
        let mut s = Session::new(Channel::Socket);
        assert_eq!(codes(&mut s, &["USER a\r\n", "USER\r\n", "PASS b\r\n"]), [331, 501, 530]);
    }

    #[test]
    fn commands_before_login_are_530() {
        let mut s = Session::new(Channel::Socket);
        let lines = ["TYPE I\r\n", "SYST\r\n", "NOOP\r\n", "PORT 1,2,3,4,5,6\r\n", "RETR f\r\n"];
        assert_eq!(codes(&mut s, &lines), [530; 5]);
    }

    #[test]
    fn syntax_is_checked_before_login() {
        let mut s = Session::new(Channel::Socket);
        assert_eq!(codes(&mut s, &["TYPE X\r\n", "NOOP jasleen\r\n", "USER\r\n"]), [501, 501, 501]);
    }

    #[test]
    fn an_invalid_pass_line_cancels_a_pending_user() {
        let mut s = Session::new(Channel::Socket);
        assert_eq!(codes(&mut s, &["USER a\r\n", "PASS \r\n", "PASS b\r\n"]), [331, 501, 530]);
    }

    #[test]
    fn a_530_cancels_a_pending_user() {
        let mut s = Session::new(Channel::Socket);
        assert_eq!(codes(&mut s, &["USEr a b\r\n", "SYST\r\n", "PASS foobar\r\n"]), [331, 530, 530]);
    }

    #[test]
    fn a_500_keeps_a_pending_user() {
        let mut s = Session::new(Channel::Socket);
        assert_eq!(codes(&mut s, &["USER a\r\n", "XYZZY\r\n", "PASS b\r\n"]), [331, 500, 230]);
    }

    #[test]
    fn an_over_long_line_keeps_a_pending_user() {
        let mut s = Session::new(Channel::Socket);
        codes(&mut s, &["USER a\r\n"]);
        assert_eq!(s.handle_over_long_line().code(), 500);
        assert_eq!(codes(&mut s, &["PASS b\r\n"]), [230]);
    }

    #[test]
    fn course_input1_login_sequence() {
        let mut s = Session::new(Channel::Stdin);
        let lines = [
            "user anonymous\r\n",
            "PASS word\n",
            "USER anonymous\r\n",
            "PASS \r\n",
            "UsEr anonymous\n",
            "USERCS anonymous\r\n",
            "PASS password\r\n",
            "USER anonymous\r\n",
            "PASS password\r\n",
        ];
        assert_eq!(codes(&mut s, &lines), [331, 501, 331, 501, 501, 500, 530, 331, 230]);
    }

    #[test]
    fn retr_without_port_is_503() {
        let mut s = logged_in();
        assert_eq!(codes(&mut s, &["RETR f\r\n"]), [503]);
    }

    #[test]
    fn retr_with_port_asks_the_driver_to_retrieve() {
        let mut s = with_port();
        let step = s.handle(b"RETR dir/f x\r\n");
        let want = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1024));
        let transfer = Transfer::Retrieve { path: RequestedPath::Raw(b"dir/f x".to_vec()), offset: 0 };
        assert_eq!(step, Step::Transfer { transfer, data: DataTarget::Active(want) });
    }

    #[test]
    fn a_refused_retr_keeps_the_port_pending() {
        // The driver answers 550 and does not call start_transfer.
        let mut s = with_port();
        assert!(matches!(s.handle(b"RETR missing\r\n"), Step::Transfer { .. }));
        assert!(s.pending_port().is_some());
        assert!(matches!(s.handle(b"RETR other\r\n"), Step::Transfer { .. }));
    }

    #[test]
    fn a_501_retr_keeps_the_port_pending() {
        let mut s = with_port();
        assert_eq!(codes(&mut s, &["RETR \r\n"]), [501]);
        assert!(s.pending_port().is_some());
    }

    #[test]
    fn a_started_transfer_uses_up_the_port() {
        let mut s = with_port();
        assert!(matches!(s.handle(b"RETR f\r\n"), Step::Transfer { .. }));
        s.start_transfer();
        assert_eq!(codes(&mut s, &["RETR f\r\n"]), [503]);
    }

    #[test]
    fn a_new_port_replaces_the_pending_one() {
        let mut s = with_port();
        codes(&mut s, &["PORT 127,0,0,1,8,0\r\n"]);
        assert_eq!(s.pending_port(), Some(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 2048)));
    }

    #[test]
    fn quit_over_a_socket_is_221_and_forgets_the_login() {
        let mut s = with_port();
        assert_eq!(s.handle(b"QUIT\r\n"), Step::Quit(Reply::Goodbye));
        assert_eq!((s.login(), s.pending_port()), (Login::LoggedOut, None));
    }

    #[test]
    fn quit_over_stdin_is_200() {
        let mut s = Session::new(Channel::Stdin);
        assert_eq!(s.handle(b"QUIT\r\n"), Step::Quit(Reply::CommandOk));
    }

    #[test]
    fn quit_is_allowed_before_login() {
        let mut s = Session::new(Channel::Socket);
        assert_eq!(s.handle(b"quit\r\n"), Step::Quit(Reply::Goodbye));
    }

    #[test]
    fn an_invalid_quit_keeps_the_session() {
        let mut s = logged_in();
        assert_eq!(codes(&mut s, &["QUIT x\r\n", "quit\n", "NOOP\r\n"]), [501, 501, 200]);
        assert_eq!(s.login(), Login::LoggedIn);
    }

    fn extended(writable: bool, credentials: Option<Credentials>) -> Session {
        Session::with_policy(
            Channel::Socket,
            Policy { dialect: Dialect::Extended, writable, credentials, tls: TlsPolicy::Off },
        )
    }

    fn extended_logged_in(writable: bool) -> Session {
        let mut s = extended(writable, None);
        assert_eq!(codes(&mut s, &["USER anonymous\r\n", "PASS x\r\n"]), [331, 230]);
        s
    }

    fn step(s: &mut Session, line: &str) -> Step {
        s.handle(line.as_bytes())
    }

    fn vpath(p: &str) -> VirtualPath {
        VirtualPath::root().join(p.as_bytes())
    }

    #[test]
    fn feat_help_and_opts_work_before_login() {
        let mut s = extended(false, None);
        assert_eq!(step(&mut s, "FEAT\r\n"), Step::Reply(Reply::Features { tls: false }));
        assert_eq!(step(&mut s, "OPTS UTF8 ON\r\n"), Step::Reply(Reply::Utf8On));
        assert_eq!(step(&mut s, "HELP\r\n"), Step::Reply(Reply::Help));
        assert_eq!(step(&mut s, "PWD\r\n"), Step::Reply(Reply::NotLoggedIn));
    }

    #[test]
    fn feat_is_unknown_in_the_default_dialect() {
        let mut s = Session::new(Channel::Socket);
        assert_eq!(step(&mut s, "FEAT\r\n"), Step::Reply(Reply::UnknownCommand));
    }

    #[test]
    fn pasv_and_epsv_ask_the_driver_for_a_listener() {
        let mut s = extended_logged_in(false);
        assert_eq!(step(&mut s, "PASV\r\n"), Step::OpenPassive { extended: false });
        assert_eq!(step(&mut s, "EPSV\r\n"), Step::OpenPassive { extended: true });
        assert_eq!(step(&mut s, "EPSV 3\r\n"), Step::Reply(Reply::ProtocolNotSupported));
    }

    #[test]
    fn a_passive_transfer_uses_the_listener_once() {
        let mut s = extended_logged_in(false);
        s.passive_opened();
        let transfer = Transfer::Retrieve { path: RequestedPath::Virtual(vpath("/f")), offset: 0 };
        assert_eq!(step(&mut s, "RETR f\r\n"), Step::Transfer { transfer, data: DataTarget::Passive });
        s.start_transfer();
        assert_eq!(step(&mut s, "RETR f\r\n"), Step::Reply(Reply::BadSequence));
    }

    #[test]
    fn epsv_all_refuses_port_and_pasv_afterwards() {
        let mut s = extended_logged_in(false);
        assert_eq!(step(&mut s, "EPSV ALL\r\n"), Step::Reply(Reply::EpsvAllAccepted));
        assert_eq!(step(&mut s, "PASV\r\n"), Step::Reply(Reply::BadSequence));
        assert_eq!(step(&mut s, "PORT 127,0,0,1,4,0\r\n"), Step::Reply(Reply::BadSequence));
        assert_eq!(step(&mut s, "EPSV\r\n"), Step::OpenPassive { extended: true });
    }

    #[test]
    fn paths_are_resolved_against_the_working_directory() {
        let mut s = extended_logged_in(false);
        assert_eq!(step(&mut s, "CWD sub\r\n"), Step::File(FileAction::ChangeDirectory(vpath("/sub"))));
        s.change_directory(vpath("/sub"));
        assert_eq!(step(&mut s, "PWD\r\n"), Step::Reply(Reply::CurrentDirectory(b"/sub".to_vec())));
        assert_eq!(step(&mut s, "SIZE ../a\r\n"), Step::File(FileAction::Size(vpath("/a"))));
        assert_eq!(step(&mut s, "CDUP\r\n"), Step::File(FileAction::ChangeDirectory(VirtualPath::root())));
    }

    #[test]
    fn list_options_are_ignored() {
        let mut s = extended_logged_in(false);
        s.passive_opened();
        let want = Transfer::List { path: VirtualPath::root(), format: ListFormat::Long };
        assert_eq!(step(&mut s, "LIST -la\r\n"), Step::Transfer { transfer: want, data: DataTarget::Passive });
        let want = Transfer::List { path: vpath("/d"), format: ListFormat::Long };
        assert_eq!(step(&mut s, "LIST -a d\r\n"), Step::Transfer { transfer: want, data: DataTarget::Passive });
    }

    #[test]
    fn rest_sets_the_offset_of_the_next_transfer_only() {
        let mut s = extended_logged_in(false);
        s.passive_opened();
        assert_eq!(step(&mut s, "REST 10\r\n"), Step::Reply(Reply::RestartAt(10)));
        let want = Transfer::Retrieve { path: RequestedPath::Virtual(vpath("/f")), offset: 10 };
        assert_eq!(step(&mut s, "RETR f\r\n"), Step::Transfer { transfer: want, data: DataTarget::Passive });
        s.start_transfer();
        s.passive_opened();
        let want = Transfer::Retrieve { path: RequestedPath::Virtual(vpath("/f")), offset: 0 };
        assert_eq!(step(&mut s, "RETR f\r\n"), Step::Transfer { transfer: want, data: DataTarget::Passive });
    }

    #[test]
    fn changes_need_writable() {
        let mut s = extended_logged_in(false);
        for line in ["STOR f\r\n", "APPE f\r\n", "DELE f\r\n", "MKD d\r\n", "RMD d\r\n", "RNFR a\r\n", "RNTO b\r\n"] {
            assert_eq!(step(&mut s, line), Step::Reply(Reply::PermissionDenied), "{line:?}");
        }
    }

    #[test]
    fn changes_need_login_first() {
        let mut s = extended(true, None);
        assert_eq!(step(&mut s, "DELE f\r\n"), Step::Reply(Reply::NotLoggedIn));
    }

    #[test]
    fn rnto_must_follow_rnfr_directly() {
        let mut s = extended_logged_in(true);
        assert_eq!(step(&mut s, "RNTO b\r\n"), Step::Reply(Reply::BadSequence));
        assert_eq!(step(&mut s, "RNFR a\r\n"), Step::File(FileAction::RenameFrom(vpath("/a"))));
        s.rename_source_exists(vpath("/a"));
        assert_eq!(step(&mut s, "RNTO b\r\n"), Step::File(FileAction::RenameTo { from: vpath("/a"), to: vpath("/b") }));
        s.rename_source_exists(vpath("/a"));
        step(&mut s, "NOOP\r\n");
        assert_eq!(step(&mut s, "RNTO b\r\n"), Step::Reply(Reply::BadSequence));
    }

    fn required_login() -> Option<Credentials> {
        Some(Credentials { user: b"alice".to_vec(), password: b"secret".to_vec() })
    }

    #[test]
    fn a_required_login_accepts_only_its_name_and_password() {
        let mut s = extended(false, required_login());
        assert_eq!(step(&mut s, "USER alice\r\n"), Step::Reply(Reply::UserNeedsPassword));
        assert_eq!(step(&mut s, "PASS secret\r\n"), Step::Reply(Reply::UserLoggedIn));
        let mut s = extended(false, required_login());
        step(&mut s, "USER bob\r\n");
        assert_eq!(step(&mut s, "PASS secret\r\n"), Step::RejectLogin { close: false });
        assert_eq!(s.login(), Login::LoggedOut);
    }

    #[test]
    fn the_third_failed_login_closes_the_connection() {
        let mut s = extended(false, required_login());
        for close in [false, false, true] {
            step(&mut s, "USER alice\r\n");
            assert_eq!(step(&mut s, "PASS wrong\r\n"), Step::RejectLogin { close });
        }
    }

    #[test]
    fn passwords_are_masked_in_the_transcript_only_when_a_login_is_required() {
        let s = extended(false, required_login());
        assert_eq!(&*s.transcript_echo(b"PASS secret\r\n"), b"PASS ****\r\n");
        assert_eq!(&*s.transcript_echo(b"pass secret\n"), b"pass ****\n");
        // Changed with issue 18.8: `PASS<TAB>secret` was echoed as it was; every line that
        // starts like PASS is masked now (`PASSWORD x` included: it may be a password).
        assert_eq!(&*s.transcript_echo(b"PASS\tsecret\r\n"), b"PASS ****\r\n");
        assert_eq!(&*s.transcript_echo(b"PASSWORD x\r\n"), b"PASS ****\r\n");
        assert_eq!(&*s.transcript_echo(b"PASS\r\n"), b"PASS ****\r\n");
        assert_eq!(&*s.transcript_echo(b"PAS x\r\n"), b"PAS x\r\n");
        let anonymous = extended(false, None);
        assert_eq!(&*anonymous.transcript_echo(b"PASS guest@\r\n"), b"PASS guest@\r\n");
    }

    #[test]
    fn only_the_comp431_dialect_waits_for_the_client_to_close_the_data_connection() {
        assert_eq!(Session::new(Channel::Socket).data_close(), DataClose::AfterPeerCloses(PEER_CLOSE_WAIT));
        assert_eq!(extended(false, None).data_close(), DataClose::Immediate);
    }

    #[test]
    fn the_extended_dialect_closes_transfers_with_226() {
        assert_eq!(extended(false, None).transfer_done_reply().code(), 226);
        assert_eq!(Session::new(Channel::Socket).transfer_done_reply().code(), 250);
    }
}
