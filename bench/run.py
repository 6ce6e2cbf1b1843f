#!/usr/bin/env python3
"""minftp against pyftpdlib, vsftpd and curl, side by side in one run (bench/README.md).

usage: python3 bench/run.py [--quick] [--runs N] [--sessions LIST] [--concurrent-only] [--tls] [--tree] [--dir DIR] [--json FILE]

Builds minftp and the load client (cargo build --release), checks for pyftpdlib, vsftpd and
curl (it installs nothing: a missing peer is reported and skipped), makes random test files
in a temporary folder, runs every scenario several times alternating the servers, and prints
a table of medians and minftp/peer ratios. All traffic stays on 127.0.0.1.
--quick uses small files and few runs: CI runs it so the bench cannot rot; it checks that
every scenario works and every transfer is byte-exact, never the timings.
--sessions 100,1000,5000 (the full run's default) runs the concurrent-downloads scenario at
each size (all sessions logged in at a barrier before any download starts); a size the
machine cannot hold is skipped with the reason.
Every figure in the README's "Performance" section comes from one full run of this script.
"""
import argparse
import collections
import ftplib
import hashlib
import io
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capacity  # noqa: E402  (bench/capacity.py)

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MINFTP = os.path.join(TOP, "target", "release", "minftp")
FTPLOAD = os.path.join(TOP, "target", "release", "examples", "ftpload")
VSFTPD = next((p for p in ("/usr/sbin/vsftpd", "/usr/bin/vsftpd") if os.path.exists(p)), None)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def process_tree(pid):
    """The /proc/PID/stat fields (after the command name) of PID and of each live descendant."""
    stats, children = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                stats[int(entry)] = fields
                children.setdefault(int(fields[1]), []).append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    tree, todo = {}, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        if p in stats:
            tree[p] = stats[p]
    return tree


def tree_rss_kib(pid):
    """Resident memory of a process and all its descendants, in KiB."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
        except OSError:
            pass
    return total


def tree_cpu_seconds(pid):
    """User plus system CPU seconds of a process, its live descendants and the children it
    has reaped (vsftpd's finished sessions)."""
    tree = process_tree(pid)
    ticks = sum(int(fields[11]) + int(fields[12]) for fields in tree.values())  # utime, stime
    if pid in tree:
        ticks += int(tree[pid][13]) + int(tree[pid][14])  # cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


# pyftpdlib as `python3 -m pyftpdlib -w` would run it, without its command line's cap of 512
# connections, so that every session size can be compared.
PYFTPDLIB_SERVER = """
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
authorizer = DummyAuthorizer()
authorizer.add_anonymous(sys.argv[2], perm="elradfmwMT")
FTPHandler.authorizer = authorizer
server = FTPServer(("127.0.0.1", int(sys.argv[1])), FTPHandler)
server.max_cons = server.max_cons_per_ip = 0
server.serve_forever()
"""


class Server:
    """A server under test, on a free port of 127.0.0.1, serving ROOT (uploads into ROOT/upload)."""

    def __init__(self, name, argv_for_port, workdir, env=None):
        self.name = name
        self.port = free_port()
        self.proc = subprocess.Popen(argv_for_port(self.port), cwd=workdir, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        if not wait_listening(self.port, self.proc):
            self.stop()
            raise RuntimeError(f"{name} did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_servers(root, work, peers):
    return [Server(name, argv, work) for name, argv in server_commands(root, work, peers)]


def server_commands(root, work, peers):
    """(name, argv for a port) of each server under test."""
    # --data-timeout 300: the peers' own limit on a stalled data connection (minftp's default
    # is 30 s), so that under 5,000 sessions a starved load client meets the same patience.
    servers = [("minftp", lambda p: [MINFTP, "serve", str(p), "--bind", "127.0.0.1", "--root", root,
                                     "--writable", "--max-clients", "6000", "--data-timeout", "300"])]
    if "pyftpdlib" in peers:
        servers.append(("pyftpdlib", lambda p: [sys.executable, "-c", PYFTPDLIB_SERVER, str(p), root]))
    if "vsftpd" in peers:
        servers.append(("vsftpd", lambda p: vsftpd_argv(work, p, root, "max_clients=6000\nmax_per_ip=6000\n")))
    return servers


def vsftpd_argv(work, port, root, extra):
    """vsftpd in the foreground on 127.0.0.1:PORT, anonymous and writable in ROOT, with the
    configuration lines EXTRA; the configuration is written into WORK."""
    conf = os.path.join(work, f"vsftpd-{port}.conf")
    with open(conf, "w") as f:
        f.write(f"listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port={port}\n"
                f"background=NO\nanonymous_enable=YES\nlocal_enable=NO\nno_anon_password=YES\n"
                f"anon_root={root}\nwrite_enable=YES\nanon_upload_enable=YES\nanon_other_write_enable=YES\n"
                f"anon_umask=022\nrun_as_launching_user=YES\nseccomp_sandbox=NO\npasv_enable=YES\n"
                f"pasv_address=127.0.0.1\nxferlog_enable=NO\n{extra}")
    return [VSFTPD, conf]


# Bytes of memory touched (written to a scratch file and removed) before each timed command;
# main() sets it to twice the big file's size outside --quick. On this VM (KVM with a memory
# balloon) memory the guest freed goes back to the host, and the first touch of such a page
# costs a fault on the host: a server writing 1 GiB into fresh pages took 0.8 s of CPU in one
# run and 3.1 s in the next (perf: all of it in the copy into the page cache). Touching the
# memory first, outside the clock, gives every server and client the same warm pages.
WARM_BYTES = 0
WARM_FILE = None


def warm_memory():
    if WARM_BYTES and WARM_FILE:
        chunk = bytes(64 << 20)
        with open(WARM_FILE, "wb") as f:
            for _ in range(WARM_BYTES // len(chunk)):
                f.write(chunk)
        os.remove(WARM_FILE)


def timed(argv, **kwargs):
    warm_memory()
    started = time.perf_counter()
    run = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         timeout=600, **kwargs)
    elapsed = time.perf_counter() - started
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {run.stderr.decode(errors='replace')[-300:]}")
    return elapsed


def ftpload(*args):
    """Runs the load client; returns its seconds (and, for downloads, the sessions it held
    logged in at once when the downloads began)."""
    run = subprocess.run([FTPLOAD, *map(str, args)], capture_output=True, timeout=900)
    fields = dict(kv.split("=") for kv in run.stdout.decode().split())
    if run.returncode != 0 or int(fields.get("failed", 1)) != 0:
        # Name each distinct failure once, with how often it happened.
        failures = collections.Counter(run.stderr.decode(errors="replace").splitlines()).most_common(3)
        said = "; ".join(f"{n}x {line[:120]}" for line, n in failures)
        raise RuntimeError(f"ftpload {args[0]} failed: {run.stdout.decode().strip()}: {said}")
    if "held" in fields:
        return float(fields["seconds"]), int(fields["held"])
    return float(fields["seconds"])


def resume_times(port, path, tail):
    """Seconds for a 1-byte APPE onto PATH, then for a REST+STOR that rewrites its last
    len(TAIL) bytes (ftplib, passive, after login); checks the file's new end arrived."""
    with ftplib.FTP() as ftp:
        ftp.connect("127.0.0.1", port, timeout=600)
        ftp.login()
        started = time.perf_counter()
        ftp.storbinary(f"APPE {path}", io.BytesIO(b"+"))
        append = time.perf_counter() - started
        size = ftp.size(path)
        offset = size - len(tail)
        started = time.perf_counter()
        ftp.storbinary(f"STOR {path}", io.BytesIO(tail), rest=offset)
        restart = time.perf_counter() - started
        if ftp.size(path) != size:
            raise RuntimeError(f"REST+STOR on port {port} changed the size of {path}")
    return append, restart


def make_file(path, size):
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 8 << 20))
            digest.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def cpu_meanwhile(server, scenario, record, measure):
    """MEASURE()'s result; the server's CPU seconds meanwhile are recorded under SCENARIO's
    "server CPU seconds" row, and the client's (the commands MEASURE ran and waited for)
    under its "client CPU seconds" row. With two CPUs, a transfer whose client spends about
    its whole duration on a CPU is bound by that client, whatever the server does; these
    rows show which side bounds each figure."""
    before = tree_cpu_seconds(server.proc.pid)
    children_before = children_cpu_seconds()
    result = measure()
    record(f"{scenario}: server CPU seconds", server.name, tree_cpu_seconds(server.proc.pid) - before)
    record(f"{scenario}: client CPU seconds", server.name, children_cpu_seconds() - children_before)
    return result


def children_cpu_seconds():
    """User + system CPU of this script's children that have been waited for (the servers
    are not waited for until the end, so between two calls this is the clients' CPU)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_download(argv, into, expected, **kwargs):
    """Seconds for ARGV to download into the file INTO (as a user's download does: into a
    file, never a device), which is then checked against EXPECTED byte for byte and removed."""
    seconds = timed(argv, **kwargs)
    if not same_file(into, expected):
        raise RuntimeError(f"{' '.join(argv)}: the downloaded file differs")
    os.remove(into)
    return seconds


def same_file(a, b):
    return os.path.getsize(a) == os.path.getsize(b) and hashlib.sha256(open(a, "rb").read()).digest() == \
        hashlib.sha256(open(b, "rb").read()).digest()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small files and few runs (what CI runs)")
    parser.add_argument("--runs", type=int, help="runs per scenario and server (default 5, quick 1)")
    parser.add_argument("--sessions", help="comma-separated session counts for the concurrent downloads "
                        "(default 100,1000,5000, quick 20)")
    parser.add_argument("--concurrent-only", action="store_true", help="run only the concurrent downloads")
    parser.add_argument("--dir", help="where the test files and servers' folders go (default: /dev/shm, a "
                        "tmpfs, when it has room, so the disk does not bound the transfers; else the temporary folder)")
    parser.add_argument("--tls", action="store_true", help="run only the TLS scenarios: RETR and STOR with curl "
                        "--ssl-reqd against minftp --tls, pyftpdlib's TLS_FTPHandler and vsftpd ssl_enable, "
                        "minftp's clear-text RETR beside them, and minftp get/put --tls against curl")
    parser.add_argument("--tree", action="store_true", help="run only the mirror scenario: a tree of small "
                        "files fetched by minftp get -r -j 4, lftp mirror (with --parallel=4 and without) and wget -r")
    parser.add_argument("--json", help="also write the medians to this file")
    parser.add_argument("--samples", action="store_true", help="print every measurement as it is made")
    args = parser.parse_args()
    runs = args.runs or (1 if args.quick else 5)
    big_size = (32 << 20) if args.quick else (1 << 30)
    medium_size = (1 << 20) if args.quick else (10 << 20)
    sessions = 20 if args.quick else 300
    idle_sessions = 50 if args.quick else 2000
    small_uploads = 50 if args.quick else 1000
    tree_files = 100 if args.quick else 1000
    concurrent_sizes = [int(n) for n in (args.sessions or ("20" if args.quick else "100,1000,5000")).split(",")]
    # Each session is a descriptor in the server and one in the load client: raise the soft
    # limit as far as the hard one allows (the servers and ftpload inherit it).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "minftp", "--example", "ftpload"],
                   cwd=TOP, check=True)
    peers, missing = [], []
    if subprocess.run([sys.executable, "-c", "import pyftpdlib"], capture_output=True).returncode == 0:
        peers.append("pyftpdlib")
    else:
        missing.append("pyftpdlib (pip install pyftpdlib)")
    if VSFTPD:
        peers.append("vsftpd")
    else:
        missing.append("vsftpd (apt-get install vsftpd)")
    curl = shutil.which("curl")
    if not curl:
        missing.append("curl (apt-get install curl): the curl scenarios are skipped")
    for m in missing:
        print(f"note: not installed, skipped: {m}")

    where = args.dir
    if where is None and os.path.isdir("/dev/shm") and shutil.disk_usage("/dev/shm").free > 8 * big_size + (2 << 30):
        where = "/dev/shm"
    work = tempfile.mkdtemp(prefix="minftp-bench-", dir=where)
    print(f"working in {work}")
    global WARM_BYTES, WARM_FILE
    if not args.quick:
        WARM_BYTES, WARM_FILE = 2 * big_size, os.path.join(work, "warm-memory.bin")
    try:
        root = os.path.join(work, "root")
        os.makedirs(os.path.join(root, "upload"))
        os.chmod(os.path.join(root, "upload"), 0o777)
        big = os.path.join(root, "big.bin")
        medium = os.path.join(root, "medium.bin")
        results = {}  # (scenario, subject) -> [values]

        def record(scenario, subject, value):
            results.setdefault((scenario, subject), []).append(value)
            if args.samples:
                print(f"sample: {scenario} | {subject} | {value:.6g}", flush=True)

        if args.tree:
            tree_scenario(work, tree_files, runs, record)
            report(results, runs, big_size, sessions, args, {})
            return
        print(f"making test files: {big_size >> 20} MiB and {medium_size >> 20} MiB of random bytes")
        make_file(big, big_size)
        medium_sha = make_file(medium, medium_size)
        local_big = os.path.join(work, "local-big.bin")
        shutil.copyfile(big, local_big)
        # One big file per server for the resume scenarios: each run appends a byte to it and
        # rewrites its last MiB in place.
        for name in ["minftp", *peers]:
            shutil.copyfile(big, os.path.join(root, "upload", f"resume-{name}.bin"))
            os.chmod(os.path.join(root, "upload", f"resume-{name}.bin"), 0o666)
        tail = os.urandom(1 << 20)

        if args.tls:
            tls_scenarios(root, work, peers, big, big_size, local_big, runs, curl, record)
            report(results, runs, big_size, sessions, args, {})
            return
        servers = start_servers(root, work, peers)

        skipped = {}  # (scenario, server) -> why, once per run it was not measured
        upload_target = os.path.join(root, "upload", "stored.bin")
        received = os.path.join(work, "received.bin")
        for run in range(runs):
            order = servers if run % 2 == 0 else list(reversed(servers))
            for server in order:
                url = f"ftp://127.0.0.1:{server.port}"
                for size in concurrent_sizes:
                    concurrent_downloads(server, size, medium_size, medium_sha, record, skipped)
                if args.concurrent_only:
                    continue
                if curl:
                    retr = [curl, "-s", "-o", received, f"{url}/big.bin"]
                    record("server RETR (curl)", server.name, big_size / cpu_meanwhile(
                        server, "server RETR (curl)", record, lambda: timed_download(retr, received, big)))
                    stor = [curl, "-s", "-T", local_big, f"{url}/upload/stored.bin"]
                    record("server STOR (curl -T)", server.name,
                           big_size / cpu_meanwhile(server, "server STOR (curl -T)", record, lambda: timed(stor)))
                    if not same_file(upload_target, local_big):
                        raise RuntimeError(f"{server.name}: the uploaded file differs")
                    os.remove(upload_target)
                record(f"{small_uploads} uploads of 4 KiB in one session (ftplib)", server.name,
                       small_upload_seconds(server.port, small_uploads, root))

                append, restart = resume_times(server.port, f"upload/resume-{server.name}.bin", tail)
                record(f"append: 1 byte onto a {big_size >> 20} MiB file", server.name, append)
                record(f"resumed upload: last 1 MiB of a {big_size >> 20} MiB file", server.name, restart)
                with open(os.path.join(root, "upload", f"resume-{server.name}.bin"), "rb") as f:
                    f.seek(-len(tail), os.SEEK_END)
                    if f.read() != tail:
                        raise RuntimeError(f"{server.name}: the resumed upload's bytes differ")
                record(f"{sessions} sequential logins", server.name, ftpload("logins", "127.0.0.1", server.port, sessions))
            if args.concurrent_only:
                continue
            # Idle sessions on a freshly started server of each kind: after the load above, a
            # server's allocator has room to spare and new sessions would seem to cost nothing.
            for name, argv in server_commands(root, work, peers):
                fresh = Server(name, argv, work)
                try:
                    record(f"idle logged-in session: server RSS per session, KiB ({idle_sessions} sessions)",
                           name, idle_session_kib(fresh, idle_sessions))
                finally:
                    fresh.stop()
            # The same bytes to the same file system without FTP: what a STOR is measured against.
            record("server STOR (curl -T)", "dd bs=1M",
                   big_size / timed(["dd", f"if={local_big}", f"of={upload_target}", "bs=1M", "status=none"]))
            os.remove(upload_target)
            # The ceiling: one loopback connection, minftp's own send and receive loops, no FTP.
            record("ceiling: one loopback connection, no FTP", "sendfile of the file (page cache)",
                   big_size / ftpload("ceiling", "sendfile", big))
            record("ceiling: one loopback connection, no FTP", "write from memory",
                   big_size / ftpload("ceiling", "memory", big_size))
            # The clients, minftp against curl, against each server in turn.
            for target in servers:
                url = f"ftp://127.0.0.1:{target.port}"
                clients = [("minftp", [MINFTP, "get", f"127.0.0.1:{target.port}", "big.bin", "-o", received, "-q"],
                            [MINFTP, "put", f"127.0.0.1:{target.port}", local_big, "upload/stored.bin", "-q"])]
                if curl:
                    clients.append(("curl", [curl, "-s", "-o", received, f"{url}/big.bin"],
                                    [curl, "-s", "-T", local_big, f"{url}/upload/stored.bin"]))
                for name, get_argv, put_argv in (clients if run % 2 == 0 else list(reversed(clients))):
                    record(f"client get from {target.name}", name, big_size / timed_download(get_argv, received, big))
                    record(f"client put to {target.name}", name, big_size / timed(put_argv))
                    if not same_file(upload_target, local_big):
                        raise RuntimeError(f"{name} put: the uploaded file differs")
                    os.remove(upload_target)
                # What this server takes in at most: zeros written from memory, no file read.
                record(f"client put to {target.name}", "memory sender (no file read)",
                       big_size / ftpload("upload-memory", "127.0.0.1", target.port, "upload/stored.bin", big_size))
                os.remove(upload_target)
        for server in servers:
            server.stop()
        if not args.concurrent_only:
            tree_scenario(work, tree_files, runs, record)
            tls_scenarios(root, work, peers, big, big_size, local_big, runs, curl, record)
            open_files = 2000 if args.quick else 8000
            held, then, running = capacity.sessions_held(MINFTP, open_files)
            if not running or not then.startswith("421"):
                raise RuntimeError(f"capacity: after {held} sessions: {then}; server running: {running}")
            record(f"idle sessions held under ulimit -n {open_files} (then 421, server still running)", "minftp", held)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    for (scenario, name), whys in skipped.items():
        for why in dict.fromkeys(whys):
            print(f"not measured in {whys.count(why)} of {runs} run(s): {scenario} on {name}: {why}")
    report(results, runs, big_size, sessions, args, skipped)


def make_small_tree(top, files):
    """FILES files of 1 to 16 KiB of random bytes under TOP, in 10 folders of 5 subfolders each."""
    for i in range(files):
        folder = os.path.join(top, f"part{i % 10}", f"sub{(i // 10) % 5}")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"file{i:05}.dat"), "wb") as f:
            f.write(os.urandom(1024 + (i * 7919) % (15 * 1024)))


def tree_listing(top):
    """Every file under TOP (relative path -> bytes), folders included as None."""
    out = {}
    for folder, dirs, names in os.walk(top):
        for d in dirs:
            out[os.path.relpath(os.path.join(folder, d), top) + "/"] = None
        for n in names:
            path = os.path.join(folder, n)
            with open(path, "rb") as f:
                out[os.path.relpath(path, top)] = f.read()
    return out


def tree_scenario(work, files, runs, record):
    """A tree of FILES small files, served by minftp, mirrored by minftp get -r -j 4, lftp
    mirror --parallel=4, lftp mirror (one connection, its default) and wget -r, alternating
    the order; every copy is checked against the tree."""
    served = os.path.join(work, "tree-root")
    make_small_tree(os.path.join(served, "tree"), files)
    want = tree_listing(os.path.join(served, "tree"))
    server = Server("minftp", lambda p: [MINFTP, "serve", str(p), "--bind", "127.0.0.1", "--root", served,
                                         "--extended", "--max-clients", "100"], work)
    url = f"ftp://127.0.0.1:{server.port}"
    clients = [("minftp", lambda dest: [MINFTP, "get", "-r", "-j", "4", "-q", url, "tree", "-o", dest], "")]
    lftp, wget = shutil.which("lftp"), shutil.which("wget")
    # lftp tries AUTH TLS first by default; this server has none, so it is told not to.
    lftp_setup = "set ftp:ssl-allow no; set net:max-retries 1; set cmd:fail-exit yes"
    if lftp:
        clients.append(("lftp mirror --parallel=4", lambda dest: [
            lftp, "-e", f"{lftp_setup}; mirror --parallel=4 tree {dest}; quit", url], ""))
        clients.append(("lftp mirror", lambda dest: [lftp, "-e", f"{lftp_setup}; mirror tree {dest}; quit", url], ""))
    else:
        print("note: not installed, skipped: lftp (apt-get install lftp)")
    if wget:
        clients.append(("wget -r", lambda dest: [wget, "-r", "-q", "-nH", "--no-parent", "-P", dest, f"{url}/tree/"],
                        "tree"))
    else:
        print("note: not installed, skipped: wget (apt-get install wget)")
    scenario = f"mirror of a tree of {files} small files (1-16 KiB) from minftp's server; minftp with -j 4"
    try:
        for run in range(runs):
            for name, argv, inside in (clients if run % 2 == 0 else list(reversed(clients))):
                dest = os.path.join(work, f"mirror-{run}-{name.split()[0]}-{len(name)}")
                record(scenario, name, timed(argv(dest)))
                got = tree_listing(os.path.join(dest, inside))
                if got != want:
                    missing = sorted(set(want) - set(got))[:3]
                    raise RuntimeError(f"{name}: the mirror differs from the tree (missing {missing})")
                shutil.rmtree(dest)
    finally:
        server.stop()


# pyftpdlib's TLS handler (needs pyOpenSSL), TLS required on both connections, like `minftp serve --tls`.
PYFTPDLIB_TLS_SERVER = """
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import TLS_FTPHandler
from pyftpdlib.servers import FTPServer
authorizer = DummyAuthorizer()
authorizer.add_anonymous(sys.argv[2], perm="elradfmwMT")
handler = TLS_FTPHandler
handler.authorizer, handler.certfile, handler.keyfile = authorizer, sys.argv[3], sys.argv[4]
handler.tls_control_required = handler.tls_data_required = True
FTPServer(("127.0.0.1", int(sys.argv[1])), handler).serve_forever()
"""


def tls_scenarios(root, work, peers, big, big_size, local_big, runs, curl, record):
    """TLS RETR and STOR of the big file with curl --ssl-reqd -k against each server with TLS
    required (minftp's kept self-signed certificate, made here, serves all three), minftp's
    clear-text RETR and STOR beside them (what TLS costs it), and minftp get/put --tls -k
    against curl --ssl-reqd -k with minftp's server (and without TLS beside them)."""
    if not curl:
        print("note: the TLS scenarios need curl: skipped")
        return
    data = os.path.join(work, "data")
    env = dict(os.environ, XDG_DATA_HOME=data)
    # The certificate: the one minftp makes on its first --tls start.
    maker = Server("minftp (making a certificate)", lambda p: [MINFTP, "serve", str(p), "--bind", "127.0.0.1", "--root",
                                                              root, "--extended", "--tls"], work, env=env)
    maker.stop()
    cert, key = (os.path.join(data, "minftp", "tls", name) for name in ("cert.pem", "key.pem"))
    servers = [Server("minftp", lambda p: [MINFTP, "serve", str(p), "--bind", "127.0.0.1", "--root", root,
                                           "--writable", "--tls", "--cert", cert, "--key", key], work),
               Server("minftp without TLS", lambda p: [MINFTP, "serve", str(p), "--bind", "127.0.0.1", "--root", root,
                                                       "--writable"], work)]
    if "pyftpdlib" in peers:
        if subprocess.run([sys.executable, "-c", "import OpenSSL"], capture_output=True).returncode == 0:
            servers.append(Server("pyftpdlib", lambda p: [sys.executable, "-c", PYFTPDLIB_TLS_SERVER, str(p), root,
                                                          cert, key], work))
        else:
            print("note: pyOpenSSL is not installed (pip install pyopenssl): pyftpdlib's TLS is skipped")
    if "vsftpd" in peers:
        tls = (f"ssl_enable=YES\nallow_anon_ssl=YES\nforce_anon_logins_ssl=YES\nforce_anon_data_ssl=YES\n"
               f"rsa_cert_file={cert}\nrsa_private_key_file={key}\n")
        servers.append(Server("vsftpd", lambda p: vsftpd_argv(work, p, root, tls), work))
    upload_target = os.path.join(root, "upload", "stored.bin")
    received = os.path.join(work, "received.bin")
    try:
        for run in range(runs):
            for server in (servers if run % 2 == 0 else list(reversed(servers))):
                url = f"ftp://127.0.0.1:{server.port}"
                tls = [] if server.name == "minftp without TLS" else ["--ssl-reqd", "-k"]
                retr = [curl, "-s", *tls, "-o", received, f"{url}/big.bin"]
                record("TLS server RETR (curl --ssl-reqd)", server.name, big_size / cpu_meanwhile(
                    server, "TLS server RETR", record, lambda: timed_download(retr, received, big)))
                # The same download by minftp's client, which writes its file in larger
                # pieces than curl: one client for every server, and a quicker one.
                get = [MINFTP, "get", *(["--tls", "-k"] if tls else []), f"127.0.0.1:{server.port}", "big.bin",
                       "-o", received, "-q"]
                record("TLS server RETR (minftp get --tls)", server.name, big_size / cpu_meanwhile(
                    server, "TLS server RETR (minftp get --tls)", record, lambda: timed_download(get, received, big)))
                stor = [curl, "-s", *tls, "-T", local_big, f"{url}/upload/stored.bin"]
                record("TLS server STOR (curl --ssl-reqd -T)", server.name,
                       big_size / cpu_meanwhile(server, "TLS server STOR", record, lambda: timed(stor)))
                if not same_file(upload_target, local_big):
                    raise RuntimeError(f"{server.name}: the TLS upload differs")
                os.remove(upload_target)
            port, clear_port = servers[0].port, servers[1].port
            clients = [("minftp", [MINFTP, "get", "--tls", "-k", f"127.0.0.1:{port}", "big.bin", "-o", received, "-q"]),
                       ("curl", [curl, "-s", "--ssl-reqd", "-k", "-o", received, f"ftp://127.0.0.1:{port}/big.bin"]),
                       ("minftp without TLS",
                        [MINFTP, "get", f"127.0.0.1:{clear_port}", "big.bin", "-o", received, "-q"])]
            for name, argv in (clients if run % 2 == 0 else list(reversed(clients))):
                record("TLS client get from minftp", name,
                       big_size / timed_download(argv, received, big, env=dict(os.environ)))
            # The same for uploads: what TLS costs minftp when it is both ends.
            clients = [("minftp", [MINFTP, "put", "--tls", "-k", "-q", f"127.0.0.1:{port}", local_big,
                                   "upload/stored.bin"]),
                       ("curl", [curl, "-s", "--ssl-reqd", "-k", "-T", local_big,
                                 f"ftp://127.0.0.1:{port}/upload/stored.bin"]),
                       ("minftp without TLS", [MINFTP, "put", "-q", f"127.0.0.1:{clear_port}", local_big,
                                               "upload/stored.bin"])]
            for name, argv in (clients if run % 2 == 0 else list(reversed(clients))):
                record("TLS client put to minftp", name, big_size / timed(argv, env=dict(os.environ)))
                if not same_file(upload_target, local_big):
                    raise RuntimeError(f"{name}: the TLS client upload differs")
                os.remove(upload_target)
    finally:
        for server in servers:
            server.stop()


def small_upload_seconds(port, count, root):
    """Seconds for COUNT uploads of 4 KiB under new names in one ftplib session (passive);
    the files are checked and removed afterwards."""
    payload = os.urandom(4096)
    with ftplib.FTP() as ftp:
        ftp.connect("127.0.0.1", port, timeout=600)
        ftp.login()
        started = time.perf_counter()
        for i in range(count):
            ftp.storbinary(f"STOR upload/small-{i}.bin", io.BytesIO(payload))
        seconds = time.perf_counter() - started
    for i in range(count):
        path = os.path.join(root, "upload", f"small-{i}.bin")
        with open(path, "rb") as f:
            if f.read() != payload:
                raise RuntimeError(f"port {port}: small upload {i} differs")
        os.remove(path)
    return seconds


def idle_session_kib(server, count):
    """Resident memory per idle logged-in session: COUNT sessions log in and wait; the
    server's RSS (its processes summed) after minus before, divided by COUNT."""
    before = tree_rss_kib(server.proc.pid)
    clients = []
    try:
        for _ in range(count):
            conn = socket.create_connection(("127.0.0.1", server.port), timeout=60)
            reader = conn.makefile("rb")
            clients.append(conn)
            if not reader.readline().startswith(b"220"):
                raise RuntimeError(f"{server.name}: no greeting for idle session {len(clients)}")
            conn.sendall(b"USER anonymous\r\nPASS idle@\r\n")
            reader.readline()
            if not reader.readline().startswith(b"230"):
                raise RuntimeError(f"{server.name}: idle session {len(clients)} not logged in")
        time.sleep(0.5)
        after = tree_rss_kib(server.proc.pid)
    finally:
        for conn in clients:
            conn.close()
    time.sleep(0.5)
    return (after - before) / count


def concurrent_downloads(server, size, medium_size, medium_sha, record, skipped):
    """SIZE sessions log in, wait at a barrier until all are in, then download the medium file
    at once; records wall time, server CPU, peak RSS and the sessions held at the barrier. A
    size this machine or server cannot hold (descriptors, memory, a refused login) is skipped
    with the reason, for this server and run only (the medians then come from the other runs)."""
    scenario = f"{size} concurrent {medium_size >> 20} MiB downloads"
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if 2 * size + 64 > soft:
        skipped.setdefault((scenario, server.name), []).append(
            f"needs about {2 * size + 64} descriptors, the limit is {soft}")
        return
    rss = [0]
    done = threading.Event()

    def sample(pid=server.proc.pid):
        while not done.is_set():
            rss[0] = max(rss[0], tree_rss_kib(pid))
            time.sleep(0.05)
    sampler = threading.Thread(target=sample)
    cpu_before = tree_cpu_seconds(server.proc.pid)
    sampler.start()
    try:
        seconds, held = ftpload("downloads", "127.0.0.1", server.port, size, "medium.bin", medium_sha)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        skipped.setdefault((scenario, server.name), []).append(str(e).strip().splitlines()[0][:500])
        return
    finally:
        done.set()
        sampler.join()
    record(scenario, server.name, seconds)
    record(f"{size} concurrent: server CPU seconds", server.name, tree_cpu_seconds(server.proc.pid) - cpu_before)
    record(f"{size} concurrent: server peak RSS, MiB", server.name, rss[0] / 1024)
    record(f"{size} concurrent: sessions logged in at once when the downloads began", server.name, held)


def machine():
    """The CPU, cores, memory, kernel and the peers' versions, for the report's heading."""
    def first_line(argv):
        try:
            run = subprocess.run(argv, capture_output=True, timeout=10)
            return (run.stdout or run.stderr).decode(errors="replace").strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return None
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown CPU")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    parts = [f"{cpu}, {os.cpu_count()} CPUs, {memory:.0f} GiB", f"Linux {os.uname().release}"]
    pyftpdlib = first_line([sys.executable, "-c", "import importlib.metadata as m; print(m.version('pyftpdlib'))"])
    if pyftpdlib:
        parts.append(f"pyftpdlib {pyftpdlib}")
    if VSFTPD:
        # vsftpd -v writes its version to standard input's descriptor (a terminal): ask dpkg.
        version = first_line(["dpkg-query", "-W", "-f", "${Version}", "vsftpd"])
        parts.append(f"vsftpd {version}" if version else "vsftpd")
    curl = first_line(["curl", "--version"])
    if curl:
        parts.append(" ".join(curl.split()[:2]))
    return "; ".join(parts)


def report(results, runs, big_size, sessions, args, skipped):
    medians = {key: statistics.median(values) for key, values in results.items()}
    scenarios = list(dict.fromkeys(scenario for scenario, _ in results))
    print()
    print(f"command: python3 bench/run.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"machine: {machine()}")
    print(f"medians of {runs} run(s); {big_size >> 20} MiB transfer file; {sessions} sequential logins; "
          f"throughput in GB/s (higher is better), times in s and memory in MiB (lower is better)")
    print()
    print("| scenario | minftp | peers | ratio (minftp vs peer) |")
    print("|---|---|---|---|")
    for scenario in scenarios:
        subjects = [s for (sc, s) in medians if sc == scenario]
        if "RSS per session" in scenario:
            show = lambda v: f"{v:.1f} KiB"  # noqa: E731
        elif "RSS" in scenario:
            show = lambda v: f"{v:.1f} MiB"  # noqa: E731
        elif "sessions logged in" in scenario or "sessions held" in scenario:
            show = lambda v: f"{v:.0f}"  # noqa: E731
        elif "CPU seconds" in scenario:
            show = lambda v: f"{v:.2f} s"  # noqa: E731
        elif "in one session" not in scenario and any(w in scenario for w in ("RETR", "STOR", "get", "put", "ceiling")):
            show = lambda v: f"{v / 1e9:.2f} GB/s"  # noqa: E731
        else:
            show = lambda v: f"{v:.3f} s"  # noqa: E731
        mine = medians.get((scenario, "minftp"))
        others = [s for s in subjects if s != "minftp"]
        peers_text = ", ".join(f"{s} {show(medians[(scenario, s)])}" for s in others) or "-"
        ratios = []
        for s in others:
            theirs = medians[(scenario, s)]
            if mine and theirs:
                ratios.append(f"{mine / theirs:.2f}x {s}")
        print(f"| {scenario} | {show(mine) if mine is not None else '-'} | {peers_text} | {', '.join(ratios) or '-'} |")
    print()
    print("ratios: for throughput, minftp/peer (above 1: minftp faster); for times and memory, minftp/peer (below 1: minftp better)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{k[0]} | {k[1]}": v for k, v in medians.items()}, f, indent=1)
    if skipped:
        print("bench: the scenarios named above were not measured in every run; every transfer made was byte-exact")
    else:
        print("bench: all scenarios completed, every transfer byte-exact")


if __name__ == "__main__":
    main()
