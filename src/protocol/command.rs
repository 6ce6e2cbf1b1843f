//! Commands a client sends to the server, and the COMP 431 grammar that parses them (SPEC §3.1).

use std::net::SocketAddrV4;

use super::address::parse_port_argument;
use super::reply::TransferType;

/// The verbs of the COMP 431 dialect.
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
}

/// What follows a verb, before the CR LF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Argument {
    /// Nothing at all, not even a space.
    Nothing,
    /// `<SP>+<string>`: one or more bytes 0x00-0x7F other than CR and LF.
    Text,
    /// `<SP>+("A"|"I")`.
    TypeCode,
    /// `<SP>+` six comma-separated numbers.
    HostPort,
}

impl Verb {
    const ALL: [(&'static str, Verb); 8] = [
        ("USER", Verb::User),
        ("PASS", Verb::Pass),
        ("TYPE", Verb::Type),
        ("SYST", Verb::Syst),
        ("NOOP", Verb::Noop),
        ("QUIT", Verb::Quit),
        ("PORT", Verb::Port),
        ("RETR", Verb::Retr),
    ];

    /// The verb named by `token`, compared without regard to ASCII case.
    pub fn from_token(token: &[u8]) -> Option<Verb> {
        Verb::ALL.iter().find(|(name, _)| token.eq_ignore_ascii_case(name.as_bytes())).map(|&(_, verb)| verb)
    }

    fn argument(self) -> Argument {
        match self {
            Verb::User | Verb::Pass | Verb::Retr => Argument::Text,
            Verb::Type => Argument::TypeCode,
            Verb::Port => Argument::HostPort,
            Verb::Syst | Verb::Noop | Verb::Quit => Argument::Nothing,
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

/// Parses one command line, its line ending included, as received.
pub fn parse_command(line: &[u8]) -> Result<Command, CommandError> {
    let token_len = line.iter().position(|&b| matches!(b, b' ' | b'\r' | b'\n')).unwrap_or(line.len());
    let verb = Verb::from_token(&line[..token_len]).ok_or(CommandError::UnknownVerb)?;
    let rest = line[token_len..].strip_suffix(b"\r\n").ok_or(CommandError::BadSyntax)?;
    if rest.contains(&b'\r') {
        return Err(CommandError::BadSyntax);
    }
    let argument = match verb.argument() {
        Argument::Nothing if rest.is_empty() => &[][..],
        Argument::Nothing => return Err(CommandError::BadSyntax),
        _ => after_spaces(rest).ok_or(CommandError::BadSyntax)?,
    };
    let text = || {
        if argument.is_ascii() { Ok(argument.to_vec()) } else { Err(CommandError::BadSyntax) }
    };
    Ok(match verb {
        Verb::User => Command::User(text()?),
        Verb::Pass => Command::Pass(text()?),
        Verb::Retr => Command::Retr(text()?),
        Verb::Type => Command::Type(match argument {
            b"A" => TransferType::Ascii,
            b"I" => TransferType::Image,
            _ => return Err(CommandError::BadSyntax),
        }),
        Verb::Port => Command::Port(parse_port_argument(argument).ok_or(CommandError::BadSyntax)?),
        Verb::Syst => Command::Syst,
        Verb::Noop => Command::Noop,
        Verb::Quit => Command::Quit,
    })
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
}
