//! What a starting socket server says on standard error after `serving DIR on ADDR`: the
//! dialect, whether it is writable, who may log in, a URL to paste, and a warning when it
//! is open to anyone for writing. Pure functions of the configuration, so each is testable.

use std::net::{IpAddr, SocketAddr};

use super::ServerConfig;
use crate::protocol::command::Dialect;

/// The startup lines for a server listening on `local` (and for implicit TLS on
/// `implicit_local`, beside it); `interface_ip` is an address of this machine to show in
/// the URLs when it listens on every address.
pub fn startup_lines(
    config: &ServerConfig,
    local: SocketAddr,
    implicit_local: Option<SocketAddr>,
    interface_ip: Option<IpAddr>,
) -> Vec<String> {
    let policy = &config.policy;
    let mut lines = Vec::new();
    match policy.dialect {
        Dialect::Comp431 => lines.push(
            "dialect: COMP 431 (the course's eight commands); real FTP clients such as curl, lftp or \
             FileZilla need --extended"
                .to_string(),
        ),
        Dialect::Extended => {
            let access = if policy.writable { "writable (uploads and changes allowed)" } else { "read-only" };
            let login = match &policy.credentials {
                Some(credentials) => format!("login required for {}", String::from_utf8_lossy(&credentials.user)),
                None => "anonymous (any name, any password)".to_string(),
            };
            lines.push(format!("dialect: extended, {access}, {login}"));
        }
    }
    let shown = |address: SocketAddr| {
        let ip = match address.ip() {
            ip if ip.is_unspecified() => interface_ip.unwrap_or(if ip.is_ipv4() {
                IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
            } else {
                IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
            }),
            ip => ip,
        };
        SocketAddr::new(ip, address.port())
    };
    let scheme = if config.operation.implicit_tls { "ftps" } else { "ftp" };
    lines.push(format!("url: {scheme}://{}/", shown(local)));
    if let Some(implicit) = implicit_local {
        lines.push(format!("url: ftps://{}/", shown(implicit)));
    }
    if let Some(tls) = &config.operation.tls {
        let mode = match (config.operation.implicit_tls, policy.tls) {
            (true, _) => "implicit (TLS from the first byte)",
            (false, crate::server::session::TlsPolicy::Optional) => "optional (AUTH TLS; clear text allowed)",
            (false, _) => "required (AUTH TLS before login, PROT P for data)",
        };
        let also = match implicit_local {
            Some(implicit) => format!(" on port {}, implicit on port {}", local.port(), implicit.port()),
            None => String::new(),
        };
        lines.push(format!("tls: {mode}{also}; certificate {}", tls.origin));
        lines.push(format!("tls: certificate SHA-256 fingerprint {}", tls.fingerprint));
        lines.extend(tls.warnings.iter().map(|warning| format!("tls: warning: {warning}")));
    }
    lines.extend(config.operation.warnings.iter().cloned());
    if policy.writable && policy.credentials.is_none() && !local.ip().is_loopback() {
        lines.push(format!(
            "warning: anyone who can reach {local} may upload, change and delete files here (anonymous and \
             writable); add --user, or --bind 127.0.0.1"
        ));
    }
    lines
}

/// This machine's host name, if it has one (for a self-signed certificate's names).
pub fn host_name() -> Option<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `buffer.len()` bytes into the buffer.
    if unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) } != 0 {
        return None;
    }
    let end = buffer.iter().position(|&b| b == 0)?;
    let name = std::str::from_utf8(&buffer[..end]).ok()?.to_string();
    (!name.is_empty()).then_some(name)
}

/// The first IPv4 address of an interface that is up and not loopback, if any (read from
/// the interface list; nothing is sent).
pub fn interface_ipv4() -> Option<IpAddr> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list that freeifaddrs releases below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return None;
    }
    let mut found = None;
    let mut entry = list;
    while !entry.is_null() && found.is_none() {
        // SAFETY: `entry` is a node of the list getifaddrs returned, valid until freeifaddrs.
        let node = unsafe { &*entry };
        let up = node.ifa_flags & libc::IFF_UP as libc::c_uint != 0;
        let loopback = node.ifa_flags & libc::IFF_LOOPBACK as libc::c_uint != 0;
        // SAFETY: a non-null ifa_addr points to a sockaddr whose family says its layout.
        if up && !loopback && !node.ifa_addr.is_null() && unsafe { (*node.ifa_addr).sa_family } as i32 == libc::AF_INET
        {
            // SAFETY: an AF_INET address is a sockaddr_in.
            let address = unsafe { &*(node.ifa_addr as *const libc::sockaddr_in) };
            found = Some(IpAddr::V4(std::net::Ipv4Addr::from(u32::from_be(address.sin_addr.s_addr))));
        }
        entry = node.ifa_next;
    }
    // SAFETY: the list came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::session::{Credentials, Policy};
    use crate::server::{Limits, Operation};

    fn config(dialect: Dialect, writable: bool, user: Option<&str>) -> ServerConfig {
        let dir = std::env::temp_dir();
        ServerConfig {
            root: crate::server::sandbox::Root::new(&dir).unwrap(),
            limits: Limits::default(),
            policy: Policy {
                dialect,
                writable,
                credentials: user.map(|u| Credentials { user: u.into(), password: b"pw".to_vec() }),
                tls: crate::server::session::TlsPolicy::Off,
            },
            passive_ports: None,
            operation: Operation::default(),
        }
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_default_dialect_points_real_clients_to_extended() {
        let lines = startup_lines(&config(Dialect::Comp431, false, None), addr("127.0.0.1:2121"), None, None);
        assert!(lines[0].contains("COMP 431") && lines[0].contains("--extended"), "{lines:?}");
        assert_eq!(lines[1], "url: ftp://127.0.0.1:2121/");
    }

    #[test]
    fn the_extended_dialect_says_access_and_login() {
        let lines = startup_lines(&config(Dialect::Extended, true, Some("alice")), addr("127.0.0.1:21"), None, None);
        assert_eq!(lines[0], "dialect: extended, writable (uploads and changes allowed), login required for alice");
        let lines = startup_lines(&config(Dialect::Extended, false, None), addr("127.0.0.1:21"), None, None);
        assert_eq!(lines[0], "dialect: extended, read-only, anonymous (any name, any password)");
    }

    #[test]
    fn an_unspecified_bind_shows_an_address_of_this_machine_in_the_url() {
        let ip: IpAddr = "192.0.2.10".parse().unwrap();
        let lines = startup_lines(&config(Dialect::Extended, false, None), addr("0.0.0.0:2121"), None, Some(ip));
        assert_eq!(lines[1], "url: ftp://192.0.2.10:2121/");
        let lines = startup_lines(&config(Dialect::Extended, false, None), addr("[::]:2121"), None, None);
        assert_eq!(lines[1], "url: ftp://[::1]:2121/");
    }

    #[test]
    fn a_second_port_for_implicit_tls_gets_a_url_of_its_own() {
        let ip: IpAddr = "192.0.2.10".parse().unwrap();
        let config = config(Dialect::Extended, false, None);
        let lines = startup_lines(&config, addr("0.0.0.0:2121"), Some(addr("0.0.0.0:990")), Some(ip));
        assert_eq!(lines[1..3], ["url: ftp://192.0.2.10:2121/", "url: ftps://192.0.2.10:990/"]);
    }

    #[test]
    fn anonymous_writable_beyond_loopback_is_warned_about() {
        let open = startup_lines(&config(Dialect::Extended, true, None), addr("0.0.0.0:2121"), None, None);
        assert!(open.last().unwrap().starts_with("warning: anyone who can reach 0.0.0.0:2121"), "{open:?}");
        let local = startup_lines(&config(Dialect::Extended, true, None), addr("127.0.0.1:2121"), None, None);
        assert!(!local.iter().any(|l| l.starts_with("warning")), "{local:?}");
        let protected = startup_lines(&config(Dialect::Extended, true, Some("a")), addr("0.0.0.0:2121"), None, None);
        assert!(!protected.iter().any(|l| l.starts_with("warning")), "{protected:?}");
    }
}
