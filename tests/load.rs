//! A short version of the load run (the full one is `ftpload mixed`, bench/README.md): many
//! sessions at once doing login, RETR, STOR, LIST and QUIT with every byte checked; then
//! the server must hold no more descriptors or threads than before, and little memory.

mod common;
#[path = "../bench/load.rs"]
mod load;

use common::*;
use std::fs;
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn concurrent_mixed_sessions_lose_nothing_and_leak_nothing() {
    let root = temp_dir();
    let scratch = temp_dir();
    for (i, size) in [1024, 70_000, 300_000, 1 << 20, 3 << 20].into_iter().enumerate() {
        write_file(root.path(), &format!("file{i}.bin"), &binary_content(size));
    }
    fs::create_dir(root.path().join("upload")).unwrap();
    let server = Server::start(root.path(), &["--writable", "--max-clients", "200"]);
    let pid = server.pid();
    let files = load::served_files(root.path()).unwrap();
    // Warm up once so lazily created state (thread-local buffers, the passive range) exists.
    let warm = load::mixed_load("127.0.0.1", server.port(), 2, Duration::from_millis(200), &files, scratch.path());
    assert!(warm.failures.is_empty(), "{:?}", warm.failures);
    thread::sleep(Duration::from_millis(500));
    let before = load::ProcessUsage::of(pid).unwrap();

    let report = load::mixed_load("127.0.0.1", server.port(), 60, Duration::from_secs(5), &files, scratch.path());
    assert!(report.failures.is_empty(), "{} failures, first: {:?}", report.failures.len(), report.failures.first());
    assert!(report.sessions >= 60, "only {} sessions ran", report.sessions);

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut after = load::ProcessUsage::of(pid).unwrap();
    while (after.open_files > before.open_files || after.threads > before.threads) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
        after = load::ProcessUsage::of(pid).unwrap();
    }
    assert!(after.open_files <= before.open_files, "descriptors leaked: {before:?} -> {after:?}");
    assert!(after.threads <= before.threads, "threads leaked: {before:?} -> {after:?}");
    assert!(after.peak_rss_kib < 200 * 1024, "peak memory {} KiB", after.peak_rss_kib);
    let uploads = fs::read_dir(root.path().join("upload")).unwrap().count();
    assert_eq!(uploads, report.sessions + warm.sessions, "one upload per session, no temporary files");
}
