#!/usr/bin/env python3
"""How many idle sessions a server holds under an open-files limit, and what happens next.

usage: python3 bench/capacity.py [BINARY] [OPEN_FILES]   (defaults: the release minftp, 8000)

Starts `BINARY serve --extended` with `ulimit -n OPEN_FILES` on a free port of 127.0.0.1,
connects sessions one after another until one is not greeted (a 421, a closed connection,
or no greeting within 2 s), and says how many were held and whether the server still runs.
"""
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sessions_held(binary, open_files):
    """Starts BINARY serve under `ulimit -n OPEN_FILES` and connects idle sessions until one
    is not greeted; returns (sessions held, what happened then, whether the server still runs)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = tempfile.mkdtemp(prefix="minftp-capacity-")
    server = subprocess.Popen(["sh", "-c", f"ulimit -n {open_files} && exec {binary} serve {port} --bind 127.0.0.1 "
                               f"--root {root} --extended --max-clients 1000000"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    held, then = [], f"the client's own limit ({hard} descriptors)"
    while len(held) < hard - 100:
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=2)
            conn.settimeout(2)
            line = conn.makefile("rb").readline()
        except OSError as err:
            then = str(err)
            break
        if not line.startswith(b"220"):
            then = line.decode(errors="replace").strip() or "the connection was closed unanswered"
            break
        held.append(conn)
    running = server.poll() is None
    server.kill()
    server.wait()
    for conn in held:
        conn.close()
    os.rmdir(root)
    return len(held), then, running


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOP, "target", "release", "minftp")
    open_files = int(sys.argv[2]) if len(sys.argv) > 2 else 8000
    held, then, running = sessions_held(binary, open_files)
    print(f"{binary}: {held} idle sessions held under ulimit -n {open_files}; then: {then}; "
          f"the server {'still runs' if running else 'is gone'}")


if __name__ == "__main__":
    main()
