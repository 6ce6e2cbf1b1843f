//! `minftp serve --stdin` (Homework 1 mode) on hand-written inputs, checked byte for byte.

mod common;

use common::*;
use std::fs;

const GREETING: &str = "220 COMP 431 FTP server ready.\r\n";
const LOGIN: &str = "USER anonymous\r\nPASS guest@\r\n";
const LOGIN_ECHO: &str =
    "USER anonymous\r\n331 Guest access OK, send password.\r\nPASS guest@\r\n230 Guest login OK.\r\n";

fn serve_stdin(dir: &std::path::Path, input: &[u8]) -> Vec<u8> {
    let out = run_with_input(dir, &["serve", "--stdin"], input);
    assert!(out.status.success(), "exit {:?}; stderr: {}", out.status, String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn greeting_then_echo_then_reply_for_every_line() {
    let dir = temp_dir();
    let got = serve_stdin(dir.path(), b"NOOP\r\nXYZ\r\n");
    let want = format!("{GREETING}NOOP\r\n530 Not logged in.\r\nXYZ\r\n500 Syntax error, command unrecognized.\r\n");
    assert_transcript(&got, want.as_bytes());
}

#[test]
fn a_last_line_without_lf_is_echoed_and_answered_on_the_same_line() {
    let dir = temp_dir();
    let got = serve_stdin(dir.path(), b"NOOP");
    assert_transcript(&got, format!("{GREETING}NOOP501 Syntax error in parameter.\r\n").as_bytes());
}

#[test]
fn lines_after_a_valid_quit_get_no_output() {
    let dir = temp_dir();
    let got = serve_stdin(dir.path(), b"QUIT\r\nUSER a\r\nNOOP\r\n");
    assert_transcript(&got, format!("{GREETING}QUIT\r\n200 Command OK.\r\n").as_bytes());
}

#[test]
fn an_invalid_quit_does_not_stop_the_session() {
    let dir = temp_dir();
    let got = serve_stdin(dir.path(), b"QUIT \r\nquit\r\n");
    let want = format!("{GREETING}QUIT \r\n501 Syntax error in parameter.\r\nquit\r\n200 Command OK.\r\n");
    assert_transcript(&got, want.as_bytes());
}

#[test]
fn an_over_long_line_is_echoed_whole_and_answered_500_without_changing_state() {
    let dir = temp_dir();
    let long = format!("USER {}\r\n", "x".repeat(20_000));
    let input = format!("USER a\r\n{long}PASS b\r\n");
    let got = serve_stdin(dir.path(), input.as_bytes());
    let want = format!(
        "{GREETING}USER a\r\n331 Guest access OK, send password.\r\n{long}500 Syntax error, command unrecognized.\r\nPASS b\r\n230 Guest login OK.\r\n"
    );
    assert_transcript(&got, want.as_bytes());
}

#[test]
fn binary_junk_gets_one_reply_per_line_and_no_crash() {
    let dir = temp_dir();
    let junk: Vec<u8> = (0..=255u8).filter(|&b| b != b'\n').collect();
    let mut input = junk.clone();
    input.extend_from_slice(b"\nNOOP\r\n");
    let got = serve_stdin(dir.path(), &input);
    let mut want = GREETING.as_bytes().to_vec();
    want.extend_from_slice(&junk);
    want.extend_from_slice(b"\n500 Syntax error, command unrecognized.\r\nNOOP\r\n530 Not logged in.\r\n");
    assert_transcript(&got, &want);
}

#[test]
fn retr_copies_into_numbered_files_byte_for_byte() {
    let dir = temp_dir();
    let first = binary_content(100_000);
    write_file(dir.path(), "one.bin", &first);
    write_file(dir.path(), "sub/two.bin", b"");
    let input = format!("{LOGIN}PORT 1,2,3,4,5,6\r\nRETR one.bin\r\nPORT 1,2,3,4,5,7\r\nRETR /sub/two.bin\r\nQUIT\r\n");
    let got = serve_stdin(dir.path(), input.as_bytes());
    let want = format!(
        "{GREETING}{LOGIN_ECHO}PORT 1,2,3,4,5,6\r\n200 Port command successful (1.2.3.4,1286).\r\nRETR one.bin\r\n150 File status okay.\r\n250 Requested file action completed.\r\nPORT 1,2,3,4,5,7\r\n200 Port command successful (1.2.3.4,1287).\r\nRETR /sub/two.bin\r\n150 File status okay.\r\n250 Requested file action completed.\r\nQUIT\r\n200 Command OK.\r\n"
    );
    assert_transcript(&got, want.as_bytes());
    assert_eq!(fs::read(dir.path().join("retr_files/file1")).unwrap(), first);
    assert_eq!(fs::read(dir.path().join("retr_files/file2")).unwrap(), b"");
    let mut names: Vec<_> =
        fs::read_dir(dir.path().join("retr_files")).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    assert_eq!(names, ["file1", "file2"], "no temporary files are left");
}

#[test]
fn a_missing_file_is_550_keeps_the_port_and_copies_nothing() {
    let dir = temp_dir();
    write_file(dir.path(), "there", b"x");
    fs::create_dir(dir.path().join("folder")).unwrap();
    let input = format!("{LOGIN}PORT 1,2,3,4,5,6\r\nRETR nope\r\nRETR folder\r\nRETR ../there\r\nRETR there\r\n");
    let got = serve_stdin(dir.path(), input.as_bytes());
    let refused = "550 File not found or access denied.\r\n";
    let want = format!(
        "{GREETING}{LOGIN_ECHO}PORT 1,2,3,4,5,6\r\n200 Port command successful (1.2.3.4,1286).\r\nRETR nope\r\n{refused}RETR folder\r\n{refused}RETR ../there\r\n{refused}RETR there\r\n150 File status okay.\r\n250 Requested file action completed.\r\n"
    );
    assert_transcript(&got, want.as_bytes());
    assert_eq!(fs::read(dir.path().join("retr_files/file1")).unwrap(), b"x");
}

#[test]
fn retr_without_port_is_503_even_for_a_missing_file() {
    let dir = temp_dir();
    let got = serve_stdin(dir.path(), format!("{LOGIN}RETR nope\r\n").as_bytes());
    assert_transcript(&got, format!("{GREETING}{LOGIN_ECHO}RETR nope\r\n503 Bad sequence of commands.\r\n").as_bytes());
    assert!(!dir.path().join("retr_files").exists());
}

#[test]
fn root_flag_chooses_the_served_folder_while_files_land_in_the_working_folder() {
    let work = temp_dir();
    let served = temp_dir();
    write_file(served.path(), "f", b"served");
    let input = format!("{LOGIN}PORT 1,2,3,4,5,6\r\nRETR f\r\n");
    let root = served.path().to_str().unwrap();
    let out = run_with_input(work.path(), &["serve", "--stdin", "--root", root], input.as_bytes());
    assert!(out.status.success());
    assert_eq!(fs::read(work.path().join("retr_files/file1")).unwrap(), b"served");
}

#[test]
fn an_unwritable_retr_folder_is_a_local_error_and_the_session_goes_on() {
    let dir = temp_dir();
    write_file(dir.path(), "f", b"x");
    write_file(dir.path(), "retr_files", b"a file where the folder should be");
    let input = format!("{LOGIN}PORT 1,2,3,4,5,6\r\nRETR f\r\nNOOP\r\n");
    let out = run_with_input(dir.path(), &["serve", "--stdin"], input.as_bytes());
    let want = format!(
        "{GREETING}{LOGIN_ECHO}PORT 1,2,3,4,5,6\r\n200 Port command successful (1.2.3.4,1286).\r\nRETR f\r\n150 File status okay.\r\n451 Requested action aborted: local error in processing.\r\nNOOP\r\n200 Command OK.\r\n"
    );
    assert_transcript(&out.stdout, want.as_bytes());
    assert!(String::from_utf8_lossy(&out.stderr).contains("retr_files"), "the reason is on stderr");
}

#[test]
fn end_of_input_exits_zero() {
    let dir = temp_dir();
    let out = run_with_input(dir.path(), &["serve", "--stdin"], b"");
    assert!(out.status.success());
    assert_transcript(&out.stdout, GREETING.as_bytes());
}

/// SPEC §3.3 (revised): an invalid QUIT (and any 501 for a verb other than USER or PASS) is
/// processed "as if nothing happened": it does not cancel a pending USER.
#[test]
fn rule_3_3_an_invalid_quit_keeps_a_pending_user() {
    let dir = temp_dir();
    let got = serve_stdin(dir.path(), b"USER a\r\nQUIT x\r\nPASS b\r\nUSER c\r\nTYPE X\r\nPASS d\r\n");
    let want = format!(
        "{GREETING}USER a\r\n331 Guest access OK, send password.\r\nQUIT x\r\n501 Syntax error in parameter.\r\n\
         PASS b\r\n230 Guest login OK.\r\nUSER c\r\n331 Guest access OK, send password.\r\n\
         TYPE X\r\n501 Syntax error in parameter.\r\nPASS d\r\n230 Guest login OK.\r\n"
    );
    assert_transcript(&got, want.as_bytes());
}

/// SPEC §3.3: only a valid TYPE/SYST/NOOP/PORT/RETR (530) or an invalid USER/PASS (501)
/// cancels a pending USER.
#[test]
fn rule_3_3_what_cancels_a_pending_user() {
    let dir = temp_dir();
    let got = serve_stdin(dir.path(), b"USER a\r\nNOOP\r\nPASS b\r\nUSER a\r\nPASS\r\nPASS b\r\n");
    let want = format!(
        "{GREETING}USER a\r\n331 Guest access OK, send password.\r\nNOOP\r\n530 Not logged in.\r\n\
         PASS b\r\n530 Not logged in.\r\nUSER a\r\n331 Guest access OK, send password.\r\n\
         PASS\r\n501 Syntax error in parameter.\r\nPASS b\r\n530 Not logged in.\r\n"
    );
    assert_transcript(&got, want.as_bytes());
}

/// SPEC §3.3 (revised): a USER while logged in, and a login cancelled after it, keep the
/// pending PORT; the next RETR after logging in again uses it.
#[test]
fn rule_3_3_a_new_login_keeps_the_pending_port() {
    let dir = temp_dir();
    write_file(dir.path(), "f", b"kept");
    let input = format!("{LOGIN}PORT 1,2,3,4,5,6\r\nUSER b\r\nSYST\r\nUSER b\r\nPASS c\r\nRETR f\r\n");
    let got = serve_stdin(dir.path(), input.as_bytes());
    let want = format!(
        "{GREETING}{LOGIN_ECHO}PORT 1,2,3,4,5,6\r\n200 Port command successful (1.2.3.4,1286).\r\n\
         USER b\r\n331 Guest access OK, send password.\r\nSYST\r\n530 Not logged in.\r\n\
         USER b\r\n331 Guest access OK, send password.\r\nPASS c\r\n230 Guest login OK.\r\n\
         RETR f\r\n150 File status okay.\r\n250 Requested file action completed.\r\n"
    );
    assert_transcript(&got, want.as_bytes());
    assert_eq!(fs::read(dir.path().join("retr_files/file1")).unwrap(), b"kept");
}

/// SPEC §3.1 (revised): `<n>` is any decimal representation of 0-255, leading zeros and all.
#[test]
fn rule_3_1_port_numbers_may_have_leading_zeros() {
    let dir = temp_dir();
    let input = format!("{LOGIN}PORT 1,2,3,4,0001,1\r\nPORT 0000000127,0,00,1,0004,0000\r\nPORT 1,2,3,4,0256,1\r\n");
    let got = serve_stdin(dir.path(), input.as_bytes());
    let want = format!(
        "{GREETING}{LOGIN_ECHO}PORT 1,2,3,4,0001,1\r\n200 Port command successful (1.2.3.4,257).\r\n\
         PORT 0000000127,0,00,1,0004,0000\r\n200 Port command successful (127.0.0.1,1024).\r\n\
         PORT 1,2,3,4,0256,1\r\n501 Syntax error in parameter.\r\n"
    );
    assert_transcript(&got, want.as_bytes());
}
