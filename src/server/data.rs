//! The server's data connections: where it may connect (bounce protection), connecting
//! actively, and listening passively.

use std::io::{self, Read};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

/// Why the server refuses to connect to a PORT address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Ports below 1024 belong to system services (SPEC §3.4).
    PrivilegedPort,
    /// The address is neither the client's nor (for a loopback client) this machine's.
    ForeignAddress,
}

/// The bounce rule of SPEC §3.4, as a pure function: connect only to the control
/// connection's peer address, or, when that peer is on loopback, to an address of this
/// machine; never to a port below 1024.
pub fn check_data_target(
    control_peer: IpAddr,
    target: SocketAddr,
    is_own_address: impl Fn(IpAddr) -> bool,
) -> Result<(), Refusal> {
    if target.port() < 1024 {
        return Err(Refusal::PrivilegedPort);
    }
    let peer = control_peer.to_canonical();
    let target_ip = target.ip().to_canonical();
    if target_ip == peer || (peer.is_loopback() && is_own_address(target_ip)) {
        Ok(())
    } else {
        Err(Refusal::ForeignAddress)
    }
}

/// True when `ip` is an address of this machine. Binding a UDP socket to it succeeds only
/// for a local address, and sends nothing.
pub fn is_own_address(ip: IpAddr) -> bool {
    if ip.is_loopback() {
        return true;
    }
    let special = match ip {
        IpAddr::V4(v4) => v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast(),
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
    };
    !special && UdpSocket::bind((ip, 0)).is_ok()
}

/// Connects to the client's data port, giving up after `timeout`.
pub fn connect_active(target: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    TcpStream::connect_timeout(&target, timeout)
}

/// Ends a data connection whose last byte was sent: half-closes it, so the client reads end
/// of file, then waits until the client closes its end, at most `limit` (SPEC §3.4). Bytes
/// the client sends meanwhile are discarded.
pub fn close_after_peer(stream: &TcpStream, limit: Duration) {
    let mut stream = stream;
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + limit;
    let mut discard = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut discard) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
    }
}

/// Opens a passive-mode listener on the control connection's local address, in `ports` when
/// given (trying each port of the range from a varying start), else on any free port.
pub fn open_passive_listener(local_ip: IpAddr, ports: Option<&RangeInclusive<u16>>) -> io::Result<TcpListener> {
    let Some(ports) = ports else {
        return TcpListener::bind((local_ip, 0));
    };
    let count = u32::from(*ports.end() - *ports.start()) + 1;
    // Spread sessions over the range instead of all racing for its first port.
    let clock = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let start = std::process::id().wrapping_add(clock);
    let mut last_error = io::Error::new(io::ErrorKind::AddrInUse, "no free port in the passive range");
    for i in 0..count {
        let port = *ports.start() + ((start.wrapping_add(i)) % count) as u16;
        match TcpListener::bind((local_ip, port)) {
            Ok(listener) => return Ok(listener),
            Err(err) => last_error = err,
        }
    }
    Err(last_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// This test machine "owns" 127.0.0.1 and 10.0.0.5 only.
    fn own(ip: IpAddr) -> bool {
        ip.is_loopback() || ip == "10.0.0.5".parse::<IpAddr>().unwrap()
    }

    #[test]
    fn the_client_own_address_is_allowed() {
        assert_eq!(check_data_target(ip("152.19.160.146"), addr("152.19.160.146:10000"), own), Ok(()));
    }

    #[test]
    fn a_third_party_address_is_refused() {
        let got = check_data_target(ip("152.19.160.146"), addr("198.51.100.7:10000"), own);
        assert_eq!(got, Err(Refusal::ForeignAddress));
    }

    #[test]
    fn a_remote_client_may_not_point_at_this_machine() {
        let got = check_data_target(ip("152.19.160.146"), addr("127.0.0.1:10000"), own);
        assert_eq!(got, Err(Refusal::ForeignAddress));
    }

    #[test]
    fn a_loopback_client_may_use_any_address_of_this_machine() {
        assert_eq!(check_data_target(ip("127.0.0.1"), addr("10.0.0.5:10000"), own), Ok(()));
        assert_eq!(check_data_target(ip("::1"), addr("127.0.0.1:10000"), own), Ok(()));
    }

    #[test]
    fn a_loopback_client_may_not_point_elsewhere() {
        let got = check_data_target(ip("127.0.0.1"), addr("203.0.113.9:10000"), own);
        assert_eq!(got, Err(Refusal::ForeignAddress));
    }

    #[test]
    fn ports_below_1024_are_refused_even_for_the_client() {
        assert_eq!(check_data_target(ip("127.0.0.1"), addr("127.0.0.1:1023"), own), Err(Refusal::PrivilegedPort));
        assert_eq!(check_data_target(ip("127.0.0.1"), addr("127.0.0.1:0"), own), Err(Refusal::PrivilegedPort));
        assert_eq!(check_data_target(ip("127.0.0.1"), addr("127.0.0.1:1024"), own), Ok(()));
    }

    #[test]
    fn an_ipv4_mapped_peer_counts_as_ipv4() {
        assert_eq!(check_data_target(ip("::ffff:152.19.160.146"), addr("152.19.160.146:2000"), own), Ok(()));
    }

    #[test]
    fn unspecified_and_multicast_are_never_own_addresses() {
        assert!(!is_own_address(ip("0.0.0.0")));
        assert!(!is_own_address(ip("224.0.0.1")));
        assert!(!is_own_address(ip("255.255.255.255")));
        assert!(is_own_address(ip("127.0.0.1")));
    }
}
