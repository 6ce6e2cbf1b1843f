//! Commands a client sends to the server, and the grammars that parse them: the COMP 431
//! dialect (SPEC §3.1) and the extended dialect real clients need (SPEC §5).

use std::net::{SocketAddr, SocketAddrV4};

use super::address::{parse_eprt_argument, parse_port_argument};
use super::reply::TransferType;

/// Which command set and which line rules a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The eight verbs of the course, CR LF required, ASCII arguments (the default).
    Comp431,
    /// What curl, wget, lftp, ftplib and FileZilla use: CR LF or LF, any argument bytes.
    Extended,
}

/// Every verb either dialect knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    User,
    Pass,
    Type,
    Syst,
    Noop,
    Quit,
    Port,
    Retr,
    Eprt,
    Pasv,
    Epsv,
    Pwd,
    Cwd,
    Cdup,
    List,
    Nlst,
    Mlsd,
    Mlst,
    Size,
    Mdtm,
    Rest,
    Feat,
    Opts,
    Help,
    Stat,
    Abor,
    Mode,
    Stru,
    Allo,
    Stor,
    Appe,
    Dele,
    Mkd,
    Rmd,
    Rnfr,
    Rnto,
    Mfmt,
    Auth,
    Pbsz,
    Prot,
    Ccc,
}

/// What follows a verb, before the line ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Argument {
    /// Nothing at all, not even a space.
    Nothing,
    /// `<SP>+<string>`: one or more bytes other than CR and LF (ASCII only in COMP 431).
    Text,
    /// Either nothing or `<SP>+<string>`.
    OptionalText,
    /// `<SP>+` a type code.
    TypeCode,
    /// `<SP>+` six comma-separated numbers.
    HostPort,
    /// `<SP>+` an RFC 2428 address.
    ExtendedAddress,
    /// `<SP>+` decimal digits.
    Number,
}

/// The COMP 431 verbs; every other verb is unknown (500) in that dialect.
const COMP431_VERBS: [(&str, Verb); 8] = [
    ("USER", Verb::User),
    ("PASS", Verb::Pass),
    ("TYPE", Verb::Type),
    ("SYST", Verb::Syst),
    ("NOOP", Verb::Noop),
    ("QUIT", Verb::Quit),
    ("PORT", Verb::Port),
    ("RETR", Verb::Retr),
];

/// The verbs the extended dialect adds (X-prefixed names are RFC 775 aliases).
const EXTENDED_VERBS: [(&str, Verb); 38] = [
    ("EPRT", Verb::Eprt),
    ("PASV", Verb::Pasv),
    ("EPSV", Verb::Epsv),
    ("PWD", Verb::Pwd),
    ("XPWD", Verb::Pwd),
    ("CWD", Verb::Cwd),
    ("XCWD", Verb::Cwd),
    ("CDUP", Verb::Cdup),
    ("XCUP", Verb::Cdup),
    ("LIST", Verb::List),
    ("NLST", Verb::Nlst),
    ("MLSD", Verb::Mlsd),
    ("MLST", Verb::Mlst),
    ("SIZE", Verb::Size),
    ("MDTM", Verb::Mdtm),
    ("REST", Verb::Rest),
    ("FEAT", Verb::Feat),
    ("OPTS", Verb::Opts),
    ("HELP", Verb::Help),
    ("STAT", Verb::Stat),
    ("ABOR", Verb::Abor),
    ("MODE", Verb::Mode),
    ("STRU", Verb::Stru),
    ("ALLO", Verb::Allo),
    ("STOR", Verb::Stor),
    ("APPE", Verb::Appe),
    ("DELE", Verb::Dele),
    ("MKD", Verb::Mkd),
    ("XMKD", Verb::Mkd),
    ("RMD", Verb::Rmd),
    ("XRMD", Verb::Rmd),
    ("RNFR", Verb::Rnfr),
    ("RNTO", Verb::Rnto),
    ("MFMT", Verb::Mfmt),
    // RFC 4217, FTP over TLS.
    ("AUTH", Verb::Auth),
    ("PBSZ", Verb::Pbsz),
    ("PROT", Verb::Prot),
    ("CCC", Verb::Ccc),
];

impl Verb {
    /// The verb named by `token` in `dialect`, compared without regard to ASCII case.
    pub fn from_token(token: &[u8], dialect: Dialect) -> Option<Verb> {
        let extended: &[(&str, Verb)] = match dialect {
            Dialect::Comp431 => &[],
            Dialect::Extended => &EXTENDED_VERBS,
        };
        COMP431_VERBS
            .iter()
            .chain(extended)
            .find(|(name, _)| token.eq_ignore_ascii_case(name.as_bytes()))
            .map(|&(_, verb)| verb)
    }

    fn argument(self) -> Argument {
        use Verb::*;
        match self {
            User | Pass | Retr | Cwd | Size | Mdtm | Opts | Mode | Stru | Allo | Stor | Appe | Dele | Mkd | Rmd
            | Rnfr | Rnto | Mfmt | Auth | Pbsz | Prot => Argument::Text,
            List | Nlst | Mlsd | Mlst | Help | Stat | Epsv => Argument::OptionalText,
            Type => Argument::TypeCode,
            Port => Argument::HostPort,
            Eprt => Argument::ExtendedAddress,
            Rest => Argument::Number,
            Syst | Noop | Quit | Pasv | Pwd | Cdup | Feat | Abor | Ccc => Argument::Nothing,
        }
    }
}

/// A syntactically valid command. Arguments are kept byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    User(Vec<u8>),
    Pass(Vec<u8>),
    Type(TransferType),
    Syst,
    Noop,
    Quit,
    Port(SocketAddrV4),
    Retr(Vec<u8>),
    Eprt(SocketAddr),
    Pasv,
    Epsv(Option<Vec<u8>>),
    Pwd,
    Cwd(Vec<u8>),
    Cdup,
    List(Option<Vec<u8>>),
    Nlst(Option<Vec<u8>>),
    Mlsd(Option<Vec<u8>>),
    Mlst(Option<Vec<u8>>),
    Size(Vec<u8>),
    Mdtm(Vec<u8>),
    Rest(u64),
    Feat,
    Opts(Vec<u8>),
    Help(Option<Vec<u8>>),
    Stat(Option<Vec<u8>>),
    Abor,
    Mode(Vec<u8>),
    Stru(Vec<u8>),
    Allo(Vec<u8>),
    Stor(Vec<u8>),
    Appe(Vec<u8>),
    Dele(Vec<u8>),
    Mkd(Vec<u8>),
    Rmd(Vec<u8>),
    Rnfr(Vec<u8>),
    Rnto(Vec<u8>),
    /// MFMT: `YYYYMMDDHHMMSS<SP>path`, split by the session.
    Mfmt(Vec<u8>),
    /// AUTH: the security mechanism (TLS, TLS-C, SSL, TLS-P).
    Auth(Vec<u8>),
    /// PBSZ: the protection buffer size (0 for TLS).
    Pbsz(Vec<u8>),
    /// PROT: the data protection level (C or P for TLS).
    Prot(Vec<u8>),
    Ccc,
}

/// Why a line is not a valid command. The order of the variants is the order of
/// precedence of SPEC §3.2: an unknown verb (500) wins over bad syntax (501).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandError {
    /// The verb is not one of this dialect's: 500.
    UnknownVerb,
    /// A known verb with a bad parameter or a bad line ending: 501.
    BadSyntax,
}

/// Parses one command line of the COMP 431 dialect, its line ending included, as received.
pub fn parse_command(line: &[u8]) -> Result<Command, CommandError> {
    parse_command_in(line, Dialect::Comp431)
}

/// The verb token of a line: the bytes from its start up to the first space, CR, LF or end.
fn verb_token(line: &[u8]) -> &[u8] {
    &line[..line.iter().position(|&b| matches!(b, b' ' | b'\r' | b'\n')).unwrap_or(line.len())]
}

/// The verb a line names in `dialect`, whether or not the rest of the line is valid.
pub fn verb_of(line: &[u8], dialect: Dialect) -> Option<Verb> {
    Verb::from_token(verb_token(line), dialect)
}

/// Parses one command line, its line ending included, as received, in `dialect`.
pub fn parse_command_in(line: &[u8], dialect: Dialect) -> Result<Command, CommandError> {
    let token_len = verb_token(line).len();
    let verb = Verb::from_token(&line[..token_len], dialect).ok_or(CommandError::UnknownVerb)?;
    let rest = strip_line_ending(&line[token_len..], dialect).ok_or(CommandError::BadSyntax)?;
    if rest.contains(&b'\r') {
        return Err(CommandError::BadSyntax);
    }
    let argument = match verb.argument() {
        Argument::Nothing | Argument::OptionalText if rest.is_empty() => None,
        Argument::Nothing => return Err(CommandError::BadSyntax),
        _ => Some(after_spaces(rest).ok_or(CommandError::BadSyntax)?),
    };
    let text = || match argument {
        Some(text) if dialect == Dialect::Extended || text.is_ascii() => Ok(text.to_vec()),
        _ => Err(CommandError::BadSyntax),
    };
    let optional_text = || argument.map(|_| text()).transpose();
    let bad = CommandError::BadSyntax;
    Ok(match verb {
        Verb::User => Command::User(text()?),
        Verb::Pass => Command::Pass(text()?),
        Verb::Retr => Command::Retr(text()?),
        Verb::Type => Command::Type(parse_type_code(argument.ok_or(bad)?, dialect).ok_or(bad)?),
        Verb::Port => Command::Port(parse_port_argument(argument.ok_or(bad)?).ok_or(bad)?),
        Verb::Syst => Command::Syst,
        Verb::Noop => Command::Noop,
        Verb::Quit => Command::Quit,
        Verb::Eprt => Command::Eprt(parse_eprt_argument(argument.ok_or(bad)?).ok_or(bad)?),
        Verb::Pasv => Command::Pasv,
        Verb::Epsv => Command::Epsv(optional_text()?),
        Verb::Pwd => Command::Pwd,
        Verb::Cwd => Command::Cwd(text()?),
        Verb::Cdup => Command::Cdup,
        Verb::List => Command::List(optional_text()?),
        Verb::Nlst => Command::Nlst(optional_text()?),
        Verb::Mlsd => Command::Mlsd(optional_text()?),
        Verb::Mlst => Command::Mlst(optional_text()?),
        Verb::Size => Command::Size(text()?),
        Verb::Mdtm => Command::Mdtm(text()?),
        Verb::Rest => Command::Rest(parse_decimal(argument.ok_or(bad)?).ok_or(bad)?),
        Verb::Feat => Command::Feat,
        Verb::Opts => Command::Opts(text()?),
        Verb::Help => Command::Help(optional_text()?),
        Verb::Stat => Command::Stat(optional_text()?),
        Verb::Abor => Command::Abor,
        Verb::Mode => Command::Mode(text()?),
        Verb::Stru => Command::Stru(text()?),
        Verb::Allo => Command::Allo(text()?),
        Verb::Stor => Command::Stor(text()?),
        Verb::Appe => Command::Appe(text()?),
        Verb::Dele => Command::Dele(text()?),
        Verb::Mkd => Command::Mkd(text()?),
        Verb::Rmd => Command::Rmd(text()?),
        Verb::Rnfr => Command::Rnfr(text()?),
        Verb::Rnto => Command::Rnto(text()?),
        Verb::Mfmt => Command::Mfmt(text()?),
        Verb::Auth => Command::Auth(text()?),
        Verb::Pbsz => Command::Pbsz(text()?),
        Verb::Prot => Command::Prot(text()?),
        Verb::Ccc => Command::Ccc,
    })
}

/// The line without its ending: CR LF in COMP 431; CR LF or a bare LF in the extended dialect.
fn strip_line_ending(rest: &[u8], dialect: Dialect) -> Option<&[u8]> {
    match dialect {
        Dialect::Comp431 => rest.strip_suffix(b"\r\n"),
        Dialect::Extended => rest.strip_suffix(b"\n").map(|r| r.strip_suffix(b"\r").unwrap_or(r)),
    }
}

/// `A` or `I` (exactly, in COMP 431); the extended dialect also takes `A N`, `L 8`, `L8`
/// and lowercase, since real clients send them.
fn parse_type_code(code: &[u8], dialect: Dialect) -> Option<TransferType> {
    match (dialect, code) {
        (_, b"A") => Some(TransferType::Ascii),
        (_, b"I") => Some(TransferType::Image),
        (Dialect::Comp431, _) => None,
        (Dialect::Extended, code) => match code.to_ascii_uppercase().as_slice() {
            b"A" | b"A N" => Some(TransferType::Ascii),
            b"I" | b"L 8" | b"L8" => Some(TransferType::Image),
            _ => None,
        },
    }
}

/// Decimal digits that fit a u64.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// `<SP>+<x>`: what follows one or more spaces, if at least one space and then something follow.
fn after_spaces(rest: &[u8]) -> Option<&[u8]> {
    let spaces = rest.iter().take_while(|&&b| b == b' ').count();
    (spaces > 0 && spaces < rest.len()).then(|| &rest[spaces..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn parse(line: &str) -> Result<Command, CommandError> {
        parse_command(line.as_bytes())
    }

    const UNKNOWN: Result<Command, CommandError> = Err(CommandError::UnknownVerb);
    const SYNTAX: Result<Command, CommandError> = Err(CommandError::BadSyntax);

    #[test]
    fn verbs_are_case_insensitive() {
        assert_eq!(parse("uSeR anonymous\r\n"), Ok(Command::User(b"anonymous".to_vec())));
        assert_eq!(parse("syST\r\n"), Ok(Command::Syst));
    }

    #[test]
    fn arguments_keep_their_case() {
        assert_eq!(parse("PASS GuEsT@\r\n"), Ok(Command::Pass(b"GuEsT@".to_vec())));
    }

    #[test]
    fn several_spaces_may_separate_verb_and_argument() {
        assert_eq!(parse("USER   bob\r\n"), Ok(Command::User(b"bob".to_vec())));
        assert_eq!(parse("TYPE  I\r\n"), Ok(Command::Type(TransferType::Image)));
    }

    #[test]
    fn string_arguments_keep_inner_and_trailing_spaces() {
        assert_eq!(parse("USER a b \r\n"), Ok(Command::User(b"a b ".to_vec())));
    }

    #[test]
    fn an_unknown_verb_is_500() {
        assert_eq!(parse("USERCS anonymous\r\n"), UNKNOWN);
        assert_eq!(parse("LIST\r\n"), UNKNOWN);
        assert_eq!(parse("PASV\r\n"), UNKNOWN);
    }

    #[test]
    fn leading_whitespace_makes_the_verb_unknown() {
        assert_eq!(parse(" USER a\r\n"), UNKNOWN);
    }

    #[test]
    fn an_empty_line_is_500() {
        assert_eq!(parse("\r\n"), UNKNOWN);
        assert_eq!(parse("\n"), UNKNOWN);
        assert_eq!(parse(""), UNKNOWN);
    }

    #[test]
    fn a_tab_after_the_verb_makes_it_unknown() {
        // The verb token ends only at a space, CR or LF, so "USER\tbob" is one unknown token.
        assert_eq!(parse("USER\tbob\r\n"), UNKNOWN);
    }

    #[test]
    fn a_known_verb_ending_in_bare_lf_is_501() {
        assert_eq!(parse("UsEr anonymous\n"), SYNTAX);
        assert_eq!(parse("QUIT\n"), SYNTAX);
    }

    #[test]
    fn a_known_verb_without_line_ending_is_501() {
        assert_eq!(parse("NOOP"), SYNTAX);
        assert_eq!(parse("USER bob"), SYNTAX);
    }

    #[test]
    fn a_cr_inside_the_line_is_501() {
        assert_eq!(parse("USER a\rb\r\n"), SYNTAX);
        assert_eq!(parse("NOOP\r\r\n"), SYNTAX);
    }

    #[test]
    fn a_missing_or_blank_string_argument_is_501() {
        assert_eq!(parse("USER\r\n"), SYNTAX);
        assert_eq!(parse("USER \r\n"), SYNTAX);
        assert_eq!(parse("PASS   \r\n"), SYNTAX);
        assert_eq!(parse("RETR \r\n"), SYNTAX);
    }

    #[test]
    fn bytes_above_0x7f_in_an_argument_are_501() {
        assert_eq!(parse_command(b"USER caf\xe9\r\n"), SYNTAX);
        assert_eq!(parse_command(b"RETR \xff\r\n"), SYNTAX);
    }

    #[test]
    fn nul_and_control_bytes_are_valid_string_bytes() {
        assert_eq!(parse_command(b"RETR a\x00b\r\n"), Ok(Command::Retr(b"a\x00b".to_vec())));
    }

    #[test]
    fn type_takes_exactly_uppercase_a_or_i() {
        assert_eq!(parse("TYPE A\r\n"), Ok(Command::Type(TransferType::Ascii)));
        assert_eq!(parse("type I\r\n"), Ok(Command::Type(TransferType::Image)));
        for bad in ["TYPE a\r\n", "TYPE AI\r\n", "TYPE A \r\n", "TYPE B\r\n", "TYPE\r\n", "TYPE \r\n"] {
            assert_eq!(parse(bad), SYNTAX, "{bad:?}");
        }
    }

    #[test]
    fn parameterless_verbs_take_nothing_not_even_a_space() {
        for bad in ["SYST \r\n", "NOOP \r\n", "QUIT x\r\n", "noop hello world\r\n"] {
            assert_eq!(parse(bad), SYNTAX, "{bad:?}");
        }
    }

    #[test]
    fn port_parses_six_numbers() {
        let want = SocketAddrV4::new(Ipv4Addr::new(1, 2, 3, 4), 1286);
        assert_eq!(parse("PORT 1,2,3,4,5,6\r\n"), Ok(Command::Port(want)));
    }

    #[test]
    fn port_with_wrong_count_range_or_spaces_is_501() {
        for bad in [
            "PORT 1,2,3,4,5\r\n",
            "PORT 1,2,3,4,5,6,7\r\n",
            "PORT 1,2,3,4,5,256\r\n",
            "PORT 1, 2, 3, 4, 5, 6\r\n",
            "PORT 1,2,3,4,5,6 \r\n",
            "PORT\r\n",
        ] {
            assert_eq!(parse(bad), SYNTAX, "{bad:?}");
        }
    }

    fn extended(line: &str) -> Result<Command, CommandError> {
        parse_command_in(line.as_bytes(), Dialect::Extended)
    }

    #[test]
    fn the_default_dialect_answers_500_to_every_extended_verb() {
        for (name, _) in EXTENDED_VERBS {
            for line in [format!("{name}\r\n"), format!("{name} x\r\n")] {
                assert_eq!(parse(&line), UNKNOWN, "{line:?}");
            }
        }
    }

    #[test]
    fn the_extended_dialect_knows_every_extended_verb() {
        for (name, _) in EXTENDED_VERBS {
            let known = [format!("{name}\r\n"), format!("{name} |1|127.0.0.1|5000|\r\n"), format!("{name} 5\r\n")]
                .iter()
                .any(|line| extended(line) != UNKNOWN);
            assert!(known, "{name}");
        }
    }

    #[test]
    fn extended_lines_may_end_in_bare_lf() {
        assert_eq!(extended("PWD\n"), Ok(Command::Pwd));
        assert_eq!(extended("CWD a b\n"), Ok(Command::Cwd(b"a b".to_vec())));
    }

    #[test]
    fn extended_arguments_may_be_utf8() {
        assert_eq!(parse_command_in("RETR café\r\n".as_bytes(), Dialect::Extended), Ok(Command::Retr("café".into())));
    }

    #[test]
    fn extended_type_takes_what_real_clients_send() {
        for (line, want) in [
            ("TYPE A N\r\n", TransferType::Ascii),
            ("TYPE L 8\r\n", TransferType::Image),
            ("type i\r\n", TransferType::Image),
        ] {
            assert_eq!(extended(line), Ok(Command::Type(want)), "{line:?}");
        }
        assert_eq!(extended("TYPE E\r\n"), SYNTAX);
    }

    #[test]
    fn list_takes_an_optional_argument() {
        assert_eq!(extended("LIST\r\n"), Ok(Command::List(None)));
        assert_eq!(extended("LIST -la\r\n"), Ok(Command::List(Some(b"-la".to_vec()))));
    }

    #[test]
    fn rest_takes_a_decimal_offset() {
        assert_eq!(extended("REST 100\r\n"), Ok(Command::Rest(100)));
        assert_eq!(extended("REST -1\r\n"), SYNTAX);
        assert_eq!(extended("REST\r\n"), SYNTAX);
    }

    #[test]
    fn eprt_takes_an_rfc_2428_address() {
        assert_eq!(extended("EPRT |2|::1|4000|\r\n"), Ok(Command::Eprt("[::1]:4000".parse().unwrap())));
        assert_eq!(extended("EPRT |1|::1|4000|\r\n"), SYNTAX);
    }
}
