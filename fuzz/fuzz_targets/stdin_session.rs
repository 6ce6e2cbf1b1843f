//! Fuzz target: the whole `serve --stdin` session on any input; it must end without panic
//! and print the greeting first.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use minftp::server::sandbox::Root;
use minftp::server::session::Policy;
use minftp::server::{Limits, ServerConfig};
use minftp::transcript::{SharedBuffer, Transcript};

fn folder() -> &'static tempfile::TempDir {
    static FOLDER: OnceLock<tempfile::TempDir> = OnceLock::new();
    FOLDER.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"file").unwrap();
        dir
    })
}

fuzz_target!(|input: &[u8]| {
    let dir = folder();
    let config = ServerConfig {
        root: Root::new(dir.path()).unwrap(),
        limits: Limits { max_line: 64, ..Limits::default() },
        policy: Policy::comp431(),
        passive_ports: None,
        operation: Default::default(),
    };
    let out = SharedBuffer::default();
    minftp::server::stdin::run(&config, input, &Transcript::new(out.clone()), &dir.path().join("retr")).unwrap();
    assert!(out.contents().starts_with(b"220 COMP 431 FTP server ready.\r\n"));
});
