//! Real FTP clients (curl, wget, lftp, Python's ftplib) with their default settings against
//! `minftp serve --extended --writable` on 127.0.0.1. Each test checks the bytes that
//! arrive (sha256 through the byte comparison) and the exit status; a test whose tool is
//! missing prints why it skipped. `.ci/run` installs the tools.

mod common;

use common::*;
use std::fs;
use std::path::Path;
use std::process::Command;

/// A served tree: big.bin (binary), notes.txt, sub/a.txt, sub/deeper/b.bin.
fn served_tree() -> (tempfile::TempDir, Vec<u8>) {
    let root = temp_dir();
    let big = binary_content(5_000_000);
    write_file(root.path(), "big.bin", &big);
    write_file(root.path(), "notes.txt", b"line one\r\nline two\n");
    write_file(root.path(), "sub/a.txt", b"a");
    write_file(root.path(), "sub/deeper/b.bin", &binary_content(70_000));
    (root, big)
}

fn start(root: &Path) -> Server {
    Server::start(root, &["--writable"])
}

#[test]
fn curl_downloads_passive_active_and_resumed() {
    let (root, big) = served_tree();
    let server = start(root.path());
    let work = temp_dir();
    let url = format!("ftp://127.0.0.1:{}/big.bin", server.port());
    let Some(out) = run_tool(work.path(), "curl", &["-sS", "-o", "passive.bin", &url]) else { return };
    assert_success(&out, "curl passive download");
    assert!(fs::read(work.path().join("passive.bin")).unwrap() == big);

    let out = run_tool(work.path(), "curl", &["-sS", "-P", "-", "-o", "active.bin", &url]).unwrap();
    assert_success(&out, "curl active download");
    assert!(fs::read(work.path().join("active.bin")).unwrap() == big);

    fs::write(work.path().join("resumed.bin"), &big[..1_234_567]).unwrap();
    let out = run_tool(work.path(), "curl", &["-sS", "-C", "-", "-o", "resumed.bin", &url]).unwrap();
    assert_success(&out, "curl resumed download");
    assert!(fs::read(work.path().join("resumed.bin")).unwrap() == big);
}

#[test]
fn curl_uploads_and_lists() {
    let (root, _) = served_tree();
    let server = start(root.path());
    let work = temp_dir();
    let upload = binary_content(3_000_001);
    fs::write(work.path().join("up.bin"), &upload).unwrap();
    let url = format!("ftp://127.0.0.1:{}/", server.port());
    let Some(out) = run_tool(work.path(), "curl", &["-sS", "-T", "up.bin", &url]) else { return };
    assert_success(&out, "curl upload");
    assert!(fs::read(root.path().join("up.bin")).unwrap() == upload);

    let out = run_tool(work.path(), "curl", &["-sS", &format!("{url}sub/")]).unwrap();
    assert_success(&out, "curl listing");
    let listing = String::from_utf8_lossy(&out.stdout);
    // curl turns the CR LF of an ASCII-mode listing into LF, so compare lines.
    let names: Vec<&str> = listing.lines().filter_map(|line| line.trim_end().rsplit(' ').next()).collect();
    assert_eq!(names, ["a.txt", "deeper"], "{listing}");
    assert!(listing.starts_with("-rw") || listing.starts_with("drw"), "{listing}");
}

#[test]
fn wget_downloads_a_file_and_a_tree() {
    let (root, big) = served_tree();
    let server = start(root.path());
    let work = temp_dir();
    let base = format!("ftp://127.0.0.1:{}", server.port());
    let Some(out) = run_tool(work.path(), "wget", &["-q", &format!("{base}/big.bin")]) else { return };
    assert_success(&out, "wget download");
    assert!(fs::read(work.path().join("big.bin")).unwrap() == big);

    let out = run_tool(work.path(), "wget", &["-q", "-r", "-nH", &format!("{base}/sub/")]).unwrap();
    assert_success(&out, "wget -r");
    assert_eq!(fs::read(work.path().join("sub/a.txt")).unwrap(), b"a");
    assert_eq!(
        fs::read(work.path().join("sub/deeper/b.bin")).unwrap(),
        fs::read(root.path().join("sub/deeper/b.bin")).unwrap()
    );
}

#[test]
fn lftp_gets_puts_lists_and_mirrors() {
    let (root, big) = served_tree();
    let server = start(root.path());
    let work = temp_dir();
    let upload = binary_content(2_000_003);
    fs::write(work.path().join("local.bin"), &upload).unwrap();
    let script = "set cmd:fail-exit yes; set net:max-retries 1; ls; get big.bin -o got.bin; \
                  put local.bin -o sub/put.bin; mirror sub mirrored; quit";
    let port = server.port().to_string();
    let Some(out) = run_tool(work.path(), "lftp", &["-p", &port, "-e", script, "127.0.0.1"]) else { return };
    assert_success(&out, "lftp session");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains(" big.bin") && listing.contains(" sub"), "{listing}");
    assert!(fs::read(work.path().join("got.bin")).unwrap() == big);
    assert!(fs::read(root.path().join("sub/put.bin")).unwrap() == upload);
    assert!(fs::read(work.path().join("mirrored/put.bin")).unwrap() == upload);
    assert_eq!(
        fs::read(work.path().join("mirrored/deeper/b.bin")).unwrap(),
        fs::read(root.path().join("sub/deeper/b.bin")).unwrap()
    );
}

#[test]
fn python_ftplib_transfers_and_lists_in_both_modes() {
    let (root, big) = served_tree();
    let server = start(root.path());
    let work = temp_dir();
    let script = r#"
import ftplib, hashlib, io, sys
port = int(sys.argv[1])
for passive in (True, False):
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", port, timeout=20)
    ftp.login()
    ftp.set_pasv(passive)
    got = io.BytesIO()
    ftp.retrbinary("RETR big.bin", got.write)
    print("retr", passive, hashlib.sha256(got.getvalue()).hexdigest())
    ftp.storbinary("STOR stored-%s.bin" % passive, io.BytesIO(bytes(range(256)) * 1000))
    print("nlst", passive, ",".join(sorted(ftp.nlst())))
    print("mlsd", passive, ",".join(name + ":" + facts["type"] for name, facts in ftp.mlsd("sub")))
    ftp.quit()
"#;
    let port = server.port().to_string();
    let Some(out) = run_tool(work.path(), "python3", &["-c", script, &port]) else { return };
    assert_success(&out, "ftplib session");
    let printed = String::from_utf8_lossy(&out.stdout);
    let digest = sha256_hex(&big);
    for passive in ["True", "False"] {
        assert!(printed.contains(&format!("retr {passive} {digest}")), "{printed}");
        assert!(printed.contains(&format!("mlsd {passive} a.txt:file,deeper:dir")), "{printed}");
        let stored = fs::read(root.path().join(format!("stored-{passive}.bin"))).unwrap();
        assert!(stored == (0..=255u8).cycle().take(256_000).collect::<Vec<_>>());
    }
    assert!(printed.contains("nlst False big.bin,notes.txt,stored-False.bin,stored-True.bin,sub"), "{printed}");
}

/// The sha256 of `bytes`, by `sha256sum` (coreutils), as hex.
fn sha256_hex(bytes: &[u8]) -> String {
    let dir = temp_dir();
    fs::write(dir.path().join("f"), bytes).unwrap();
    let out = Command::new("sha256sum").arg("f").current_dir(dir.path()).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string()
}
