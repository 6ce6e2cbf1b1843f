//! The command line itself: help, version, and features not built yet.

mod common;

use common::*;

/// Changed with issue 14: minftp's own usage errors exit with 2, as clap's do (they exited
/// with 1, the status of a failure while running).
#[test]
fn usage_errors_are_one_clear_line_with_exit_status_2() {
    let dir = temp_dir();
    for (args, says) in [
        (&["get", "h:99999", "f"][..], "bad port"),
        (&["get", "127.0.0.1:1"], "name the remote file"),
        (&["serve", "0", "--user", "a", "--password", "b"], "--extended"),
        // Changed with issue 11: the message names the TLS schemes too.
        (&["put", "http://h/x", "f"], "ftp://, ftpes:// or ftps:// URL"),
        (&["serve", "0", "--tls"], "TLS applies to the extended dialect"),
        (&["get", "--pin-sha256", &"ab".repeat(32), "h", "f"], "need --tls or an ftpes:// or ftps:// URL"),
    ] {
        let out = run_with_input(dir.path(), args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(says) && stderr.lines().count() == 1 && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn stdin_mode_refuses_the_extended_flags() {
    let out = run_with_input(temp_dir().path(), &["serve", "--stdin", "--extended"], b"");
    assert_eq!(out.status.code(), Some(2), "clap reports the conflict");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}

#[test]
fn help_lists_every_subcommand() {
    let out = run_with_input(temp_dir().path(), &["--help"], b"");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for sub in ["serve", "client", "get", "put", "completions"] {
        assert!(help.contains(sub), "{sub} missing from --help");
    }
}

/// Issue 18.5: numbers near u64::MAX were accepted and then made every session panic.
/// Every numeric flag is checked at start, with a message naming the flag and its range.
#[test]
fn attack_18_5_out_of_range_numbers_are_refused_at_start() {
    let dir = temp_dir();
    let huge = u64::MAX.to_string();
    for (args, flag) in [
        (vec!["serve", "0", "--idle-timeout", &huge], "--idle-timeout"),
        (vec!["serve", "0", "--data-timeout", &huge], "--data-timeout"),
        (vec!["serve", "0", "--max-clients", "0"], "--max-clients"),
        (vec!["serve", "0", "--max-line", "99999999999"], "--max-line"),
        (vec!["client", "--timeout", &huge], "--timeout"),
        (vec!["get", "127.0.0.1:1", "f", "--timeout", "0"], "--timeout"),
        (vec!["get", "127.0.0.1:1", "f", "--retry", "1000"], "--retry"),
    ] {
        let out = run_with_input(dir.path(), &args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag) && !stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// Issue 16.5: CR, LF or NUL in a URL, a REMOTE or a login would smuggle a second command
/// (`DELE important.txt`) onto the control connection. They are refused before connecting.
#[test]
fn attack_16_5_line_breaks_in_urls_and_names_are_refused_before_connecting() {
    let dir = temp_dir();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("ftp://127.0.0.1:{port}/a.txt%0D%0ADELE%20important.txt");
    let user_url = format!("ftp://us%0Aer@127.0.0.1:{port}/a.txt");
    let addr = format!("127.0.0.1:{port}");
    for args in [
        vec!["get", url.as_str()],
        vec!["get", user_url.as_str()],
        vec!["get", addr.as_str(), "a.txt\r\nDELE important.txt"],
        vec!["get", addr.as_str(), "a.txt", "--user", "x\nDELE y", "--password", "p"],
        vec!["put", addr.as_str(), "Cargo.toml", "b\r\nDELE important.txt"],
    ] {
        let out = run_with_input(dir.path(), &args, b"");
        assert_eq!(out.status.code(), Some(2), "a usage error: {args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("cannot be sent in an FTP command"), "{args:?}: {stderr}");
    }
    assert!(listener.accept().is_err(), "nothing was sent");
}

/// One exit-status convention: 2 for how minftp was called, 1 for a failure while it ran.
#[test]
fn usage_errors_exit_2_and_failures_exit_1() {
    let dir = temp_dir();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    for (args, status) in [
        (vec!["get".to_string()], 2),
        (vec!["serve".into(), "0".into(), "--banner".into(), "x".into()], 2),
        (vec!["get".into(), format!("127.0.0.1:{closed}"), "f".into(), "--retry".into(), "0".into()], 1),
        (vec!["put".into(), "127.0.0.1:1".into(), "missing-local-file".into()], 1),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_with_input(dir.path(), &args, b"");
        assert_eq!(out.status.code(), Some(status), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Issue 14: every subcommand's --help ends with examples.
#[test]
fn every_subcommand_help_ends_with_examples() {
    for sub in ["serve", "client", "get", "put", "completions"] {
        let out = run_with_input(temp_dir().path(), &[sub, "--help"], b"");
        assert!(out.status.success());
        let help = String::from_utf8_lossy(&out.stdout);
        let examples = help.split("Examples:\n").nth(1).unwrap_or_else(|| panic!("{sub}: {help}"));
        assert!(examples.lines().filter(|l| l.trim_start().starts_with("minftp ")).count() >= 2, "{sub}: {examples}");
    }
}
