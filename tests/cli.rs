//! The command line itself: help, version, and features not built yet.

mod common;

use common::*;

#[test]
fn features_not_built_yet_say_so_with_exit_status_2() {
    let dir = temp_dir();
    for args in [&["get", "127.0.0.1:1", "f"][..], &["put", "127.0.0.1:1", "f"]] {
        let out = run_with_input(dir.path(), args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("not built yet") && stderr.lines().count() == 1, "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
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
