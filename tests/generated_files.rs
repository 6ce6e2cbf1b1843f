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

/// Issue 14: the man pages name the commands as they are typed, carry the sections users
/// look for, refer to no page that is not shipped, and list the lab commands.
#[test]
fn man_pages_have_synopsis_examples_exit_status_environment_and_files() {
    let top = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shipped: Vec<String> = std::fs::read_dir(top.join("man"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap().trim_end_matches(".1").to_string())
        .collect();
    for page in &shipped {
        let roff = std::fs::read_to_string(top.join("man").join(format!("{page}.1"))).unwrap();
        for section in [".SH EXIT STATUS", ".SH ENVIRONMENT", ".SH FILES", ".SH SYNOPSIS"] {
            let section = section.replace("EXIT STATUS", "\"EXIT STATUS\"");
            assert!(roff.contains(&section), "{page}: no {section}");
        }
        assert!(roff.contains(".SH EXAMPLES"), "{page}: no EXAMPLES");
        for reference in
            roff.split("\\fB").skip(1).filter_map(|r| r.split_once("\\fR(1)")).map(|(name, _)| name.replace("\\-", "-"))
        {
            assert!(shipped.contains(&reference), "{page} refers to {reference}(1), which is not shipped");
        }
    }
    let get = std::fs::read_to_string(top.join("man/minftp-get.1")).unwrap();
    assert!(get.contains("\\fBminftp get\\fR [OPTIONS] <ADDR> [REMOTE]..."), "{get}");
    let client = std::fs::read_to_string(top.join("man/minftp-client.1")).unwrap();
    assert!(client.contains("OPEN PORT") && client.contains("GET NAME") && client.contains("CLOSE"), "lab commands");
}

/// Issue 14: folders complete as folders.
#[test]
fn completions_offer_folders_for_folder_options() {
    let top = Path::new(env!("CARGO_MANIFEST_DIR"));
    let zsh = std::fs::read_to_string(top.join("completions/_minftp")).unwrap();
    for option in ["--root", "--dir"] {
        let line = zsh.lines().find(|l| l.contains(&format!("'{option}="))).unwrap_or_else(|| panic!("{option}"));
        assert!(line.contains("_files -/"), "{option}: {line}");
    }
}
