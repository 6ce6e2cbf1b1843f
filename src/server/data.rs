//! The server's data connections: where it may connect (bounce protection), connecting
//! actively, and listening passively.

use std::io::{self, Read};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU32, Ordering};
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

/// Opens a passive-mode listener on the control connection's local address: in `ports` when
/// given, else in the kernel's ephemeral range, picking the port here from a varying start
/// (as vsftpd does); any free port (bind to port 0) when none of those is free.
///
/// Why not bind to port 0 at once: each passive transfer leaves a connection in TIME_WAIT
/// on this side (the server ends a download by closing first), and the kernel's search for
/// a free port skips every port such a connection holds. After ~19,000 transfers in a
/// minute (a mirror of 1,000 small files, a few times) that search took 4.5 ms per EPSV
/// (strace), the whole cost of a small file. A port held only by TIME_WAIT connections can
/// be listened on again when asked for by number (SO_REUSEADDR, which std sets).
pub fn open_passive_listener(local_ip: IpAddr, ports: Option<&RangeInclusive<u16>>) -> io::Result<TcpListener> {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let range = ports.cloned().unwrap_or_else(ephemeral_ports);
    let count = u32::from(*range.end() - *range.start()) + 1;
    // Spread sessions over the range instead of all racing for its first port.
    let clock = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let start = std::process::id().wrapping_add(clock).wrapping_add(CALLS.fetch_add(7919, Ordering::Relaxed));
    let tries = if ports.is_some() { count } else { count.min(64) };
    let mut last_error = io::Error::new(io::ErrorKind::AddrInUse, "no free port in the passive range");
    for i in 0..tries {
        let port = *range.start() + ((start.wrapping_add(i)) % count) as u16;
        // std's bind sets SO_REUSEADDR on Unix before binding.
        match TcpListener::bind((local_ip, port)) {
            Ok(listener) => return Ok(listener),
            Err(err) => last_error = err,
        }
    }
    if ports.is_none() {
        return TcpListener::bind((local_ip, 0));
    }
    Err(last_error)
}

/// The kernel's range for ephemeral ports (net.ipv4.ip_local_port_range), read once.
fn ephemeral_ports() -> RangeInclusive<u16> {
    static RANGE: std::sync::OnceLock<RangeInclusive<u16>> = std::sync::OnceLock::new();
    RANGE
        .get_or_init(|| {
            let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
            let mut bounds = text.split_whitespace().filter_map(|n| n.parse::<u16>().ok());
            match (bounds.next(), bounds.next()) {
                (Some(low), Some(high)) if 1024 <= low && low <= high => low..=high,
                _ => 32768..=60999,
            }
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passive_port_left_in_time_wait_by_a_transfer_can_be_listened_on_again() {
        let listener = open_passive_listener(ip("127.0.0.1"), None).unwrap();
        let address = listener.local_addr().unwrap();
        assert!(ephemeral_ports().contains(&address.port()), "picked here, in the ephemeral range: {address}");
        let mut client = TcpStream::connect(address).unwrap();
        let (served, _) = listener.accept().unwrap();
        drop(listener);
        // The server closes first, as at the end of a download: TIME_WAIT is on its side.
        close_after_peer(&served, Duration::from_millis(10));
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).unwrap();
        drop(client);
        drop(served);
        let again = TcpListener::bind(address).unwrap();
        assert_eq!(again.local_addr().unwrap(), address);
        // Successive listeners start from different ports.
        let ports: std::collections::BTreeSet<u16> = (0..8)
            .map(|_| open_passive_listener(ip("127.0.0.1"), None).unwrap().local_addr().unwrap().port())
            .collect();
        assert!(ports.len() > 4, "{ports:?}");
    }

    #[test]
    fn passive_listeners_stay_in_the_range_given() {
        let range = 40000..=40063;
        for _ in 0..10 {
            let listener = open_passive_listener(ip("127.0.0.1"), Some(&range)).unwrap();
            assert!(range.contains(&listener.local_addr().unwrap().port()));
        }
    }

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
