//! The command line itself: help, version, and features not built yet.

mod common;

use common::*;

#[test]
fn usage_errors_are_one_clear_line_with_exit_status_1() {
    let dir = temp_dir();
    for (args, says) in [
        (&["get", "h:99999", "f"][..], "bad port"),
        (&["get", "127.0.0.1:1"], "name the remote file"),
        (&["serve", "0", "--user", "a", "--password", "b"], "--extended"),
        (&["put", "http://h/x", "f"], "ftp:// URL"),
    ] {
        let out = run_with_input(dir.path(), args, b"");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
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
