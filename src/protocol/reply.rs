//! Replies: the one table of reply codes and texts, their wire encoding, and the reply grammar.

use std::fmt;
use std::net::SocketAddrV4;

use super::address::{format_port_argument, format_port_reply_address};
use super::line::escape_controls;

/// Every reply the server sends. The texts live only in [`Reply::to_wire`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    FileStatusOk,
    CommandOk,
    TypeSet(TransferType),
    PortOk(SocketAddrV4),
    SystemType,
    Greeting,
    /// The greeting of a server for real clients: `220 TEXT`.
    Banner(String),
    Goodbye,
    LoggedIn,
    FileActionDone,
    UserOk,
    TooManyConnections,
    TooManyFailedLogins,
    IdleTimeout,
    CannotOpenData,
    TransferAborted,
    LocalError,
    UnknownCommand,
    BadParameter,
    BadSequence,
    NotLoggedIn,
    FileUnavailable,
    // The extended dialect (SPEC §5).
    TransferComplete,
    PassiveMode(SocketAddrV4),
    ExtendedPassiveMode(u16),
    EpsvAllAccepted,
    ExtendedPortOk,
    CurrentDirectory(Vec<u8>),
    DirectoryCreated(Vec<u8>),
    FileSize(u64),
    ModificationTime(String),
    /// MFMT done: the time set and the path.
    ModificationTimeSet {
        stamp: String,
        path: Vec<u8>,
    },
    RestartAt(u64),
    RenameReady,
    /// FEAT; `tls` adds RFC 4217's AUTH TLS, PBSZ and PROT.
    Features {
        tls: bool,
    },
    Help,
    Status {
        logged_in: bool,
    },
    /// `250-` listing of one entry (MLST): the facts line.
    MachineListing(Vec<u8>),
    /// `213-` status of a path (STAT path): listing lines.
    PathStatus(Vec<Vec<u8>>),
    Utf8On,
    MlstOptions,
    ModeSet,
    StructureSet,
    AlloIgnored,
    NothingToAbort,
    UserNeedsPassword,
    UserLoggedIn,
    LoginIncorrect,
    PermissionDenied,
    ParameterNotImplemented,
    ProtocolNotSupported,
    StorageExceeded,
    NameNotAllowed,
    // FTP over TLS (RFC 4217).
    /// AUTH TLS accepted: the handshake follows.
    TlsProceed,
    /// AUTH on a server started without --tls.
    TlsNotConfigured,
    AuthMechanismUnknown,
    /// AUTH on a connection already under TLS, or after a login.
    TlsNotNow,
    /// PBSZ or PROT before AUTH TLS.
    TlsFirst,
    ProtectionBufferSet,
    DataPrivate,
    DataClear,
    ProtectionLevelUnknown,
    /// PROT C on a server that requires TLS.
    ClearDataRefused,
    CccRefused,
    /// USER or PASS in clear text on a server that requires TLS.
    TlsRequiredForLogin,
    /// A transfer with PROT C on a server that requires TLS.
    DataProtectionRequired,
    /// A PROT P data connection that did not resume a TLS session made for this client.
    TlsSessionNotResumed,
}

/// The representation type set by TYPE (bytes are never translated, whichever is chosen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferType {
    Ascii,
    Image,
}

/// The features FEAT lists: exactly what the extended dialect implements.
pub const FEATURES: [&str; 11] = [
    "EPRT",
    "EPSV",
    "MDTM",
    "MFMT",
    "MLST type*;size*;modify*;perm*;",
    "PASV",
    "REST STREAM",
    "SIZE",
    "TVFS",
    "UTF8",
    "MODE S",
];

/// The verbs HELP lists.
/// What FEAT adds on a server with TLS (RFC 4217 §6).
pub const TLS_FEATURES: [&str; 3] = ["AUTH TLS", "PBSZ", "PROT"];

const HELP_VERBS: &str = "ABOR ALLO APPE AUTH CCC CDUP CWD DELE EPRT EPSV FEAT HELP LIST MDTM MFMT MKD MLSD MLST MODE NLST NOOP \
OPTS PASS PASV PBSZ PORT PROT PWD QUIT REST RETR RMD RNFR RNTO SIZE STAT STOR STRU SYST TYPE USER";

impl Reply {
    pub fn code(&self) -> u16 {
        use Reply::*;
        match self {
            FileStatusOk => 150,
            CommandOk | TypeSet(_) | PortOk(_) | EpsvAllAccepted | ExtendedPortOk | Utf8On | MlstOptions | ModeSet
            | StructureSet | ProtectionBufferSet | DataPrivate | DataClear => 200,
            AlloIgnored => 202,
            Features { .. } | Status { .. } => 211,
            FileSize(_) | ModificationTime(_) | ModificationTimeSet { .. } | PathStatus(_) => 213,
            Help => 214,
            SystemType => 215,
            Greeting | Banner(_) => 220,
            Goodbye => 221,
            NothingToAbort => 225,
            TransferComplete => 226,
            PassiveMode(_) => 227,
            ExtendedPassiveMode(_) => 229,
            LoggedIn | UserLoggedIn => 230,
            FileActionDone | MachineListing(_) => 250,
            CurrentDirectory(_) | DirectoryCreated(_) => 257,
            UserOk | UserNeedsPassword => 331,
            RestartAt(_) | RenameReady => 350,
            TooManyConnections | TooManyFailedLogins | IdleTimeout => 421,
            CannotOpenData => 425,
            TransferAborted => 426,
            LocalError => 451,
            UnknownCommand => 500,
            BadParameter => 501,
            BadSequence => 503,
            ParameterNotImplemented | AuthMechanismUnknown => 504,
            TlsNotConfigured => 502,
            TlsNotNow | TlsFirst => 503,
            DataProtectionRequired => 521,
            ProtocolNotSupported | TlsSessionNotResumed => 522,
            NotLoggedIn | LoginIncorrect | TlsRequiredForLogin => 530,
            ClearDataRefused | CccRefused => 534,
            ProtectionLevelUnknown => 536,
            TlsProceed => 234,
            FileUnavailable | PermissionDenied => 550,
            StorageExceeded => 552,
            NameNotAllowed => 553,
        }
    }

    /// The reply as sent on the wire and printed in the transcript: `CODE TEXT\r\n`, or for
    /// a multi-line reply `CODE-FIRST\r\n`, the lines, and `CODE LAST\r\n`. This is the only
    /// place replies get their texts and their CR LF.
    pub fn to_wire(&self) -> Vec<u8> {
        use Reply::*;
        let single = |text: &str| format!("{} {text}\r\n", self.code()).into_bytes();
        // Names and listing lines come from clients and the file system: control bytes in
        // them are escaped, so a name with CR LF cannot forge a second reply line.
        let quoted = |path: &[u8], text: &str| {
            let mut line = format!("{} \"", self.code()).into_bytes();
            // RFC 959: a quote inside the name is doubled.
            for &b in escape_controls(path, false).iter() {
                line.extend_from_slice(if b == b'"' { b"\"\"" } else { std::slice::from_ref(&b) });
            }
            line.extend_from_slice(format!("\" {text}\r\n").as_bytes());
            line
        };
        let multi = |first: &str, lines: &[&[u8]], last: &str| {
            let mut out = format!("{}-{first}\r\n", self.code()).into_bytes();
            for line in lines {
                out.push(b' ');
                out.extend_from_slice(&escape_controls(line, false));
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(format!("{} {last}\r\n", self.code()).as_bytes());
            out
        };
        match self {
            FileStatusOk => single("File status okay."),
            CommandOk => single("Command OK."),
            TypeSet(TransferType::Ascii) => single("Type set to A."),
            TypeSet(TransferType::Image) => single("Type set to I."),
            PortOk(addr) => single(&format!("Port command successful ({}).", format_port_reply_address(*addr))),
            SystemType => single("UNIX Type: L8."),
            Greeting => single("COMP 431 FTP server ready."),
            Banner(text) => single(&String::from_utf8_lossy(&escape_controls(text.as_bytes(), false))),
            Goodbye => single("Goodbye."),
            LoggedIn => single("Guest login OK."),
            FileActionDone => single("Requested file action completed."),
            UserOk => single("Guest access OK, send password."),
            TooManyConnections => single("Too many connections."),
            TooManyFailedLogins => single("Too many failed logins from your address; try again later."),
            IdleTimeout => single("Idle timeout, closing control connection."),
            CannotOpenData => single("Can not open data connection."),
            TransferAborted => single("Connection closed; transfer aborted."),
            LocalError => single("Requested action aborted: local error in processing."),
            UnknownCommand => single("Syntax error, command unrecognized."),
            BadParameter => single("Syntax error in parameter."),
            BadSequence => single("Bad sequence of commands."),
            NotLoggedIn => single("Not logged in."),
            FileUnavailable => single("File not found or access denied."),
            TransferComplete => single("Transfer complete."),
            PassiveMode(addr) => single(&format!("Entering Passive Mode ({}).", format_port_argument(*addr))),
            ExtendedPassiveMode(port) => single(&format!("Entering Extended Passive Mode (|||{port}|).")),
            EpsvAllAccepted => single("EPSV ALL command successful."),
            ExtendedPortOk => single("EPRT command successful."),
            CurrentDirectory(path) => quoted(path, "is the current directory."),
            DirectoryCreated(path) => quoted(path, "created."),
            FileSize(size) => single(&size.to_string()),
            ModificationTime(stamp) => single(stamp),
            ModificationTimeSet { stamp, path } => {
                let path = escape_controls(path, false);
                single(&format!("Modify={stamp}; {}", String::from_utf8_lossy(&path)))
            }
            RestartAt(offset) => single(&format!("Restarting at {offset}. Send STOR or RETR to continue.")),
            RenameReady => single("File exists, ready for destination name."),
            Features { tls } => {
                let tls_lines: &[&str] = if *tls { &TLS_FEATURES } else { &[] };
                let lines: Vec<&[u8]> = FEATURES.iter().chain(tls_lines).map(|f| f.as_bytes()).collect();
                multi("Features:", &lines, "End")
            }
            Help => multi("The following commands are recognized:", &[HELP_VERBS.as_bytes()], "Help OK."),
            Status { logged_in } => {
                let state: &[u8] = if *logged_in { b"Logged in." } else { b"Not logged in." };
                multi(
                    "minftp status:",
                    &[state, b"TYPE: binary; STRUcture: File; transfer MODE: Stream"],
                    "End of status.",
                )
            }
            MachineListing(facts) => multi("Listing:", &[facts], "End"),
            PathStatus(lines) => {
                let lines: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
                multi("Status follows:", &lines, "End of status.")
            }
            Utf8On => single("UTF8 set to on."),
            MlstOptions => single("MLST OPTS type;size;modify;perm;"),
            ModeSet => single("Mode set to S."),
            StructureSet => single("Structure set to F."),
            AlloIgnored => single("ALLO command ignored."),
            NothingToAbort => single("No transfer to abort."),
            UserNeedsPassword => single("User name okay, need password."),
            UserLoggedIn => single("User logged in."),
            LoginIncorrect => single("Login incorrect."),
            PermissionDenied => single("Permission denied."),
            ParameterNotImplemented => single("Command not implemented for that parameter."),
            ProtocolNotSupported => single("Network protocol not supported, use (1,2)."),
            StorageExceeded => single("Requested file action aborted. Exceeded storage allocation."),
            NameNotAllowed => single("Requested action not taken. File name not allowed."),
            TlsProceed => single("Proceed with TLS negotiation."),
            TlsNotConfigured => single("TLS is not configured on this server."),
            AuthMechanismUnknown => single("Unknown security mechanism; use AUTH TLS."),
            TlsNotNow => single("AUTH TLS is taken only once, before USER."),
            TlsFirst => single("Send AUTH TLS first."),
            ProtectionBufferSet => single("PBSZ=0"),
            DataPrivate => single("Data connections will be encrypted."),
            DataClear => single("Data connections will be in clear text."),
            ProtectionLevelUnknown => single("Protection level not supported; use PROT P or PROT C."),
            ClearDataRefused => single("Data connections must be encrypted on this server; use PROT P."),
            CccRefused => single("The control connection stays encrypted."),
            TlsRequiredForLogin => single("This server requires TLS: send AUTH TLS before USER."),
            DataProtectionRequired => single("Data connections must be encrypted on this server; send PROT P."),
            TlsSessionNotResumed => single("The data connection must resume a TLS session of this client."),
        }
    }
}

impl fmt::Display for Reply {
    /// The reply as text, for diagnostics (without its final line ending).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let wire = self.to_wire();
        f.write_str(String::from_utf8_lossy(wire.strip_suffix(b"\r\n").unwrap_or(&wire)).as_ref())
    }
}

/// A reply line that follows `<reply-code><SP><reply-text><CRLF>` (SPEC §4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedReply {
    pub code: u16,
    pub text: String,
}

impl ParsedReply {
    /// 4xx and 5xx replies report a failure.
    pub fn is_failure(&self) -> bool {
        self.code >= 400
    }
}

/// The first token of a reply line that breaks the reply grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyError {
    Code,
    Text,
    LineEnd,
}

impl ReplyError {
    /// The course's wording: `ERROR -- reply-code` and so on.
    pub fn message(self) -> &'static str {
        match self {
            ReplyError::Code => "ERROR -- reply-code",
            // With the underscore, as the course's FTP_ReplyParser.py prints it (SPEC §4.3).
            ReplyError::Text => "ERROR -- reply_text",
            ReplyError::LineEnd => "ERROR -- <CRLF>",
        }
    }
}

/// Parses one reply line (with its line ending) as the course's `FTP_ReplyParser.py` judges
/// it (decided, revised: SPEC §4.3):
/// - three digits 100-599 and then a space, else a code error (`220-x`, `2200 x`, `331\r\n`);
/// - every space after the code is skipped; nothing left but the line ending is a text error;
/// - the text is every byte up to the line ending (CR LF or a bare LF; a CR inside is kept),
///   and a byte above 0x7F in it is a text error;
/// - a line that does not end in CR LF or LF is a line-ending error.
pub fn parse_reply(line: &[u8]) -> Result<ParsedReply, ReplyError> {
    let code_token = line.get(..3).ok_or(ReplyError::Code)?;
    if !code_token.iter().all(u8::is_ascii_digit) {
        return Err(ReplyError::Code);
    }
    let code = code_token.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    if !(100..=599).contains(&code) || line.get(3) != Some(&b' ') {
        return Err(ReplyError::Code);
    }
    let after_code = &line[3..];
    let rest = &after_code[after_code.iter().take_while(|&&b| b == b' ').count()..];
    if rest.is_empty() || rest.starts_with(b"\n") || rest.starts_with(b"\r\n") {
        return Err(ReplyError::Text);
    }
    // The course's parser takes text bytes until only a CR LF, or a single byte, is left.
    let text_len = if rest.ends_with(b"\r\n") { rest.len() - 2 } else { rest.len() - 1 };
    let (text, ending) = rest.split_at(text_len);
    if !text.is_ascii() {
        return Err(ReplyError::Text);
    }
    if ending != b"\r\n" && ending != b"\n" {
        return Err(ReplyError::LineEnd);
    }
    Ok(ParsedReply { code, text: String::from_utf8_lossy(text).into_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn every_reply_renders_code_space_text_crlf() {
        assert_eq!(Reply::Greeting.to_wire(), b"220 COMP 431 FTP server ready.\r\n");
        assert_eq!(Reply::TypeSet(TransferType::Image).to_wire(), b"200 Type set to I.\r\n");
    }

    #[test]
    fn port_reply_prints_dotted_address_and_decimal_port() {
        let addr = SocketAddrV4::new(Ipv4Addr::new(1, 2, 3, 4), 1286);
        assert_eq!(Reply::PortOk(addr).to_wire(), b"200 Port command successful (1.2.3.4,1286).\r\n");
    }

    #[test]
    fn multi_line_replies_mark_every_line_but_the_last_with_a_hyphen() {
        let wire = String::from_utf8(Reply::Features { tls: false }.to_wire()).unwrap();
        assert!(wire.starts_with("211-Features:\r\n EPRT\r\n"), "{wire}");
        assert!(wire.ends_with("\r\n211 End\r\n"), "{wire}");
        assert!(!wire.contains("AUTH TLS"), "{wire}");
        let wire = String::from_utf8(Reply::Features { tls: true }.to_wire()).unwrap();
        assert!(wire.ends_with(" AUTH TLS\r\n PBSZ\r\n PROT\r\n211 End\r\n"), "{wire}");
    }

    #[test]
    fn a_name_with_cr_lf_cannot_forge_a_reply_line() {
        let wire = Reply::PathStatus(vec![b"-rw-r--r-- 1 ftp ftp 0 Jan 1 1970 x\r\n230 forged".to_vec()]).to_wire();
        assert_eq!(wire.iter().filter(|&&b| b == b'\n').count(), 3, "{}", String::from_utf8_lossy(&wire));
        let wire = Reply::DirectoryCreated(b"/d\r\n230 forged".to_vec()).to_wire();
        assert_eq!(wire, b"257 \"/d\\x0d\\x0a230 forged\" created.\r\n");
    }

    #[test]
    fn quotes_in_a_directory_name_are_doubled() {
        assert_eq!(
            Reply::CurrentDirectory(b"/a\"b".to_vec()).to_wire(),
            b"257 \"/a\"\"b\" is the current directory.\r\n"
        );
    }

    #[test]
    fn passive_replies_carry_the_address() {
        let addr = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 1286);
        assert_eq!(Reply::PassiveMode(addr).to_wire(), b"227 Entering Passive Mode (127,0,0,1,5,6).\r\n");
        assert_eq!(Reply::ExtendedPassiveMode(6446).to_wire(), b"229 Entering Extended Passive Mode (|||6446|).\r\n");
    }

    #[test]
    fn a_well_formed_reply_parses() {
        let r = parse_reply(b"220 COMP 431 FTP server ready.\r\n").unwrap();
        assert_eq!((r.code, r.text.as_str()), (220, "COMP 431 FTP server ready."));
    }

    #[test]
    fn reply_code_must_be_three_digits() {
        assert_eq!(parse_reply(b"22 x\r\n"), Err(ReplyError::Code));
        assert_eq!(parse_reply(b"2200 x\r\n"), Err(ReplyError::Code));
        assert_eq!(parse_reply(b"2a0 x\r\n"), Err(ReplyError::Code));
        assert_eq!(parse_reply(b"\r\n"), Err(ReplyError::Code));
    }

    #[test]
    fn reply_code_must_be_between_100_and_599() {
        assert_eq!(parse_reply(b"099 x\r\n"), Err(ReplyError::Code));
        assert_eq!(parse_reply(b"600 x\r\n"), Err(ReplyError::Code));
        assert!(parse_reply(b"100 x\r\n").is_ok());
        assert!(parse_reply(b"599 x\r\n").is_ok());
    }

    #[test]
    fn a_multi_line_marker_is_not_a_code() {
        assert_eq!(parse_reply(b"220-hello\r\n"), Err(ReplyError::Code));
    }

    #[test]
    fn a_code_without_a_space_after_it_is_a_code_error() {
        // Changed with SPEC §4.3 (revised): `331\r\n` was a text error; the course's parser
        // wants the space right after the code.
        assert_eq!(parse_reply(b"331\r\n"), Err(ReplyError::Code));
        assert_eq!(parse_reply(b"200\n"), Err(ReplyError::Code));
        assert_eq!(parse_reply(b"200"), Err(ReplyError::Code));
    }

    #[test]
    fn reply_text_must_be_present() {
        assert_eq!(parse_reply(b"200 \r\n"), Err(ReplyError::Text));
        assert_eq!(parse_reply(b"200    \n"), Err(ReplyError::Text));
        assert_eq!(parse_reply(b"200 "), Err(ReplyError::Text));
    }

    #[test]
    fn reply_text_must_be_ascii() {
        assert_eq!(parse_reply(b"200 caf\xc3\xa9\r\n"), Err(ReplyError::Text));
        assert_eq!(ReplyError::Text.message(), "ERROR -- reply_text");
    }

    #[test]
    fn a_bare_lf_ends_a_reply_too() {
        // Changed with SPEC §4.3 (revised): the course's parser accepts `\n` as well as `\r\n`.
        assert_eq!(parse_reply(b"200 OK\n").unwrap().text, "OK");
    }

    #[test]
    fn a_reply_without_line_ending_is_a_crlf_error() {
        assert_eq!(parse_reply(b"200 OK"), Err(ReplyError::LineEnd));
        assert_eq!(parse_reply(b"200 OK\r"), Err(ReplyError::LineEnd));
    }

    #[test]
    fn a_cr_inside_the_text_is_kept() {
        // Changed with SPEC §4.3 (revised): these were line-ending errors.
        assert_eq!(parse_reply(b"331 Guest\r\r\n").unwrap().text, "Guest\r");
        assert_eq!(parse_reply(b"200 OK\rx\r\n").unwrap().text, "OK\rx");
    }

    #[test]
    fn every_space_after_the_code_is_skipped() {
        // Changed with SPEC §4.3 (revised): the text kept all but the first space.
        assert_eq!(parse_reply(b"200  two  spaces\r\n").unwrap().text, "two  spaces");
        assert_eq!(parse_reply(b"220  x\r\n").unwrap().text, "x");
    }
}
