#!/usr/bin/env python3
"""What an idle logged-in session costs a server: resident memory and descriptors.

usage: python3 bench/idle.py [SESSIONS]      (default 2000; all traffic on 127.0.0.1)

Starts minftp (release build), and pyftpdlib where installed, on free ports; logs in
SESSIONS clients one after another and leaves them idle; prints the server's resident
memory and open descriptors per session (after minus before, divided by SESSIONS).
"""
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MINFTP = os.path.join(TOP, "target", "release", "minftp")


def tree_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(name, argv, port, sessions):
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.05)
        time.sleep(0.3)
        rss, fds = tree_rss_kib(server.pid), len(os.listdir(f"/proc/{server.pid}/fd"))
        clients = []
        for _ in range(sessions):
            conn = socket.create_connection(("127.0.0.1", port))
            reader = conn.makefile("rb")
            reader.readline()
            conn.sendall(b"USER anonymous\r\nPASS idle@\r\n")
            reader.readline()
            reader.readline()
            clients.append((conn, reader))
        time.sleep(0.5)
        rss_after, fds_after = tree_rss_kib(server.pid), len(os.listdir(f"/proc/{server.pid}/fd"))
        print(f"{name}: {(rss_after - rss) / sessions:.1f} KiB and {(fds_after - fds) / sessions:.2f} "
              f"descriptors per idle logged-in session ({sessions} sessions)")
        for conn, _ in clients:
            conn.close()
    finally:
        server.kill()
        server.wait()


def main():
    sessions = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    # The server reserves 3 descriptors a session (super::capacity): give it room for all.
    limit = sessions * 4 + 200
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, max(limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "minftp"], cwd=TOP, check=True)
    root = tempfile.mkdtemp(prefix="minftp-idle-")
    port = free_port()
    measure("minftp", [MINFTP, "serve", str(port), "--bind", "127.0.0.1", "--root", root, "--extended",
                       "--max-clients", str(sessions + 10)], port, sessions)
    if subprocess.run([sys.executable, "-c", "import pyftpdlib"], capture_output=True).returncode == 0:
        port = free_port()
        # pyftpdlib's command line keeps its default of 512 connections at most.
        measure("pyftpdlib", [sys.executable, "-m", "pyftpdlib", "-i", "127.0.0.1", "-p", str(port), "-d", root],
                port, min(sessions, 500))
    else:
        print("note: pyftpdlib is not installed (pip install pyftpdlib): skipped")
    os.rmdir(root)


if __name__ == "__main__":
    main()
