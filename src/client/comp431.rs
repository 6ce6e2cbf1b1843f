//! The COMP 431 client session (SPEC §4): requests from standard input, a byte-exact
//! transcript on standard output, files into `retr_files/fileN`.

use std::cell::OnceCell;
use std::ffi::CStr;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use super::ClientConfig;
use super::control::{ControlConnection, ReplyRead};
use super::request::{Request, RequestError, parse_request};
use crate::protocol::address::format_port_argument;
use crate::protocol::data::{Accepted, DataError, FILE_RECEIVE_BUFFER, accept_from, receive, receive_watching};
use crate::protocol::line::{Line, LineReader};
use crate::protocol::transport::Channel;
use crate::transcript::Transcript;
use crate::write_policy::{Start, Writing};

/// The commands sent after each successful CONNECT, in order.
const LOGIN_SEQUENCE: [&[u8]; 4] = [b"USER anonymous", b"PASS guest@", b"SYST", b"TYPE I"];

/// The longest request line read from standard input.
const MAX_REQUEST_LINE: usize = 64 * 1024;

/// Runs the session over `input` until QUIT or end of input.
pub fn run(config: &ClientConfig, input: impl Read, out: &Transcript, retr_folder: &Path) -> io::Result<()> {
    let mut client = Comp431Client {
        config,
        out,
        retr_folder,
        control: None,
        data_port: config.first_data_port,
        completed: 0,
        host_name_ip: OnceCell::new(),
    };
    let mut reader = LineReader::new(input, MAX_REQUEST_LINE);
    loop {
        let line = reader.next_line(&mut |chunk| out.write(chunk))?;
        let parsed = match line {
            None => return Ok(()),
            Some(Line::TooLong { .. }) => Err(RequestError::Unexpected),
            Some(Line::Complete(bytes) | Line::Unterminated(bytes)) => {
                out.write(bytes);
                parse_request(bytes, client.control.is_some())
            }
        };
        match parsed {
            Err(err) => out.line(err.message()),
            Ok(Request::Connect { host, port }) => client.connect(&host, port),
            Ok(Request::Get { path }) => client.get(&path),
            Ok(Request::Quit) => {
                out.line("QUIT accepted, terminating FTP client");
                client.quit();
                return Ok(());
            }
        }
    }
}

struct Comp431Client<'a> {
    config: &'a ClientConfig,
    out: &'a Transcript,
    retr_folder: &'a Path,
    control: Option<ControlConnection>,
    /// The port the next GET listens on and advertises.
    data_port: u16,
    /// Transfers completed over the whole run; the next file is `file{completed + 1}`.
    completed: u64,
    host_name_ip: OnceCell<Option<Ipv4Addr>>,
}

/// What arrived first while a data connection was awaited.
enum Awaited {
    Data(TcpStream),
    ControlReply,
    Nothing,
}

impl Comp431Client<'_> {
    fn connect(&mut self, host: &str, port: u16) {
        self.out.line(format!("CONNECT accepted for FTP server at host {host} and port {port}"));
        self.data_port = self.config.first_data_port;
        self.quit();
        match ControlConnection::connect(host, port, self.config.timeout) {
            Ok(control) => {
                control.set_reply_timeout(self.config.timeout);
                self.control = Some(control);
            }
            Err(err) => {
                crate::diag!("cannot connect to {host} port {port}: {err}");
                self.out.line("CONNECT failed");
                return;
            }
        }
        if !self.read_and_print_reply().is_success() {
            return;
        }
        for command in LOGIN_SEQUENCE {
            if !self.command(command).is_success() {
                return;
            }
        }
    }

    /// Sends QUIT on an open connection, prints its reply, and closes it.
    fn quit(&mut self) {
        if self.control.is_some() {
            self.command(b"QUIT");
            self.control = None;
        }
    }

    fn get(&mut self, path: &[u8]) {
        self.out.line(format!("GET accepted for {}", String::from_utf8_lossy(path)));
        let listener = match TcpListener::bind((Ipv4Addr::UNSPECIFIED, self.data_port)) {
            Ok(listener) => listener,
            Err(err) => {
                crate::diag!("cannot listen on data port {}: {err}", self.data_port);
                self.out.line("GET failed, FTP-data port not allocated.");
                return;
            }
        };
        let Some(ip) = self.advertised_ip() else {
            crate::diag!("no IPv4 address to advertise in PORT; use --data-ip");
            self.out.line("GET failed, FTP-data port not allocated.");
            return;
        };
        let port_command = format!("PORT {}", format_port_argument(SocketAddrV4::new(ip, self.data_port)));
        self.data_port = self.data_port.wrapping_add(1);
        if !self.command(port_command.as_bytes()).is_success() {
            return;
        }
        let retr = [b"RETR ".as_slice(), path].concat();
        if !self.command(&retr).code().is_some_and(|code| (100..200).contains(&code)) {
            return;
        }
        match self.await_data_connection(&listener) {
            Awaited::Data(data) => {
                drop(listener);
                self.receive_file(data);
            }
            Awaited::ControlReply => {
                self.read_and_print_reply();
            }
            Awaited::Nothing => crate::diag!("the server opened no data connection in time"),
        }
    }

    /// Receives the file into `retr_files/fileN` through a temporary name, then prints the
    /// closing reply; the file is kept only when that reply is a success. The control
    /// connection is watched meanwhile (SPEC §4.2): a failure reply that arrives while the
    /// data connection is quiet ends the transfer at once.
    fn receive_file(&mut self, data: TcpStream) {
        let Some(control) = self.control.as_mut() else { return };
        let _ = data.set_read_timeout(Some(self.config.timeout));
        let data = Channel::plain(data);
        let target = self.retr_folder.join(format!("file{}", self.completed + 1));
        let mut file =
            match fs::create_dir_all(self.retr_folder).and_then(|()| Writing::to_local_path(&target, Start::Fresh)) {
                Ok(file) => Some(file),
                Err(err) => {
                    crate::diag!("cannot write {}: {err}", target.display());
                    None
                }
            };
        let mut sink = io::sink();
        let out: &mut dyn Write = match file.as_mut() {
            Some(file) => file.file(),
            // Nowhere to write: still drain the connection so the server can finish.
            None => &mut sink,
        };
        let mut early_reply = None;
        let received = if control.has_buffered_input() {
            // The reply arrived with the 150, before the data: read it now.
            let reply = control.read_reply();
            let failed = !reply.is_success();
            early_reply = Some(reply);
            if failed {
                Err(DataError::Peer(io::Error::other("the server ended the transfer with a reply")))
            } else {
                receive(&data, out, FILE_RECEIVE_BUFFER, &mut |_| {})
            }
        } else {
            let (fd, idle) = (control.raw_fd(), self.config.timeout);
            receive_watching(&data, out, FILE_RECEIVE_BUFFER, fd, idle, &mut || {
                let reply = control.read_reply();
                let failed = !reply.is_success();
                early_reply = Some(reply);
                failed
            })
        };
        drop(data);
        if let Err(err) = &received {
            crate::diag!("receiving {} failed: {err}", target.display());
        }
        let closing = match early_reply {
            Some(reply) => {
                self.print_reply(&reply);
                reply
            }
            None => self.read_and_print_reply(),
        };
        if let Some(file) = file.filter(|_| received.is_ok() && closing.is_success()) {
            match file.commit() {
                Ok(()) => self.completed += 1,
                Err(err) => crate::diag!("cannot write {}: {err}", target.display()),
            }
        }
    }

    /// Waits for the server's data connection while watching the control connection, so a
    /// 425 sent instead of connecting is read at once rather than waited out.
    fn await_data_connection(&mut self, listener: &TcpListener) -> Awaited {
        let Some(control) = &self.control else { return Awaited::Nothing };
        let Ok(server) = control.peer_addr() else { return Awaited::Nothing };
        // A reply read along with the previous one (a fast server's 250 after its 150)
        // still leaves the data connection waiting: then only look, do not wait.
        let reply_waiting = control.has_buffered_input();
        let timeout = if reply_waiting { Duration::ZERO } else { self.config.timeout };
        match accept_from(listener, server.ip(), Some(control.raw_fd()), timeout) {
            Ok(Accepted::Connection(stream)) => Awaited::Data(stream),
            Ok(Accepted::Watched) => Awaited::ControlReply,
            Ok(Accepted::TimedOut) if reply_waiting => Awaited::ControlReply,
            Ok(Accepted::TimedOut) => Awaited::Nothing,
            Err(err) => {
                crate::diag!("waiting for the data connection failed: {err}");
                Awaited::Nothing
            }
        }
    }

    /// Prints and sends `command`, then reads and prints one reply.
    fn command(&mut self, command: &[u8]) -> ReplyRead {
        let Some(control) = &mut self.control else {
            return ReplyRead::Closed;
        };
        self.out.line(command);
        if control.send(command).is_err() {
            self.lose_connection();
            return ReplyRead::Closed;
        }
        self.read_and_print_reply()
    }

    /// Reads one reply and prints it.
    fn read_and_print_reply(&mut self) -> ReplyRead {
        let Some(control) = &mut self.control else {
            return ReplyRead::Closed;
        };
        let read = control.read_reply();
        self.print_reply(&read);
        read
    }

    /// Prints a reply as `FTP reply NNN accepted. Text is: TEXT` or as the grammar error; a
    /// closed connection is reported on standard error.
    fn print_reply(&mut self, read: &ReplyRead) {
        match read {
            ReplyRead::Reply(reply) => {
                self.out.line(format!("FTP reply {} accepted. Text is: {}", reply.code, reply.text));
            }
            ReplyRead::Malformed(err) => self.out.line(err.message()),
            ReplyRead::Closed => self.lose_connection(),
        }
    }

    fn lose_connection(&mut self) {
        crate::diag!("the server closed the control connection");
        self.control = None;
    }

    /// The IPv4 address to put in PORT (SPEC §4.4).
    fn advertised_ip(&self) -> Option<Ipv4Addr> {
        let control_local = self.control.as_ref()?.local_addr().ok()?.ip();
        let host_name_ip = *self.host_name_ip.get_or_init(host_name_ipv4);
        choose_data_ip(self.config.data_ip, host_name_ip, control_local)
    }
}

/// (decided, SPEC §4.4) `--data-ip` if given; else what the host's own name resolves to,
/// unless that is loopback while the control connection is not; else the control
/// connection's local address.
pub fn choose_data_ip(
    data_ip: Option<Ipv4Addr>,
    host_name_ip: Option<Ipv4Addr>,
    control_local: IpAddr,
) -> Option<Ipv4Addr> {
    if data_ip.is_some() {
        return data_ip;
    }
    let control_local = control_local.to_canonical();
    match host_name_ip {
        Some(ip) if !ip.is_loopback() || control_local.is_loopback() => Some(ip),
        _ => match control_local {
            IpAddr::V4(ip) => Some(ip),
            IpAddr::V6(ip) if ip.is_loopback() => Some(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => None,
        },
    }
}

/// The first IPv4 address this host's name resolves to.
fn host_name_ipv4() -> Option<Ipv4Addr> {
    let mut name = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length; gethostname NUL-terminates within it
    // (the last byte stays 0 even if the name is truncated).
    if unsafe { libc::gethostname(name.as_mut_ptr().cast(), name.len() - 1) } != 0 {
        return None;
    }
    let name = CStr::from_bytes_until_nul(&name).ok()?.to_str().ok()?;
    (name, 0).to_socket_addrs().ok()?.find_map(|addr| match addr {
        SocketAddr::V4(v4) => Some(*v4.ip()),
        SocketAddr::V6(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAN: Ipv4Addr = Ipv4Addr::new(152, 19, 160, 146);

    #[test]
    fn data_ip_flag_overrides_everything() {
        let got = choose_data_ip(Some(Ipv4Addr::new(10, 1, 2, 3)), Some(LAN), IpAddr::V4(LAN));
        assert_eq!(got, Some(Ipv4Addr::new(10, 1, 2, 3)));
    }

    #[test]
    fn host_name_address_is_used_by_default() {
        assert_eq!(choose_data_ip(None, Some(LAN), "127.0.0.1".parse().unwrap()), Some(LAN));
    }

    #[test]
    fn loopback_host_name_on_a_remote_connection_falls_back_to_the_local_address() {
        let got = choose_data_ip(None, Some(Ipv4Addr::LOCALHOST), IpAddr::V4(LAN));
        assert_eq!(got, Some(LAN));
    }

    #[test]
    fn loopback_host_name_on_a_loopback_connection_is_kept() {
        let got = choose_data_ip(None, Some(Ipv4Addr::LOCALHOST), "127.0.0.1".parse().unwrap());
        assert_eq!(got, Some(Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn unresolvable_host_name_uses_the_local_address() {
        assert_eq!(choose_data_ip(None, None, IpAddr::V4(LAN)), Some(LAN));
        assert_eq!(choose_data_ip(None, None, "::ffff:152.19.160.146".parse().unwrap()), Some(LAN));
    }
}
