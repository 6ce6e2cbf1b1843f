//! The integration-test harness: runs the built `minftp` in its own temporary folder,
//! with a scrubbed environment, and talks to it over 127.0.0.1 only.
#![allow(dead_code)]

pub mod peers;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_minftp");

/// A `minftp` command with a clean environment, run in `dir`.
pub fn minftp(dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command.current_dir(dir).env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
    command
}

/// Runs `minftp args` in `dir` with `stdin`, bounded in time; panics with everything on failure to finish.
pub fn run_with_input(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = minftp(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("minftp starts");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let writer = thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let output = wait_bounded(child, Duration::from_secs(60));
    writer.join().unwrap();
    output
}

/// Waits for a child, killing it after `limit` so a hang fails the test instead of blocking it.
pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_reader = thread::spawn(move || read_all(stdout.as_mut()));
    let err_reader = thread::spawn(move || read_all(stderr.as_mut()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            let status = child.wait().unwrap();
            let stderr = err_reader.join().unwrap();
            panic!("minftp did not finish within {limit:?} ({status}); stderr:\n{}", String::from_utf8_lossy(&stderr));
        }
        thread::sleep(Duration::from_millis(10));
    };
    Output { status, stdout: out_reader.join().unwrap(), stderr: err_reader.join().unwrap() }
}

fn read_all(source: Option<&mut impl Read>) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Some(source) = source {
        let _ = source.read_to_end(&mut bytes);
    }
    bytes
}

/// Shows bytes readably in assertion messages (CR and LF made visible).
pub fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\r', "\\r").replace('\n', "\\n\n")
}

/// Asserts two transcripts are equal byte for byte, printing both readably when not.
#[track_caller]
pub fn assert_transcript(got: &[u8], want: &[u8]) {
    assert!(got == want, "transcript differs.\n--- got:\n{}\n--- want:\n{}", show(got), show(want));
}

/// A `minftp serve` process listening on 127.0.0.1 at a port the OS chose.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    pub root: PathBuf,
}

impl Server {
    /// Starts `minftp serve 0 --bind 127.0.0.1 --root ROOT EXTRA...` and waits for its address.
    pub fn start(root: &Path, extra: &[&str]) -> Server {
        Server::start_on("127.0.0.1", root, extra)
    }

    /// Starts the server listening on `bind` (an address of this machine's loopback).
    pub fn start_on(bind: &str, root: &Path, extra: &[&str]) -> Server {
        let mut command = minftp(root);
        command.args(["serve", "0", "--bind", bind, "--root"]).arg(root).args(extra);
        Server::spawn(command, root)
    }

    /// Runs a prepared command that starts `minftp serve` (perhaps through a shell or with
    /// other environment) serving `root`, and waits for the address it announces.
    pub fn spawn(mut command: Command, root: &Path) -> Server {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("minftp serve starts");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        drain_into(child.stdout.take().unwrap(), Arc::clone(&stdout));
        let mut err_lines = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        err_lines.read_line(&mut first).unwrap();
        let addr = first
            .rsplit(" on ")
            .next()
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or_else(|| panic!("no address in the server's first stderr line: {first:?}"));
        stderr.lock().unwrap().extend_from_slice(first.as_bytes());
        drain_into(err_lines, Arc::clone(&stderr));
        Server { child: Some(child), addr, stdout, stderr, root: root.to_path_buf() }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server runs").id()
    }

    /// A raw control connection, with the greeting (any 220 line: the COMP 431 dialect's or
    /// the extended dialect's banner) already read and checked.
    pub fn connect(&self) -> RawClient {
        let mut client = RawClient::connect(self.addr);
        let greeting = String::from_utf8(client.read_line()).unwrap();
        assert!(greeting.starts_with("220 ") && greeting.ends_with("\r\n"), "greeting {greeting:?}");
        client
    }

    /// The transcript so far.
    pub fn transcript(&self) -> Vec<u8> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Waits until the server's stderr contains `needle` and returns it (the server writes a
    /// diagnostic before its reply, but the test reads stderr through a pipe and a thread).
    pub fn wait_for_stderr(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.stderr();
            if got.contains(needle) || Instant::now() > deadline {
                return got;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the transcript ends with `suffix` (the server prints before it sends, but
    /// the test reads stdout through a pipe and a thread).
    pub fn wait_for_transcript_end(&self, suffix: &[u8]) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.transcript();
            if got.ends_with(suffix) {
                return got;
            }
            if Instant::now() > deadline {
                panic!("transcript does not end with {:?}:\n{}", show(suffix), show(&got));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the server with SIGINT and returns its exit status code.
    pub fn interrupt(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            thread::sleep(Duration::from_millis(10));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Copies everything `source` gives into `sink`, on a thread, until it ends.
pub fn drain_into(mut source: impl Read + Send + 'static, sink: Arc<Mutex<Vec<u8>>>) {
    thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while let Ok(n) = source.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
}

/// A hand-written control connection for driving a server byte by byte.
pub struct RawClient {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> RawClient {
        RawClient::connect_stream(TcpStream::connect(addr).expect("connect to the server"))
    }

    /// A raw client on a connection made elsewhere (for instance from another loopback address).
    pub fn connect_stream(stream: TcpStream) -> RawClient {
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        RawClient { stream, reader }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads one reply line (up to LF).
    pub fn read_line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line).unwrap();
        line
    }

    #[track_caller]
    pub fn expect(&mut self, want: &str) {
        let got = self.read_line();
        assert_eq!(show(&got), show(want.as_bytes()));
    }

    /// Sends `command` and checks the one reply it gets.
    #[track_caller]
    pub fn exchange(&mut self, command: &str, want: &str) {
        self.send(command.as_bytes());
        self.expect(want);
    }

    pub fn login(&mut self) {
        self.exchange("USER anonymous\r\n", "331 Guest access OK, send password.\r\n");
        self.exchange("PASS guest@\r\n", "230 Guest login OK.\r\n");
    }

    /// Sends PORT for a fresh data listener and RETR `name`; checks 150 and 250 and returns
    /// the bytes that arrived on the data connection.
    pub fn retrieve(&mut self, name: &str) -> Vec<u8> {
        let data = DataListener::new();
        self.exchange(&data.port_command(), &port_reply(data.port()));
        self.exchange(&format!("RETR {name}\r\n"), "150 File status okay.\r\n");
        let bytes = data.receive_all();
        self.expect("250 Requested file action completed.\r\n");
        bytes
    }

    /// Sends PASV and connects to the address of its 227 reply.
    pub fn passive(&mut self) -> TcpStream {
        self.send(b"PASV\r\n");
        let reply = String::from_utf8(self.read_line()).unwrap();
        assert!(reply.starts_with("227 "), "{reply}");
        let inside = &reply[reply.find('(').unwrap() + 1..reply.find(')').unwrap()];
        let n: Vec<u16> = inside.split(',').map(|x| x.parse().unwrap()).collect();
        assert_eq!(&n[..4], [127, 0, 0, 1], "PASV announces the control connection's address");
        TcpStream::connect(("127.0.0.1", n[4] * 256 + n[5])).unwrap()
    }

    /// True once the server has closed the connection (reads end of stream).
    pub fn is_closed(&mut self) -> bool {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest).is_ok() && rest.is_empty()
    }
}

/// A data port listener on 127.0.0.1 at an OS-chosen port, and the PORT command naming it.
pub struct DataListener {
    pub listener: TcpListener,
}

impl DataListener {
    pub fn new() -> DataListener {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        DataListener { listener }
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }

    pub fn port_command(&self) -> String {
        port_command(self.port())
    }

    /// Accepts the server's data connection and reads it to the end.
    pub fn receive_all(&self) -> Vec<u8> {
        let (mut stream, _) = self.listener.accept().unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).unwrap();
        bytes
    }
}

/// `PORT 127,0,0,1,p1,p2\r\n` for a port on 127.0.0.1.
pub fn port_command(port: u16) -> String {
    format!("PORT 127,0,0,1,{},{}\r\n", port >> 8, port & 0xff)
}

/// `200 Port command successful (127.0.0.1,P).\r\n`.
pub fn port_reply(port: u16) -> String {
    format!("200 Port command successful (127.0.0.1,{port}).\r\n")
}

/// Every byte value, CR LF pairs, lone CRs and LFs, and NULs: content that shows any
/// transfer that is not byte-exact.
pub fn binary_content(len: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..=255u8).collect();
    bytes.extend_from_slice(b"\r\n\r\n\n\r\0\0\r\n");
    let mut state = 0x2545F4914F6CDD1Du64;
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// A fresh temporary folder.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Writes `contents` to `dir/name`, creating folders as needed.
pub fn write_file(dir: &Path, name: &str, contents: &[u8]) {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

/// A TCP connection to 127.0.0.1:`port` whose source address is `source` (a loopback address).
pub fn connect_from(source: &str, port: u16) -> TcpStream {
    use std::os::fd::FromRawFd;
    let source: std::net::Ipv4Addr = source.parse().unwrap();
    let sockaddr = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(ip).to_be() },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a fresh socket is bound and connected with correctly sized sockaddr_in values,
    // then owned by the TcpStream.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let from = sockaddr(source, 0);
        assert_eq!(libc::bind(fd, (&from as *const libc::sockaddr_in).cast(), len), 0);
        let to = sockaddr(std::net::Ipv4Addr::LOCALHOST, port);
        assert_eq!(libc::connect(fd, (&to as *const libc::sockaddr_in).cast(), len), 0);
        TcpStream::from_raw_fd(fd)
    }
}

/// A free port for the client's first data connection (and the few after it). It comes
/// from above the kernel's ephemeral range (32768-60999 here), so that no connection another
/// test opens meanwhile can take it between this check and the client's bind; each test
/// binary starts at its own offset, and ports are never handed out twice.
pub fn free_data_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let (low, span) = (61_000u32, 4_000u32);
    let start = std::process::id() * 97;
    loop {
        let candidate = low + (start + NEXT.fetch_add(4, std::sync::atomic::Ordering::Relaxed)) % span;
        let port = candidate as u16;
        if (0..4).all(|i| TcpListener::bind(("0.0.0.0", port + i)).is_ok()) {
            return port;
        }
    }
}

/// Runs `minftp ARGS` in `dir` with nothing on standard input.
pub fn minftp_run(dir: &Path, args: &[&str]) -> Output {
    run_with_input(dir, args, b"")
}

#[track_caller]
pub fn assert_ok(out: &Output) {
    assert!(out.status.success(), "exit {:?}\nstderr: {}", out.status, String::from_utf8_lossy(&out.stderr));
}

pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The names in `dir`, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

/// Runs `program args` in `dir` (bounded in time), or `None` when the program is not installed.
pub fn run_tool(dir: &Path, program: &str, args: &[&str]) -> Option<Output> {
    let child = match Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("skipped: {program} is not installed (.ci/run installs it)");
            return None;
        }
        Err(err) => panic!("cannot run {program}: {err}"),
    };
    Some(wait_bounded(child, Duration::from_secs(60)))
}

#[track_caller]
pub fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Whether rclone is installed; says the test skips when not.
pub fn rclone_installed() -> bool {
    let installed = Command::new("rclone").arg("version").output().is_ok();
    if !installed {
        eprintln!("skipped: rclone is not installed (apt-get install rclone; .ci/run does)");
    }
    installed
}

/// Runs rclone with `args` (no config file, one try), `HOME` in `home`; asserts that it
/// succeeds without an ERROR line and returns what it printed. `None` (with a printed
/// reason) when rclone is not installed.
pub fn rclone(home: &Path, args: &[&str]) -> Option<String> {
    let out = match Command::new("rclone")
        .args(args)
        .args(["--config", "", "--low-level-retries", "1", "--retries", "1"])
        .env("HOME", home)
        .output()
    {
        Ok(out) => out,
        Err(_) => {
            eprintln!("skipped: rclone is not installed (apt-get install rclone; .ci/run does)");
            return None;
        }
    };
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && !text.contains("ERROR"), "rclone {args:?}:\n{text}");
    Some(text)
}

/// An rclone remote for anonymous FTP on 127.0.0.1:`port` with `options` (such as
/// `explicit_tls=true`), at `path`.
pub fn rclone_remote(port: u16, options: &str, path: &str) -> String {
    let obscured = Command::new("rclone").args(["obscure", "rclone@"]).output().expect("rclone obscure");
    let obscured = String::from_utf8(obscured.stdout).unwrap().trim().to_string();
    format!(":ftp,host=127.0.0.1,port={port},user=anonymous,pass={obscured}{options}:{path}")
}

/// A port of 127.0.0.1 where nothing listens, so connecting is refused, held while this
/// lives: it is the local port of a connected socket, which no parallel test can bind (a
/// port bound and dropped could be taken by another test's listener in between, and the
/// "refused" connection then reached that listener).
pub struct RefusedPort {
    pub port: u16,
    _held: TcpStream,
    _listener: TcpListener,
}

impl RefusedPort {
    pub fn new() -> RefusedPort {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let held = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        RefusedPort { port: held.local_addr().unwrap().port(), _held: held, _listener: listener }
    }
}

/// A pseudo-terminal pair: (controller, the terminal the program gets).
pub fn pseudo_terminal() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    let (mut controller, mut terminal) = (0, 0);
    // SAFETY: openpty fills two descriptors that this function then owns; no name, no
    // settings, no window size are asked for.
    let rc = unsafe {
        libc::openpty(&mut controller, &mut terminal, std::ptr::null_mut(), std::ptr::null(), std::ptr::null())
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened for us.
    unsafe {
        use std::os::fd::FromRawFd;
        (std::os::fd::OwnedFd::from_raw_fd(controller), std::os::fd::OwnedFd::from_raw_fd(terminal))
    }
}
