//! The client toolbox (issue 12): `ls` in one form whatever the server, mirrors of trees
//! both ways with parallel connections and `--newer`, several files and globs, partial
//! failures, `.netrc`, the password prompt, and error messages that say what happened.
//! Against minftp, pyftpdlib and vsftpd (each skipped with a reason when missing), on
//! 127.0.0.1.

mod common;

use common::peers::{self, Peer};
use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A tree with nested folders, spaces, an empty folder, a 0-byte file and a binary file.
fn make_tree(root: &Path) {
    for dir in ["tree/sub/deeper", "tree/empty", "tree/with space"] {
        fs::create_dir_all(root.join(dir)).unwrap();
    }
    fs::write(root.join("tree/a.txt"), b"hello\n").unwrap();
    fs::write(root.join("tree/zero.bin"), b"").unwrap();
    fs::write(root.join("tree/sub/r.bin"), binary_content(300_000)).unwrap();
    fs::write(root.join("tree/with space/f g.txt"), b"spaced\n").unwrap();
    fs::write(root.join("tree/sub/deeper/d.txt"), b"deep\n").unwrap();
}

/// Every path under `dir` (relative), `/` after folders, with each file's bytes.
fn tree_of(dir: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Option<Vec<u8>>>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                out.insert(format!("{rel}/"), None);
                walk(base, &path, out);
            } else {
                out.insert(rel, Some(fs::read(&path).unwrap()));
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

#[track_caller]
fn assert_same_tree(got: &Path, want: &Path) {
    let (got, want) = (tree_of(got), tree_of(want));
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "the trees' names differ");
    assert!(got == want, "the trees' contents differ");
}

/// The servers to try: minftp (always), pyftpdlib and vsftpd when installed. Each serves
/// `root` (which must be readable by everyone for vsftpd) and is named for messages.
fn servers(root: &Path, config: &Path) -> Vec<(&'static str, u16, Option<Server>, Option<Peer>)> {
    let mut out = Vec::new();
    let server = Server::start(root, &["--writable"]);
    out.push(("minftp", server.port(), Some(server), None));
    if let Some(peer) = peers::pyftpdlib(root) {
        out.push(("pyftpdlib", peer.port, None, Some(peer)));
    }
    if let Some(peer) = peers::vsftpd(root, config) {
        out.push(("vsftpd", peer.port, None, Some(peer)));
    }
    out
}

fn addr(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// (name, type, size) of each JSON line `minftp ls --json` printed, sorted.
fn parsed_json(out: &[u8]) -> Vec<(String, String, String)> {
    let text = String::from_utf8(out.to_vec()).unwrap();
    let field = |line: &str, key: &str| -> String {
        let start = line.find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("no {key} in {line}")) + key.len() + 3;
        let rest = &line[start..];
        let end = if let Some(quoted) = rest.strip_prefix('"') {
            quoted.find('"').unwrap() + 2
        } else {
            rest.find([',', '}']).unwrap()
        };
        rest[..end].trim_matches('"').to_string()
    };
    let mut entries: Vec<_> =
        text.lines().map(|line| (field(line, "name"), field(line, "type"), field(line, "size"))).collect();
    entries.sort();
    entries
}

#[test]
fn the_same_tree_lists_the_same_from_minftp_pyftpdlib_and_vsftpd() {
    let (root, config, work) = (temp_dir(), temp_dir(), temp_dir());
    make_tree(root.path());
    let mut seen = Vec::new();
    for (name, port, _server, _peer) in servers(root.path(), config.path()) {
        for folder in ["tree", "tree/sub"] {
            let out = minftp_run(work.path(), &["ls", "--json", &addr(port), folder]);
            assert_ok(&out);
            seen.push((name, folder, parsed_json(&out.stdout)));
        }
        // Names only, one per line, sorted; the long form in bytes off a terminal.
        let names = minftp_run(work.path(), &["ls", &addr(port), "tree"]);
        assert_eq!(String::from_utf8_lossy(&names.stdout), "a.txt\nempty\nsub\nwith space\nzero.bin\n", "{name}");
        let long = minftp_run(work.path(), &["ls", "-l", &addr(port), "tree/sub"]);
        let long = String::from_utf8_lossy(&long.stdout).into_owned();
        assert!(long.lines().any(|l| l.starts_with("-       300000  ") && l.ends_with("  r.bin")), "{name}: {long}");
        assert!(long.lines().any(|l| l.starts_with("d ") && l.ends_with("  deeper")), "{name}: {long}");
    }
    let want = vec![
        ("a.txt".to_string(), "file".to_string(), "6".to_string()),
        ("empty".into(), "dir".into(), "null".into()),
        ("sub".into(), "dir".into(), "null".into()),
        ("with space".into(), "dir".into(), "null".into()),
        ("zero.bin".into(), "file".into(), "0".into()),
    ];
    for (name, folder, entries) in &seen {
        if *folder == "tree" {
            assert_eq!(entries, &want, "{name}");
        } else {
            assert_eq!(entries, &seen[1].2, "{name} {folder}");
        }
    }
}

#[test]
fn ls_shows_links_odd_names_and_glob_matches_faithfully() {
    let (root, work) = (temp_dir(), temp_dir());
    fs::write(root.path().join("x.csv"), b"1").unwrap();
    fs::write(root.path().join("y.csv"), b"22").unwrap();
    fs::write(root.path().join("z.txt"), b"333").unwrap();
    let odd = std::ffi::OsStr::from_bytes(b"caf\xe9 menu");
    fs::write(root.path().join(odd), b"").unwrap();
    std::os::unix::fs::symlink(work.path(), root.path().join("away")).unwrap();
    let server = Server::start(root.path(), &["--extended"]);
    let out = minftp_run(work.path(), &["ls", &addr(server.port()), "*.csv"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "x.csv\ny.csv\n");
    let out = minftp_run(work.path(), &["ls", &addr(server.port())]);
    assert!(out.stdout.windows(9).any(|w| w == b"caf\xe9 menu"), "raw bytes off a terminal: {:?}", out.stdout);
    let json = minftp_run(work.path(), &["ls", "--json", &addr(server.port())]);
    let json = String::from_utf8(json.stdout).unwrap();
    assert!(json.contains("\"name_bytes\":[99,97,102,233,32,109,101,110,117]"), "{json}");
    assert!(json.contains("{\"name\":\"away\",\"type\":\"symlink\""), "a link out of the root: {json}");
    let none = minftp_run(work.path(), &["ls", &addr(server.port()), "*.nothing"]);
    assert!(!none.status.success() && stderr_of(&none).contains("no name matches"), "{}", stderr_of(&none));
}

/// The summary line of a batch.
fn summary(out: &Output) -> String {
    let stderr = stderr_of(out);
    stderr.lines().rfind(|l| l.starts_with("downloaded ") || l.starts_with("uploaded ")).unwrap_or_default().to_string()
}

#[test]
fn a_mirror_from_each_server_is_byte_exact_and_a_newer_run_moves_nothing() {
    let (root, config, work) = (temp_dir(), temp_dir(), temp_dir());
    make_tree(root.path());
    for (name, port, _server, _peer) in servers(root.path(), config.path()) {
        let local = work.path().join(name);
        let local_arg = local.to_str().unwrap();
        let out = minftp_run(work.path(), &["get", "-r", "-j", "8", &addr(port), "tree", "-o", local_arg]);
        assert_ok(&out);
        assert_same_tree(&local, &root.path().join("tree"));
        assert!(summary(&out).starts_with("downloaded 5 files"), "{name}: {}", stderr_of(&out));
        let again = minftp_run(work.path(), &["get", "-r", "--newer", &addr(port), "tree", "-o", local_arg]);
        assert_ok(&again);
        assert!(summary(&again).starts_with("downloaded 0 files (0 B)"), "{name}: {}", stderr_of(&again));
        assert!(summary(&again).contains("5 up to date"), "{name}: {}", stderr_of(&again));
        // A changed file is fetched again, and only it.
        fs::write(local.join("a.txt"), b"changed locally, longer").unwrap();
        let third = minftp_run(work.path(), &["get", "-r", "--newer", &addr(port), "tree/", "-o", local_arg]);
        assert!(summary(&third).starts_with("downloaded 1 file "), "{name}: {}", stderr_of(&third));
        assert_same_tree(&local, &root.path().join("tree"));
    }
}

#[test]
fn a_mirror_skips_links_that_leave_the_tree_and_refuses_unsafe_names() {
    let (root, work, outside) = (temp_dir(), temp_dir(), temp_dir());
    make_tree(root.path());
    fs::write(outside.path().join("secret"), b"s").unwrap();
    std::os::unix::fs::symlink(outside.path(), root.path().join("tree/away")).unwrap();
    let server = Server::start(root.path(), &["--extended"]);
    let out = minftp_run(work.path(), &["get", "-r", &addr(server.port()), "tree"]);
    assert_ok(&out);
    assert!(!work.path().join("tree/away").exists());
    assert!(
        stderr_of(&out).contains("skipped tree/away (a symlink on the server: not followed)"),
        "{}",
        stderr_of(&out)
    );
    assert!(summary(&out).contains("1 skipped"), "{}", stderr_of(&out));

    // A hostile server lists ../escape and a/b: neither is written anywhere.
    let listing = b"type=file;size=1; ../escape\r\ntype=file;size=1; a/b\r\ntype=file;size=1; fine\r\n";
    let (port, fake) = listing_server(listing.to_vec());
    let dest = work.path().join("dest");
    let out = minftp_run(work.path(), &["get", "-r", "-j", "1", &addr(port), "d", "-o", dest.to_str().unwrap()]);
    fake.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("\"../escape\" in \"d\" cannot be a local file name"), "{}", stderr_of(&out));
    assert!(!work.path().join("escape").exists() && !dest.join("a").exists());
    assert_eq!(fs::read(dest.join("fine")).unwrap(), b"x");
}

/// A server that logs anyone in, offers MLST, answers CWD d (a folder), lists `listing`
/// for MLSD and sends "x" for any RETR, for one session.
fn listing_server(listing: Vec<u8>) -> (u16, thread::JoinHandle<()>) {
    listing_server_with(listing, true)
}

/// [`listing_server`], or (`mlsd` false) one that offers no MLST and sends `listing` for
/// LIST, as a server with `ls -l` or Windows/IIS listings does.
fn listing_server_with(listing: Vec<u8>, mlsd: bool) -> (u16, thread::JoinHandle<()>) {
    scripted_server(Script { listing, mlsd, stor_refusal: None, listing_copies: 1 })
}

/// What a [`scripted_server`] does beyond logging anyone in.
struct Script {
    /// Sent for MLSD and LIST.
    listing: Vec<u8>,
    /// Whether FEAT offers MLST.
    mlsd: bool,
    /// The reply to a STOR once 64 KiB of it arrived, after which the data connection is
    /// closed with bytes unread (as a full disk ends an upload); else STOR is taken whole.
    stor_refusal: Option<&'static str>,
    /// How many times the listing is sent, one copy after another (until the client stops
    /// reading).
    listing_copies: usize,
}

/// A one-session FTP server on 127.0.0.1 playing `script`: EPSV only, "x" for any RETR,
/// CWD always succeeds, SIZE and MDTM are refused.
fn scripted_server(script: Script) -> (u16, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (control, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(control.try_clone().unwrap());
        let mut out = control;
        let data = TcpListener::bind("127.0.0.1:0").unwrap();
        let data_port = data.local_addr().unwrap().port();
        out.write_all(b"220 fake\r\n").unwrap();
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
            line.clear();
            let reply = match verb.as_str() {
                "USER" => "331 password\r\n".to_string(),
                "FEAT" if script.mlsd => "211-Features:\r\n MLST type*;size*;\r\n211 End\r\n".into(),
                "FEAT" => "211-Features:\r\n SIZE\r\n211 End\r\n".into(),
                "PWD" => "257 \"/\"\r\n".into(),
                "CWD" => "250 ok\r\n".into(),
                "EPSV" => format!("229 Entering Extended Passive Mode (|||{data_port}|)\r\n"),
                "MLSD" | "LIST" | "RETR" | "STOR" => {
                    let _ = out.write_all(b"150 here\r\n");
                    let (mut stream, _) = data.accept().unwrap();
                    match (verb.as_str(), script.stor_refusal) {
                        ("STOR", Some(refusal)) => {
                            let _ = stream.read(&mut vec![0u8; 64 * 1024]);
                            refusal.to_string()
                        }
                        ("STOR", None) => {
                            let _ = std::io::copy(&mut stream, &mut std::io::sink());
                            "226 done\r\n".into()
                        }
                        ("RETR", _) => {
                            stream.write_all(b"x").unwrap();
                            "226 done\r\n".into()
                        }
                        _ => {
                            let sent = (0..script.listing_copies).all(|_| stream.write_all(&script.listing).is_ok());
                            if sent { "226 done\r\n".into() } else { "426 the listing was cut off\r\n".into() }
                        }
                    }
                }
                "SIZE" | "MDTM" => "550 no\r\n".into(),
                "QUIT" => {
                    let _ = out.write_all(b"221 bye\r\n");
                    return;
                }
                _ => "200 ok\r\n".into(),
            };
            if out.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    });
    (port, handle)
}

#[test]
fn put_r_uploads_a_tree_and_a_newer_run_moves_nothing() {
    let (root, config, work) = (temp_dir(), temp_dir(), temp_dir());
    make_tree(work.path());
    let minftp_server = Server::start(root.path(), &["--writable"]);
    let mut targets = vec![("minftp", minftp_server.port(), None)];
    if let Some(peer) = peers::pyftpdlib(root.path()) {
        targets.push(("pyftpdlib", peer.port, Some(peer)));
    }
    if let Some(peer) = peers::vsftpd(root.path(), config.path()) {
        targets.push(("vsftpd", peer.port, Some(peer)));
    }
    for (name, port, _peer) in &targets {
        let remote = format!("up/{name}/copy");
        let out = minftp_run(work.path(), &["put", "-r", "-j", "8", &addr(*port), "tree", &remote]);
        assert_ok(&out);
        assert_same_tree(&root.path().join(&remote), &work.path().join("tree"));
        let again = minftp_run(work.path(), &["put", "-r", "--newer", &addr(*port), "tree", &remote]);
        assert!(summary(&again).starts_with("uploaded 0 files"), "{name}: {}", stderr_of(&again));
        assert!(summary(&again).contains("5 up to date"), "{name}: {}", stderr_of(&again));
    }
}

#[test]
fn several_files_and_globs_in_one_call() {
    let (root, work) = (temp_dir(), temp_dir());
    for (name, body) in [("a.txt", "a"), ("x.csv", "x"), ("y.csv", "yy"), ("z.log", "z")] {
        fs::write(root.path().join(name), body).unwrap();
    }
    let server = Server::start(root.path(), &["--writable"]);
    let out = minftp_run(work.path(), &["get", &addr(server.port()), "a.txt", "*.csv", "-o", "inbox"]);
    assert_ok(&out);
    assert_eq!(entries(&work.path().join("inbox")), ["a.txt", "x.csv", "y.csv"]);
    assert_eq!(fs::read(work.path().join("inbox/y.csv")).unwrap(), b"yy");
    // Several local files into a remote folder, made with --create-dirs.
    fs::write(work.path().join("p.txt"), b"p").unwrap();
    fs::write(work.path().join("q.txt"), b"q").unwrap();
    let out = minftp_run(work.path(), &["put", &addr(server.port()), "p.txt", "q.txt", "new/box/", "--create-dirs"]);
    assert_ok(&out);
    assert_eq!(entries(&root.path().join("new/box")), ["p.txt", "q.txt"]);
    // --newer works for one named file too, both ways.
    let out = minftp_run(work.path(), &["get", "--newer", &addr(server.port()), "a.txt", "-o", "inbox"]);
    assert!(summary(&out).contains("1 up to date"), "{}", stderr_of(&out));
    let out = minftp_run(work.path(), &["put", "--newer", &addr(server.port()), "p.txt", "new/box/"]);
    assert!(summary(&out).contains("1 up to date"), "{}", stderr_of(&out));
    // A name that only looks like a pattern is taken as it is.
    fs::write(root.path().join("report[1].txt"), b"r1").unwrap();
    let out = minftp_run(work.path(), &["get", &addr(server.port()), "report[1].txt", "a.txt", "-o", "odd"]);
    assert_ok(&out);
    assert_eq!(fs::read(work.path().join("odd/report[1].txt")).unwrap(), b"r1");
    let out = minftp_run(work.path(), &["ls", &addr(server.port()), "report[1].txt"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "report[1].txt\n", "{}", stderr_of(&out));
    // A folder without -r says how to fetch it.
    let out = minftp_run(work.path(), &["get", &addr(server.port()), "new"]);
    assert!(stderr_of(&out).contains("\"new\" is a folder: add -r"), "{}", stderr_of(&out));
}

#[test]
fn one_unreadable_file_fails_alone_and_the_exit_status_says_so() {
    let (root, work) = (temp_dir(), temp_dir());
    make_tree(root.path());
    fs::write(root.path().join("tree/sub/locked.txt"), b"no").unwrap();
    fs::set_permissions(root.path().join("tree/sub/locked.txt"), fs::Permissions::from_mode(0o000)).unwrap();
    // As root every file is readable: the server then runs as nobody, over a tree everyone
    // may read but locked.txt.
    let server = if unsafe { libc::geteuid() } == 0 {
        let setpriv = Path::new("/usr/bin/setpriv");
        if !setpriv.exists() {
            eprintln!("skipped: running as root and no setpriv to serve as another user");
            return;
        }
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let mut command = Command::new(setpriv);
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN, "serve", "0", "--extended"])
            .args(["--bind", "127.0.0.1", "--root"])
            .arg(root.path())
            .current_dir(root.path())
            .env_clear();
        Server::spawn(command, root.path())
    } else {
        Server::start(root.path(), &["--extended"])
    };
    let out = minftp_run(work.path(), &["get", "-r", &addr(server.port()), "tree", "-o", "copy", "--retry", "0"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let stderr = stderr_of(&out);
    assert!(stderr.contains("cannot download \"tree/sub/locked.txt\""), "{stderr}");
    assert!(summary(&out).starts_with("downloaded 5 files") && summary(&out).ends_with("1 failed"), "{stderr}");
    assert!(stderr.contains("1 of 6 files failed"), "{stderr}");
    assert!(!work.path().join("copy/sub/locked.txt").exists());
    fs::remove_file(root.path().join("tree/sub/locked.txt")).unwrap();
    assert_same_tree(&work.path().join("copy"), &root.path().join("tree"));
    // No temporary is left anywhere.
    assert!(tree_of(&work.path().join("copy")).keys().all(|k| !k.contains(".minftp-part")));
}

/// `minftp serve --extended --user alice` serving `root`, with `password`.
fn server_for_alice(root: &Path, password: &str) -> Server {
    let mut command = minftp(root);
    command.args(["serve", "0", "--extended", "--user", "alice", "--bind", "127.0.0.1", "--root"]).arg(root);
    command.env("MINFTP_PASSWORD", password);
    Server::spawn(command, root)
}

#[test]
fn logins_come_from_netrc_and_a_refused_one_names_the_user() {
    let (root, work) = (temp_dir(), temp_dir());
    fs::write(root.path().join("f.txt"), b"secret stuff").unwrap();
    let server = server_for_alice(root.path(), "s3cret");
    let netrc = work.path().join("logins");
    fs::write(&netrc, "machine other login bob password x\nmachine 127.0.0.1\n login alice\n password s3cret\n")
        .unwrap();
    let out = minftp_run(work.path(), &["get", "--netrc-file", "logins", &addr(server.port()), "f.txt"]);
    assert_ok(&out);
    assert_eq!(fs::read(work.path().join("f.txt")).unwrap(), b"secret stuff");
    // ~/.netrc when HOME is set; ls too.
    fs::write(work.path().join(".netrc"), fs::read(&netrc).unwrap()).unwrap();
    let out = minftp(work.path()).env("HOME", work.path()).args(["ls", &addr(server.port())]).output().unwrap();
    assert_ok(&out);
    assert_eq!(out.stdout, b"f.txt\n");
    // No login: anonymous is refused, and the message names it and says what to do.
    let out = minftp_run(work.path(), &["get", &addr(server.port()), "f.txt", "-o", "x"]);
    let stderr = stderr_of(&out);
    assert!(stderr.contains("the login as \"anonymous\"") && stderr.contains("--user"), "{stderr}");
    let out = minftp_run(work.path(), &["ls", "--user", "alice", "--password", "wrong", &addr(server.port())]);
    let stderr = stderr_of(&out);
    assert!(stderr.contains("the login as \"alice\"") && !stderr.contains("wrong"), "{stderr}");
    assert_no_repeated_lines(&stderr);
}

#[track_caller]
fn assert_no_repeated_lines(stderr: &str) {
    let mut lines: Vec<_> = stderr.lines().collect();
    lines.sort();
    lines.dedup();
    assert_eq!(lines.len(), stderr.lines().count(), "a line is repeated:\n{stderr}");
}

#[test]
fn a_user_without_a_password_is_asked_for_it_without_echo() {
    let (root, work) = (temp_dir(), temp_dir());
    fs::write(root.path().join("f.txt"), b"for alice").unwrap();
    let server = server_for_alice(root.path(), "typed-secret");
    let (controller, terminal) = pseudo_terminal();
    let url = format!("ftp://alice@127.0.0.1:{}/f.txt", server.port());
    let mut child = minftp(work.path())
        .args(["get", &url])
        .stdin(Stdio::from(terminal.try_clone().unwrap()))
        .stdout(Stdio::null())
        .stderr(Stdio::from(terminal))
        .spawn()
        .unwrap();
    let mut input = fs::File::from(controller.try_clone().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    drain_into(fs::File::from(controller), seen.clone());
    let deadline = Instant::now() + Duration::from_secs(10);
    let prompt = "Password for alice@127.0.0.1: ";
    while !String::from_utf8_lossy(&seen.lock().unwrap()).contains(prompt) {
        assert!(Instant::now() < deadline, "no prompt: {:?}", String::from_utf8_lossy(&seen.lock().unwrap()));
        thread::sleep(Duration::from_millis(20));
    }
    input.write_all(b"typed-secret\r").unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the client did not finish");
        thread::sleep(Duration::from_millis(20));
    };
    thread::sleep(Duration::from_millis(100));
    let screen = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(status.success(), "{screen}");
    assert_eq!(fs::read(work.path().join("f.txt")).unwrap(), b"for alice");
    assert!(!screen.contains("typed-secret"), "the password was echoed: {screen}");
}

#[test]
fn errors_say_what_happened() {
    let work = temp_dir();
    // Nothing listening: said at once, without retries.
    let refused = RefusedPort::new();
    let started = Instant::now();
    let out = minftp_run(work.path(), &["get", &addr(refused.port), "f.txt"]);
    let stderr = stderr_of(&out);
    assert!(stderr.contains("(is the server running?)") && !stderr.contains("log in"), "{stderr}");
    assert!(!stderr.contains("attempt 2") && started.elapsed() < Duration::from_secs(5), "{stderr}");

    // A server that never answers: a timeout in seconds, not an OS error number.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let out = minftp_run(work.path(), &["get", "--timeout", "1", "--retry", "0", &addr(port), "f.txt"]);
    let stderr = stderr_of(&out);
    assert!(stderr.contains("no reply within 1 s") && !stderr.contains("os error"), "{stderr}");
    assert_no_repeated_lines(&stderr);

    // 552 during STOR is shown as the server said it.
    fs::write(work.path().join("big.bin"), binary_content(4_000_000)).unwrap();
    let (port, fake) = scripted_server(Script {
        listing: Vec::new(),
        mlsd: false,
        stor_refusal: Some("552 Disk full\r\n"),
        listing_copies: 1,
    });
    let out = minftp_run(work.path(), &["put", "--retry", "0", &addr(port), "big.bin"]);
    fake.join().unwrap();
    let stderr = stderr_of(&out);
    assert!(stderr.contains("552 Disk full"), "{stderr}");
    assert!(!stderr.contains("reset") && !stderr.contains("Broken pipe") && !stderr.contains("os error"), "{stderr}");

    // A put into a folder the server does not have says so; --create-dirs makes it.
    let root = temp_dir();
    let server = Server::start(root.path(), &["--writable"]);
    fs::write(work.path().join("n.txt"), b"n").unwrap();
    let out = minftp_run(work.path(), &["put", &addr(server.port()), "n.txt", "no/such/n.txt"]);
    let stderr = stderr_of(&out);
    assert!(stderr.contains("the folder \"no/such\" does not exist on the server (add --create-dirs"), "{stderr}");
    assert!(!stderr.contains("does not accept uploads"), "{stderr}");
    let out = minftp_run(work.path(), &["put", "--create-dirs", &addr(server.port()), "n.txt", "no/such/n.txt"]);
    assert_ok(&out);
    assert_eq!(fs::read(root.path().join("no/such/n.txt")).unwrap(), b"n");
}

#[test]
fn eight_connections_share_a_tree_with_one_bar_and_a_line_per_file() {
    let (root, work) = (temp_dir(), temp_dir());
    for i in 0..24 {
        fs::create_dir_all(root.path().join(format!("t/d{}", i % 3))).unwrap();
        fs::write(root.path().join(format!("t/d{}/f{i:02}", i % 3)), binary_content(10_000 + i)).unwrap();
    }
    let server = Server::start(root.path(), &["--extended"]);
    let out = minftp(work.path())
        .env("MINFTP_FORCE_PROGRESS", "1")
        .args(["get", "-r", "-j", "8", &addr(server.port()), "t"])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_same_tree(&work.path().join("t"), &root.path().join("t"));
    let transcript = String::from_utf8_lossy(&server.transcript()).into_owned();
    assert_eq!(transcript.matches("USER anonymous").count(), 8, "sessions: {transcript}");
    let stderr = stderr_of(&out);
    assert!(stderr.contains("/24 files"), "one bar counting files: {stderr}");
    assert!(stderr.contains("downloaded t/d1/f07"), "a line per file: {stderr}");
    assert!(stderr.contains("downloaded 24 files ("), "{stderr}");

    // A server that lets one client hold only 2 sessions: the refused workers leave their
    // folders and files to the others, and everything still arrives.
    let capped = Server::start(root.path(), &["--extended", "--max-per-ip", "2"]);
    let out = minftp_run(work.path(), &["get", "-r", "-j", "8", &addr(capped.port()), "t", "-o", "capped"]);
    assert_ok(&out);
    assert_same_tree(&work.path().join("capped"), &root.path().join("t"));
    assert!(
        summary(&out).starts_with("downloaded 24 files") && !summary(&out).contains("failed"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn verbose_numbers_each_parallel_connections_dialogue() {
    let (root, work) = (temp_dir(), temp_dir());
    for i in 0..6 {
        fs::create_dir_all(root.path().join("t")).unwrap();
        fs::write(root.path().join(format!("t/f{i}")), binary_content(1000 + i)).unwrap();
    }
    let server = Server::start(root.path(), &["--extended"]);
    let out = minftp_run(work.path(), &["get", "-v", "-r", "-j", "2", &addr(server.port()), "t"]);
    assert_ok(&out);
    assert_same_tree(&work.path().join("t"), &root.path().join("t"));
    let stderr = stderr_of(&out);
    // The connections' lines interleave; each line names its connection.
    for number in [1, 2] {
        for line in [format!("[{number}] > USER anonymous"), format!("[{number}] < 331 ")] {
            assert!(stderr.contains(&line), "{line:?} in: {stderr}");
        }
    }
    assert!(!stderr.contains("[3] "), "two connections: {stderr}");
    // Every line of the dialogue is whole: a number, a marker, the text.
    let dialogue = stderr.lines().filter(|line| line.starts_with('['));
    assert!(dialogue.clone().count() > 20, "{stderr}");
    for line in dialogue {
        assert!(line.starts_with("[1] ") || line.starts_with("[2] "), "{line:?}");
        assert!(matches!(&line[4..6], "> " | "< " | "* "), "{line:?}");
    }
    let out = minftp_run(work.path(), &["get", "-v", "-q", &addr(server.port()), "t/f0"]);
    assert_eq!(out.status.code(), Some(2), "-v and -q contradict each other");
    // A server's escape sequences reach the terminal escaped, in the dialogue too.
    let refusal = "552 \x1b]0;owned\x07\x1b[2J full\r\n";
    let (port, server) =
        scripted_server(Script { listing: Vec::new(), mlsd: false, stor_refusal: Some(refusal), listing_copies: 1 });
    fs::write(work.path().join("up.bin"), b"bytes").unwrap();
    let out = minftp_run(work.path(), &["put", "-v", "--retry", "0", &addr(port), "up.bin", "up.bin"]);
    server.join().unwrap();
    let stderr = stderr_of(&out);
    assert!(!out.status.success() && stderr.contains("[1] < 552 "), "{stderr}");
    assert!(!stderr.contains('\x1b') && !stderr.contains('\x07'), "{stderr:?}");
}

#[test]
fn a_tree_download_continues_partial_files_with_continue() {
    let (root, work) = (temp_dir(), temp_dir());
    make_tree(root.path());
    let whole = fs::read(root.path().join("tree/sub/r.bin")).unwrap();
    fs::create_dir_all(work.path().join("tree/sub")).unwrap();
    fs::write(work.path().join("tree/sub/r.bin"), &whole[..100_000]).unwrap();
    let server = Server::start(root.path(), &["--extended"]);
    let out = minftp_run(work.path(), &["get", "-r", "--continue", &addr(server.port()), "tree"]);
    assert_ok(&out);
    assert_same_tree(&work.path().join("tree"), &root.path().join("tree"));
    let transcript = String::from_utf8_lossy(&server.transcript()).into_owned();
    assert!(transcript.contains("REST 100000"), "continued where it stopped: {transcript}");
}

#[test]
fn a_windows_server_listing_reads_as_any_other() {
    let work = temp_dir();
    let listing =
        b"11-29-26  09:05AM       <DIR>          My Folder\r\n11-29-26  12:30PM                    1 data file.csv\r\n";
    let (port, fake) = listing_server_with(listing.to_vec(), false);
    let out = minftp_run(work.path(), &["ls", "-l", &addr(port), "d"]);
    fake.join().unwrap();
    assert_ok(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "d            -  2026-11-29 09:05  My Folder\n-            1  2026-11-29 12:30  data file.csv\n"
    );
    let (port, fake) = listing_server_with(listing.to_vec(), false);
    let out = minftp_run(work.path(), &["ls", "--json", &addr(port), "d"]);
    fake.join().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(r#"{"name":"data file.csv","type":"file","size":1,"modified":"2026-11-29T12:30:00Z"}"#)
    );
}

#[test]
fn trees_move_over_tls_past_the_tickets_one_session_holds() {
    let (root, work, data) = (temp_dir(), temp_dir(), temp_dir());
    for i in 0..30 {
        fs::create_dir_all(work.path().join("up/inner")).unwrap();
        fs::write(work.path().join(format!("up/inner/f{i:02}")), format!("file {i}")).unwrap();
    }
    let mut command = minftp(root.path());
    command.args(["serve", "0", "--writable", "--tls", "--bind", "127.0.0.1", "--root"]).arg(root.path());
    command.env("XDG_DATA_HOME", data.path());
    let server = Server::spawn(command, root.path());
    // 30 uploads on 2 sessions: more than the tickets a session gets (minftp's server gives
    // none on upload connections), so sessions are renewed on 522 and every file arrives.
    let out = minftp_run(work.path(), &["put", "-r", "--tls", "-k", "-j", "2", &addr(server.port()), "up", "copy"]);
    assert_ok(&out);
    assert_same_tree(&root.path().join("copy"), &work.path().join("up"));
    let out =
        minftp_run(work.path(), &["get", "-r", "--tls", "-k", "-j", "2", &addr(server.port()), "copy", "-o", "back"]);
    assert_ok(&out);
    assert_same_tree(&work.path().join("back"), &work.path().join("up"));
    let out = minftp_run(work.path(), &["ls", "--tls", "-k", &addr(server.port()), "copy/inner"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 30);
}

#[test]
fn on_a_terminal_ls_escapes_control_bytes_in_names() {
    let work = temp_dir();
    // A fake server, since minftp's own escapes such names before sending them.
    let (port, fake) = listing_server(b"type=file;size=0; evil\x1b[2Jname\r\n".to_vec());
    let (controller, terminal) = pseudo_terminal();
    let screen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    drain_into(fs::File::from(controller), screen.clone());
    let status = minftp(work.path())
        .args(["ls", &addr(port), "d"])
        .stdout(Stdio::from(terminal))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    fake.join().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !String::from_utf8_lossy(&screen.lock().unwrap()).contains("name") {
        assert!(Instant::now() < deadline, "nothing on the screen");
        thread::sleep(Duration::from_millis(20));
    }
    let shown = screen.lock().unwrap().clone();
    assert!(!shown.contains(&0x1b), "a raw escape reached the terminal: {shown:?}");
    assert!(String::from_utf8_lossy(&shown).contains("evil\\x1b[2Jname"), "{}", String::from_utf8_lossy(&shown));
}

#[test]
fn messages_on_standard_error_escape_control_bytes_a_server_chose() {
    let work = temp_dir();
    // A symlink is skipped, and the line that says so names it.
    let listing = b"type=OS.unix=slink:/x; evil\x1b[2Jname\r\ntype=file;size=1; fine\r\n".to_vec();
    let (port, fake) = listing_server(listing);
    let out = minftp_run(work.path(), &["get", "-r", "-j", "1", &addr(port), "d", "-o", "got"]);
    fake.join().unwrap();
    assert_ok(&out);
    assert!(!out.stderr.contains(&0x1b), "a raw escape reached standard error: {}", stderr_of(&out));
    assert!(stderr_of(&out).contains("evil\\x1b[2Jname (a symlink on the server"), "{}", stderr_of(&out));
    assert_eq!(fs::read(work.path().join("got/fine")).unwrap(), b"x");
}

#[test]
fn a_listing_without_end_is_stopped_with_an_error() {
    let work = temp_dir();
    let line = b"type=file;size=1; a-name-of-forty-bytes-or-so-to-fill-it\r\n";
    let chunk = line.repeat(64 * 1024 / line.len());
    // About 1 GiB if it were all read: more than any listing is let take.
    let (port, fake) =
        scripted_server(Script { listing: chunk.clone(), mlsd: true, stor_refusal: None, listing_copies: 16_384 });
    let started = Instant::now();
    let out = minftp_run(work.path(), &["ls", &addr(port), "d"]);
    fake.join().unwrap();
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("the listing is over 256 MiB"), "{}", stderr_of(&out));
    assert!(out.stdout.is_empty(), "nothing listed from a cut-off listing");
    assert!(started.elapsed() < Duration::from_secs(60), "{:?}", started.elapsed());
}

#[test]
fn a_batch_download_broken_three_times_continues_where_each_attempt_stopped() {
    use common::peers::{Fake, fake_server};
    let work = temp_dir();
    let content = binary_content(1_000_000);
    // Each of the first 3 sessions sends 300,000 bytes from where REST says, then the
    // server dies; the 4th is served whole.
    let fake = Fake { die_after: Some(300_000), healthy_from: 3, ..Fake::serving(content.clone(), 4) };
    let offsets = fake.retr_offsets.clone();
    let (port, server) = fake_server(fake);
    let out = minftp_run(
        work.path(),
        &["get", "--newer", "--retry", "5", "--retry-delay", "0", &addr(port), "f.bin", "-o", "got"],
    );
    server.join().unwrap();
    assert_ok(&out);
    assert!(fs::read(work.path().join("got")).unwrap() == content, "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("attempt 4 of 6"), "{}", stderr_of(&out));
    // Each attempt asked for the rest only (REST), never the whole file again.
    assert_eq!(*offsets.lock().unwrap(), [0, 300_000, 600_000, 900_000]);
}
