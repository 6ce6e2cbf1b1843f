//! The COMP 431 client's requests read from standard input, and their grammar (SPEC §4.1).

/// A valid request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Connect { host: String, port: u16 },
    Get { path: Vec<u8> },
    Quit,
}

/// Why a line is not a valid request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// The first word is no request, not one expected now, or not in capitals; or the line
    /// is blank.
    Unexpected,
    /// The request word is not where it must be (a space before it, a tab after GET).
    Request,
    ServerHost,
    ServerPort,
    Pathname,
    /// Something follows a complete request, or the line has no line ending.
    LineEnd,
}

impl RequestError {
    /// The line printed for the error (decided in SPEC §4.1).
    pub fn message(self) -> &'static str {
        match self {
            RequestError::Unexpected => "ERROR -- Command Unexpected/Unknown",
            RequestError::Request => "ERROR -- request",
            RequestError::ServerHost => "ERROR -- server-host",
            RequestError::ServerPort => "ERROR -- server-port",
            RequestError::Pathname => "ERROR -- pathname",
            RequestError::LineEnd => "ERROR -- <CRLF>",
        }
    }
}

/// Parses one input line (line ending included). `connected` decides which requests are
/// expected: only CONNECT before a connection, CONNECT, GET and QUIT after.
///
/// (decided, revised: SPEC §4.1, after the course's `FTP_Client.py`) The first word (after
/// leading whitespace) must be one of the expected requests written in capitals, else the
/// line is `Command Unexpected/Unknown`, as is a blank line; then the request is parsed
/// exactly.
pub fn parse_request(line: &[u8], connected: bool) -> Result<Request, RequestError> {
    let first_word = line.split(|b| b.is_ascii_whitespace()).find(|word| !word.is_empty());
    let Some(first_word) = first_word else {
        return Err(RequestError::Unexpected);
    };
    let expected: &[&str] = if connected { &["CONNECT", "GET", "QUIT"] } else { &["CONNECT"] };
    let Some(&verb) = expected.iter().find(|verb| first_word == verb.as_bytes()) else {
        return Err(RequestError::Unexpected);
    };
    let (content, has_line_end) = match line.strip_suffix(b"\n") {
        Some(content) => (content.strip_suffix(b"\r").unwrap_or(content), true),
        None => (line, false),
    };
    let rest = content.strip_prefix(verb.as_bytes()).ok_or(RequestError::Request)?;
    let request = match verb {
        "CONNECT" => parse_connect(rest)?,
        "GET" => parse_get(rest)?,
        _ if rest.is_empty() => Request::Quit,
        _ => return Err(RequestError::LineEnd),
    };
    if has_line_end { Ok(request) } else { Err(RequestError::LineEnd) }
}

/// `<SP>+<server-host><SP>+<server-port>` after the word CONNECT. As in the course's
/// parser, anything but a space after CONNECT, and a host with nothing after it, are host
/// errors; a host, spaces and then nothing is a port error.
fn parse_connect(rest: &[u8]) -> Result<Request, RequestError> {
    let rest = after_separator(rest, RequestError::ServerHost).map_err(|_| RequestError::ServerHost)?;
    let (host, rest) = split_token(rest);
    if !is_valid_host(host) || rest.is_empty() {
        return Err(RequestError::ServerHost);
    }
    let rest = after_separator(rest, RequestError::ServerPort)?;
    let (port, rest) = split_token(rest);
    let port = parse_server_port(port).ok_or(RequestError::ServerPort)?;
    if !rest.is_empty() {
        return Err(RequestError::LineEnd);
    }
    let host = String::from_utf8(host.to_vec()).expect("a valid host is ASCII");
    Ok(Request::Connect { host, port })
}

/// `<SP>+<pathname>` after the word GET; the path is the rest of the line. A bare `GET` is a
/// line-ending error, as the course's parser reports it.
fn parse_get(rest: &[u8]) -> Result<Request, RequestError> {
    if rest.is_empty() {
        return Err(RequestError::LineEnd);
    }
    let path = after_separator(rest, RequestError::Pathname)?;
    if path.is_empty() || !path.is_ascii() || path.contains(&b'\r') {
        return Err(RequestError::Pathname);
    }
    Ok(Request::Get { path: path.to_vec() })
}

/// Skips `<SP>+`. Nothing left means the next token is missing (`missing`); another byte
/// right after the request word means the word itself was wrong.
fn after_separator(rest: &[u8], missing: RequestError) -> Result<&[u8], RequestError> {
    match rest.first() {
        None => Err(missing),
        Some(b' ') => {
            let trimmed = &rest[rest.iter().take_while(|&&b| b == b' ').count()..];
            if trimmed.is_empty() { Err(missing) } else { Ok(trimmed) }
        }
        // Only possible right after the request word, as in `GET\tfile`.
        Some(_) => Err(RequestError::Request),
    }
}

/// The bytes up to the next space, and what follows.
fn split_token(bytes: &[u8]) -> (&[u8], &[u8]) {
    let end = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
    bytes.split_at(end)
}

/// `<server-host>`: elements separated by "."; each a letter followed by letters, digits or "-".
pub fn is_valid_host(host: &[u8]) -> bool {
    !host.is_empty()
        && host.split(|&b| b == b'.').all(|element| {
            element.first().is_some_and(u8::is_ascii_alphabetic)
                && element.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// `<server-port>`: decimal 0-65535 without a leading zero ("0" alone is fine).
fn parse_server_port(token: &[u8]) -> Option<u16> {
    if token.is_empty() || token.len() > 5 || !token.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if token.len() > 1 && token[0] == b'0' {
        return None;
    }
    std::str::from_utf8(token).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connected(line: &str) -> Result<Request, RequestError> {
        parse_request(line.as_bytes(), true)
    }

    fn connect(host: &str, port: u16) -> Result<Request, RequestError> {
        Ok(Request::Connect { host: host.into(), port })
    }

    #[test]
    fn connect_with_a_dotted_host_name() {
        assert_eq!(
            parse_request(b"CONNECT comp431-1sp21b.cs.unc.edu 11000\n", false),
            connect("comp431-1sp21b.cs.unc.edu", 11000)
        );
    }

    #[test]
    fn crlf_and_lf_both_end_a_request() {
        assert_eq!(connected("CONNECT localhost 21\r\n"), connect("localhost", 21));
        assert_eq!(connected("QUIT\r\n"), Ok(Request::Quit));
        assert_eq!(connected("QUIT\n"), Ok(Request::Quit));
    }

    #[test]
    fn several_spaces_separate_tokens() {
        assert_eq!(connected("CONNECT   localhost   21\n"), connect("localhost", 21));
        assert_eq!(connected("GET   a.txt\n"), Ok(Request::Get { path: b"a.txt".to_vec() }));
    }

    #[test]
    fn host_elements_may_hold_digits_and_hyphens() {
        assert_eq!(connected("CONNECT a1-b.c-2 21\n"), connect("a1-b.c-2", 21));
    }

    #[test]
    fn host_element_starting_with_a_digit_is_a_host_error() {
        assert_eq!(connected("CONNECT 127.0.0.1 21\n"), Err(RequestError::ServerHost));
        assert_eq!(connected("CONNECT a.1b 21\n"), Err(RequestError::ServerHost));
    }

    #[test]
    fn empty_elements_and_trailing_dots_are_host_errors() {
        assert_eq!(connected("CONNECT a..b 21\n"), Err(RequestError::ServerHost));
        assert_eq!(connected("CONNECT a.b. 21\n"), Err(RequestError::ServerHost));
        assert_eq!(connected("CONNECT .a 21\n"), Err(RequestError::ServerHost));
    }

    #[test]
    fn host_with_other_characters_is_a_host_error() {
        assert_eq!(connected("CONNECT a_b 21\n"), Err(RequestError::ServerHost));
        assert_eq!(connected("CONNECT a\tb 21\n"), Err(RequestError::ServerHost));
    }

    #[test]
    fn missing_host_is_a_host_error() {
        assert_eq!(connected("CONNECT\n"), Err(RequestError::ServerHost));
        assert_eq!(connected("CONNECT \n"), Err(RequestError::ServerHost));
    }

    #[test]
    fn a_host_with_nothing_after_it_is_a_host_error() {
        // Changed with SPEC §4.1 (revised): the course's parser reports `CONNECT localhost`
        // as a host error (the host element does not end in a space); this was a port error.
        assert_eq!(connected("CONNECT localhost\n"), Err(RequestError::ServerHost));
        assert_eq!(connected("CONNECT localhost\r\n"), Err(RequestError::ServerHost));
        assert_eq!(connected("CONNECT localhost"), Err(RequestError::ServerHost));
    }

    #[test]
    fn a_host_then_spaces_and_no_port_is_a_port_error() {
        assert_eq!(connected("CONNECT localhost \n"), Err(RequestError::ServerPort));
        assert_eq!(connected("CONNECT localhost   \r\n"), Err(RequestError::ServerPort));
    }

    #[test]
    fn anything_but_a_space_after_connect_is_a_host_error() {
        // Changed with SPEC §4.1 (revised): `CONNECT<TAB>host port` was a request error.
        assert_eq!(connected("CONNECT\tlocalhost 21\n"), Err(RequestError::ServerHost));
    }

    #[test]
    fn port_range_is_0_to_65535() {
        assert_eq!(connected("CONNECT h 65535\n"), connect("h", 65535));
        assert_eq!(connected("CONNECT h 0\n"), connect("h", 0));
        assert_eq!(connected("CONNECT h 65536\n"), Err(RequestError::ServerPort));
        assert_eq!(connected("CONNECT h 999999\n"), Err(RequestError::ServerPort));
    }

    #[test]
    fn port_with_a_leading_zero_is_a_port_error() {
        assert_eq!(connected("CONNECT h 021\n"), Err(RequestError::ServerPort));
        assert_eq!(connected("CONNECT h 00\n"), Err(RequestError::ServerPort));
    }

    #[test]
    fn port_with_non_digits_is_a_port_error() {
        assert_eq!(connected("CONNECT h 2x1\n"), Err(RequestError::ServerPort));
        assert_eq!(connected("CONNECT h -1\n"), Err(RequestError::ServerPort));
    }

    #[test]
    fn trailing_junk_after_connect_is_a_crlf_error() {
        assert_eq!(connected("CONNECT h 21 x\n"), Err(RequestError::LineEnd));
        assert_eq!(connected("CONNECT h 21 \n"), Err(RequestError::LineEnd));
    }

    #[test]
    fn trailing_junk_after_quit_is_a_crlf_error() {
        assert_eq!(connected("QUIT x\n"), Err(RequestError::LineEnd));
        assert_eq!(connected("QUIT \n"), Err(RequestError::LineEnd));
    }

    #[test]
    fn get_path_keeps_spaces_including_trailing_ones() {
        assert_eq!(connected("GET my file \n"), Ok(Request::Get { path: b"my file ".to_vec() }));
    }

    #[test]
    fn a_bare_get_is_a_crlf_error() {
        // Changed with SPEC §4.1 (revised): the course's parser says `ERROR -- <CRLF>` for a
        // GET with nothing after it; this was a pathname error.
        assert_eq!(connected("GET\n"), Err(RequestError::LineEnd));
        assert_eq!(connected("GET\r\n"), Err(RequestError::LineEnd));
        assert_eq!(connected("GET"), Err(RequestError::LineEnd));
    }

    #[test]
    fn get_with_spaces_only_is_a_pathname_error() {
        assert_eq!(connected("GET \n"), Err(RequestError::Pathname));
        assert_eq!(connected("GET    \r\n"), Err(RequestError::Pathname));
    }

    #[test]
    fn get_with_a_non_ascii_path_is_a_pathname_error() {
        assert_eq!(parse_request(b"GET caf\xc3\xa9\n", true), Err(RequestError::Pathname));
    }

    #[test]
    fn get_with_a_cr_inside_the_path_is_a_pathname_error() {
        assert_eq!(connected("GET a\rb\n"), Err(RequestError::Pathname));
    }

    #[test]
    fn a_verb_in_the_wrong_case_is_unexpected() {
        // Changed with SPEC §4.1 (revised): the course's client prints
        // `ERROR -- Command Unexpected/Unknown` here; this was `ERROR -- request`.
        assert_eq!(connected("connect h 21\n"), Err(RequestError::Unexpected));
        assert_eq!(connected("Get f\n"), Err(RequestError::Unexpected));
        assert_eq!(connected("quit\n"), Err(RequestError::Unexpected));
        assert_eq!(parse_request(b"Connect h 21\n", false), Err(RequestError::Unexpected));
    }

    #[test]
    fn leading_whitespace_is_a_request_error() {
        assert_eq!(connected(" QUIT\n"), Err(RequestError::Request));
    }

    #[test]
    fn a_tab_after_the_verb_is_a_request_error() {
        assert_eq!(connected("GET\tf\n"), Err(RequestError::Request));
    }

    #[test]
    fn unknown_first_word_is_unexpected() {
        assert_eq!(connected("RETR f\n"), Err(RequestError::Unexpected));
        assert_eq!(connected("CONNECTX h 21\n"), Err(RequestError::Unexpected));
    }

    #[test]
    fn get_and_quit_before_connecting_are_unexpected() {
        assert_eq!(parse_request(b"GET f\n", false), Err(RequestError::Unexpected));
        assert_eq!(parse_request(b"QUIT\n", false), Err(RequestError::Unexpected));
    }

    #[test]
    fn blank_lines_are_unexpected() {
        // Changed with SPEC §4.1 (revised): a blank line printed nothing but its echo.
        assert_eq!(connected("\n"), Err(RequestError::Unexpected));
        assert_eq!(connected("  \t \r\n"), Err(RequestError::Unexpected));
        assert_eq!(parse_request(b"\r\n", false), Err(RequestError::Unexpected));
        assert_eq!(RequestError::Unexpected.message(), "ERROR -- Command Unexpected/Unknown");
    }

    #[test]
    fn a_last_line_without_line_ending_is_a_crlf_error() {
        assert_eq!(connected("QUIT"), Err(RequestError::LineEnd));
        assert_eq!(connected("CONNECT h 21"), Err(RequestError::LineEnd));
    }
}
