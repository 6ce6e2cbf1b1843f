//! Active data connections: where the server may connect (bounce protection), and sending
//! a file over the connection with `sendfile(2)`.

use std::fs::File;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

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
    let stream = TcpStream::connect_timeout(&target, timeout)?;
    // A client that stops reading must not hold the session forever.
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

/// How sending a file ended when it did not end well.
#[derive(Debug)]
pub enum SendError {
    /// The client closed or stalled the data connection: 426.
    Peer(io::Error),
    /// The file could not be read whole (truncated or failing while sent): 451.
    Local(io::Error),
}

/// The most `sendfile(2)` moves in one call on Linux.
const SENDFILE_MAX: usize = 0x7fff_f000;

/// Sends the first `len` bytes of `file` to `socket` with `sendfile(2)`, so the bytes
/// never pass through user space.
pub fn send_file(file: &File, len: u64, socket: &TcpStream) -> Result<u64, SendError> {
    let mut offset: libc::off_t = 0;
    let total = i64::try_from(len).map_err(|e| SendError::Local(io::Error::other(e)))?;
    while offset < total {
        let count = usize::try_from(total - offset).unwrap_or(SENDFILE_MAX).min(SENDFILE_MAX);
        // SAFETY: both descriptors are open for the duration of the call, and `offset` is a
        // valid pointer; sendfile neither keeps nor frees either.
        let sent = unsafe { libc::sendfile(socket.as_raw_fd(), file.as_raw_fd(), &mut offset, count) };
        if sent < 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EPIPE | libc::ECONNRESET | libc::EAGAIN | libc::ETIMEDOUT) => {
                    return Err(SendError::Peer(err));
                }
                _ => return Err(SendError::Local(err)),
            }
        }
        if sent == 0 {
            let short = format!("the file shrank while it was sent ({offset} of {len} bytes)");
            return Err(SendError::Local(io::Error::new(io::ErrorKind::UnexpectedEof, short)));
        }
    }
    Ok(len)
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
