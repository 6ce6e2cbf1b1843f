//! Where a one-shot transfer goes: `HOST`, `HOST:PORT`, `[IPv6]:PORT`, or an
//! `ftp://[user[:password]@]host[:port]/path` URL (with percent-encoding); `ftps://` for
//! implicit TLS, `ftpes://` (FileZilla's name) for explicit TLS.

/// The standard FTP control port.
pub const DEFAULT_PORT: u16 = 21;

/// The port of implicit FTP over TLS (`ftps://`).
pub const DEFAULT_IMPLICIT_TLS_PORT: u16 = 990;

/// A parsed address, with what a URL may add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    /// The path a URL named (without its leading `/`), if any.
    pub path: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    /// What the URL's scheme says about TLS.
    pub tls: UrlTls,
}

/// TLS as a URL's scheme asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlTls {
    /// `ftp://`, or no URL: as the command line says (`--tls` or not).
    AsTold,
    /// `ftpes://`: AUTH TLS on the usual port, required, as `--tls`.
    Explicit,
    /// `ftps://`: TLS from the first byte, on port 990 unless told.
    Implicit,
}

/// Parses ADDR (or a URL).
pub fn parse_target(addr: &str) -> Result<Target, String> {
    if let Some((rest, tls)) = strip_scheme(addr) {
        return parse_url(rest, tls);
    }
    if addr.contains('/') {
        return Err(format!("{addr:?} is neither HOST[:PORT] nor an ftp://, ftpes:// or ftps:// URL"));
    }
    let (host, port) = split_host_port(addr, DEFAULT_PORT)?;
    Ok(Target { host, port, path: None, user: None, password: None, tls: UrlTls::AsTold })
}

/// The rest of an `ftp://`, `ftpes://` or `ftps://` URL, and what its scheme says.
fn strip_scheme(addr: &str) -> Option<(&str, UrlTls)> {
    let (scheme, rest) = addr.split_once("://")?;
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "ftp" => UrlTls::AsTold,
        "ftpes" => UrlTls::Explicit,
        "ftps" => UrlTls::Implicit,
        _ => return None,
    };
    Some((rest, tls))
}

fn parse_url(rest: &str, tls: UrlTls) -> Result<Target, String> {
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (credentials, host_port) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (user, password) = match credentials {
        None => (None, None),
        Some(credentials) => match credentials.split_once(':') {
            Some((user, password)) => (Some(percent_decode(user)?), Some(percent_decode(password)?)),
            None => (Some(percent_decode(credentials)?), None),
        },
    };
    let default_port = if tls == UrlTls::Implicit { DEFAULT_IMPLICIT_TLS_PORT } else { DEFAULT_PORT };
    let (host, port) = split_host_port(host_port, default_port)?;
    let path = path.filter(|p| !p.is_empty()).map(percent_decode).transpose()?;
    Ok(Target { host, port, path, user, password, tls })
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`; a bare IPv6 address (several colons) has no port.
fn split_host_port(text: &str, default_port: u16) -> Result<(String, u16), String> {
    let parse_port = |p: &str| p.parse::<u16>().map_err(|_| format!("bad port {p:?} in {text:?}"));
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| format!("missing ] in {text:?}"))?;
        let port = match after {
            "" => default_port,
            _ => parse_port(after.strip_prefix(':').ok_or_else(|| format!("bad text after ] in {text:?}"))?)?,
        };
        return Ok((host.to_string(), port));
    }
    let (host, port) = match text.matches(':').count() {
        0 => (text, default_port),
        1 => {
            let (host, port) = text.split_once(':').expect("one colon");
            (host, parse_port(port)?)
        }
        _ => (text, default_port),
    };
    if host.is_empty() {
        return Err(format!("no host in {text:?}"));
    }
    Ok((host.to_string(), port))
}

/// Decodes `%XX` escapes (URLs put spaces and `@` in paths and passwords this way).
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            let byte =
                hex.and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or_else(|| format!("bad %-escape in {text:?}"))?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let decoded = String::from_utf8(out).map_err(|_| format!("{text:?} does not decode to UTF-8"))?;
    check_sendable(&decoded)?;
    Ok(decoded)
}

/// A name, path, user or password that goes into an FTP command line: CR, LF or NUL in it
/// would end the line early and smuggle in a second command (`a.txt%0D%0ADELE x`), so it is
/// refused before anything is sent, as curl refuses such URLs.
pub fn check_sendable(text: &str) -> Result<(), String> {
    match text.bytes().find(|b| matches!(b, b'\r' | b'\n' | 0)) {
        Some(byte) => Err(format!("{text:?} contains {:?}, which cannot be sent in an FTP command", byte as char)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str, port: u16) -> Target {
        Target { host: host.into(), port, path: None, user: None, password: None, tls: UrlTls::AsTold }
    }

    #[test]
    fn line_breaks_and_nul_in_any_url_part_are_refused() {
        for url in ["ftp://h/a.txt%0D%0ADELE%20important.txt", "ftp://us%0Aer@h/a", "ftp://u:p%0D@h/a", "ftp://h/a%00b"]
        {
            assert!(parse_target(url).is_err(), "{url}");
        }
        assert!(check_sendable("a\nb").is_err());
        assert!(check_sendable("my file.txt").is_ok());
    }

    #[test]
    fn a_host_alone_uses_port_21() {
        assert_eq!(parse_target("example.org"), Ok(target("example.org", 21)));
    }

    #[test]
    fn host_and_port() {
        assert_eq!(parse_target("127.0.0.1:12000"), Ok(target("127.0.0.1", 12000)));
    }

    #[test]
    fn bracketed_ipv6_with_and_without_port() {
        assert_eq!(parse_target("[::1]:2121"), Ok(target("::1", 2121)));
        assert_eq!(parse_target("[::1]"), Ok(target("::1", 21)));
        assert_eq!(parse_target("::1"), Ok(target("::1", 21)));
    }

    #[test]
    fn bad_ports_are_errors() {
        assert!(parse_target("h:99999").is_err());
        assert!(parse_target("h:x").is_err());
        assert!(parse_target(":21").is_err());
    }

    #[test]
    fn a_url_gives_host_port_path_and_login() {
        let got = parse_target("ftp://alice:p%40ss@127.0.0.1:2121/dir/my%20file.txt").unwrap();
        assert_eq!(got.host, "127.0.0.1");
        assert_eq!(got.port, 2121);
        assert_eq!(got.path.as_deref(), Some("dir/my file.txt"));
        assert_eq!(got.user.as_deref(), Some("alice"));
        assert_eq!(got.password.as_deref(), Some("p@ss"));
    }

    #[test]
    fn a_url_without_path_or_login() {
        assert_eq!(parse_target("FTP://[::1]:21"), Ok(target("::1", 21)));
        assert_eq!(parse_target("ftp://h/").unwrap().path, None);
    }

    #[test]
    fn other_schemes_and_stray_slashes_are_errors() {
        assert!(parse_target("http://h/x").is_err());
        assert!(parse_target("h/x").is_err());
        assert!(parse_target("ftp://h/%zz").is_err());
    }

    #[test]
    fn ftps_urls_are_implicit_tls_on_port_990_and_ftpes_urls_explicit_on_21_unless_told() {
        let got = parse_target("ftps://h/a.txt").unwrap();
        assert_eq!((got.port, got.tls, got.path.as_deref()), (990, UrlTls::Implicit, Some("a.txt")));
        let got = parse_target("FTPS://u@[::1]:2990/").unwrap();
        assert_eq!((got.host.as_str(), got.port, got.tls), ("::1", 2990, UrlTls::Implicit));
        let got = parse_target("ftpes://h/a.txt").unwrap();
        assert_eq!((got.port, got.tls, got.path.as_deref()), (21, UrlTls::Explicit, Some("a.txt")));
        assert_eq!(parse_target("FTPES://h:2121").unwrap().tls, UrlTls::Explicit);
        assert_eq!(parse_target("ftp://h/").unwrap().tls, UrlTls::AsTold);
        assert_eq!(parse_target("h:21").unwrap().tls, UrlTls::AsTold);
        assert!(parse_target("ftpx://h/").is_err());
    }
}
