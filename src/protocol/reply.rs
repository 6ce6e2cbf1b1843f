//! Replies: the one table of reply codes and texts, their wire encoding, and the reply grammar.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddrV4;

use super::address::format_port_reply_address;

/// Every reply the server sends. The texts live only in [`Reply::text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    FileStatusOk,
    CommandOk,
    TypeSet(TransferType),
    PortOk(SocketAddrV4),
    SystemType,
    Greeting,
    Goodbye,
    LoggedIn,
    FileActionDone,
    UserOk,
    TooManyConnections,
    IdleTimeout,
    CannotOpenData,
    TransferAborted,
    LocalError,
    UnknownCommand,
    BadParameter,
    BadSequence,
    NotLoggedIn,
    FileUnavailable,
}

/// The representation type set by TYPE (bytes are never translated, whichever is chosen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferType {
    Ascii,
    Image,
}

impl Reply {
    pub fn code(&self) -> u16 {
        use Reply::*;
        match self {
            FileStatusOk => 150,
            CommandOk | TypeSet(_) | PortOk(_) => 200,
            SystemType => 215,
            Greeting => 220,
            Goodbye => 221,
            LoggedIn => 230,
            FileActionDone => 250,
            UserOk => 331,
            TooManyConnections | IdleTimeout => 421,
            CannotOpenData => 425,
            TransferAborted => 426,
            LocalError => 451,
            UnknownCommand => 500,
            BadParameter => 501,
            BadSequence => 503,
            NotLoggedIn => 530,
            FileUnavailable => 550,
        }
    }

    pub fn text(&self) -> Cow<'static, str> {
        use Reply::*;
        Cow::Borrowed(match self {
            FileStatusOk => "File status okay.",
            CommandOk => "Command OK.",
            TypeSet(TransferType::Ascii) => "Type set to A.",
            TypeSet(TransferType::Image) => "Type set to I.",
            PortOk(addr) => {
                return Cow::Owned(format!("Port command successful ({}).", format_port_reply_address(*addr)));
            }
            SystemType => "UNIX Type: L8.",
            Greeting => "COMP 431 FTP server ready.",
            Goodbye => "Goodbye.",
            LoggedIn => "Guest login OK.",
            FileActionDone => "Requested file action completed.",
            UserOk => "Guest access OK, send password.",
            TooManyConnections => "Too many connections.",
            IdleTimeout => "Idle timeout, closing control connection.",
            CannotOpenData => "Can not open data connection.",
            TransferAborted => "Connection closed; transfer aborted.",
            LocalError => "Requested action aborted: local error in processing.",
            UnknownCommand => "Syntax error, command unrecognized.",
            BadParameter => "Syntax error in parameter.",
            BadSequence => "Bad sequence of commands.",
            NotLoggedIn => "Not logged in.",
            FileUnavailable => "File not found or access denied.",
        })
    }

    /// The reply as sent on the wire and printed in the transcript: `CODE TEXT\r\n`.
    /// This is the only place a reply gets its CR LF.
    pub fn to_wire(&self) -> Vec<u8> {
        format!("{self}\r\n").into_bytes()
    }
}

impl fmt::Display for Reply {
    /// `CODE TEXT`, without the line ending.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.text())
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
            ReplyError::Text => "ERROR -- reply-text",
            ReplyError::LineEnd => "ERROR -- <CRLF>",
        }
    }
}

/// Parses one reply line (with its line ending) by the grammar of SPEC §4.3.
///
/// The code token is the bytes up to the first space, so `220-x` and `2200 x` are
/// code errors; the text is everything after that space up to CR or LF.
pub fn parse_reply(line: &[u8]) -> Result<ParsedReply, ReplyError> {
    let code_len = line.iter().position(|&b| matches!(b, b' ' | b'\r' | b'\n')).unwrap_or(line.len());
    let code_token = &line[..code_len];
    if code_token.len() != 3 || !code_token.iter().all(u8::is_ascii_digit) {
        return Err(ReplyError::Code);
    }
    let code = code_token.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    if !(100..=599).contains(&code) {
        return Err(ReplyError::Code);
    }
    let Some(after_code) = line[code_len..].strip_prefix(b" ") else {
        return Err(ReplyError::Text);
    };
    let text_len = after_code.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(after_code.len());
    let text = &after_code[..text_len];
    if text.is_empty() || !text.is_ascii() {
        return Err(ReplyError::Text);
    }
    if &after_code[text_len..] != b"\r\n" {
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
    fn reply_text_must_be_present() {
        assert_eq!(parse_reply(b"200\r\n"), Err(ReplyError::Text));
        assert_eq!(parse_reply(b"200 \r\n"), Err(ReplyError::Text));
    }

    #[test]
    fn reply_text_must_be_ascii() {
        assert_eq!(parse_reply(b"200 caf\xc3\xa9\r\n"), Err(ReplyError::Text));
    }

    #[test]
    fn reply_must_end_in_crlf() {
        assert_eq!(parse_reply(b"200 OK\n"), Err(ReplyError::LineEnd));
        assert_eq!(parse_reply(b"200 OK"), Err(ReplyError::LineEnd));
        assert_eq!(parse_reply(b"200 OK\rx\r\n"), Err(ReplyError::LineEnd));
    }

    #[test]
    fn reply_text_keeps_inner_and_leading_spaces() {
        assert_eq!(parse_reply(b"200  two  spaces\r\n").unwrap().text, " two  spaces");
    }
}
