//! The committed completions and man pages must match what the clap definitions generate.
//! Refresh them with: `MINFTP_UPDATE_GENERATED=1 cargo test --test generated_files`.

use std::path::Path;

#[test]
fn committed_completions_and_man_pages_are_current() {
    let top = Path::new(env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("MINFTP_UPDATE_GENERATED").is_some() {
        minftp::cli::write_generated_files(top).unwrap();
    }
    let mut stale = Vec::new();
    for (path, want) in minftp::cli::generated_files() {
        if std::fs::read(top.join(&path)).ok().as_deref() != Some(want.as_slice()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files: {stale:?}\nrefresh them with: MINFTP_UPDATE_GENERATED=1 cargo test --test generated_files"
    );
}

#[test]
fn completions_subcommand_prints_the_committed_script() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_minftp")).args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    let committed = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("completions/minftp.bash")).unwrap();
    assert!(out.stdout == committed, "`minftp completions bash` differs from completions/minftp.bash");
}
