//! The lab client at a terminal (issue 14): a banner naming the folder and HELP, the
//! `ftp> ` prompt, and line editing with history, driven through a pseudo-terminal.

mod common;

use common::*;
use std::fs::File;
use std::io::{Read, Write};
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn at_a_terminal_the_lab_client_greets_prompts_and_recalls_history() {
    let dir = temp_dir();
    let (controller, terminal) = pseudo_terminal();
    let mut child = minftp(dir.path())
        .args(["client", "--lab"])
        .env("TERM", "xterm")
        .stdin(Stdio::from(terminal.try_clone().unwrap()))
        .stdout(Stdio::from(terminal.try_clone().unwrap()))
        .stderr(Stdio::from(terminal))
        .spawn()
        .unwrap();
    let mut input = File::from(controller.try_clone().unwrap());
    let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    drain_into(File::from(controller), output.clone());
    let wait_for = |needle: &str, count: usize| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = String::from_utf8_lossy(&output.lock().unwrap()).into_owned();
            if text.matches(needle).count() >= count {
                return text;
            }
            assert!(Instant::now() < deadline, "no {needle:?} ({count}x) on the screen:\n{text}");
            thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for("ftp> ", 1);
    input.write_all(b"help\r").unwrap();
    wait_for("commands (any case):", 1);
    // Up-arrow recalls the last line; Enter runs it again.
    input.write_all(b"\x1b[A\r").unwrap();
    wait_for("commands (any case):", 2);
    input.write_all(b"quit\r").unwrap();
    let status = {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the client did not leave");
            thread::sleep(Duration::from_millis(20));
        }
    };
    let text = wait_for("bye", 1);
    drop(input);
    assert!(status.success(), "{status}\n{text}");
    assert!(text.contains("minftp lab client: files go to and come from \"client\"; type HELP"), "{text}");
    assert!(!text.contains("^[[A"), "the arrow key was taken as an edit, not printed: {text}");
}

/// Issue 14: `get -o -` on a terminal refuses a binary file (curl does too) and shows text.
#[test]
fn get_to_a_terminal_refuses_binary_and_shows_text() {
    let root = temp_dir();
    write_file(root.path(), "binary.bin", &binary_content(10_000));
    write_file(root.path(), "notes.txt", b"plain words\n");
    let server = Server::start(root.path(), &["--extended"]);
    let addr = format!("127.0.0.1:{}", server.port());
    for (name, refused) in [("binary.bin", true), ("notes.txt", false)] {
        let (controller, terminal) = pseudo_terminal();
        let child = minftp(root.path())
            .args(["get", &addr, name, "-o", "-", "-q"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(terminal))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = wait_bounded(child, Duration::from_secs(20));
        let mut screen = Vec::new();
        let mut controller = File::from(controller);
        let mut buffer = [0u8; 65536];
        // SAFETY: fcntl on our own descriptor, so that reading what is there does not wait.
        unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&controller), libc::F_SETFL, libc::O_NONBLOCK) };
        while let Ok(n) = controller.read(&mut buffer) {
            if n == 0 {
                break;
            }
            screen.extend_from_slice(&buffer[..n]);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if refused {
            assert_eq!(out.status.code(), Some(1), "{stderr}");
            assert!(stderr.contains("looks binary"), "{stderr}");
            assert!(!screen.contains(&0), "no binary reached the terminal");
        } else {
            assert!(out.status.success(), "{stderr}");
            assert!(String::from_utf8_lossy(&screen).contains("plain words"));
        }
    }
}
