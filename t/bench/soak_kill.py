#!/usr/bin/env python3
"""soak_kill.py: SIGKILL a proxy's worker again and again, for t/bench/soak.sh.

Not part of gatehouse and not part of the test suite.

    soak_kill.py KIND MASTER_PID PORT KILLS INTERVAL_S

KIND is gh or nginx (how a worker is told from the gatehouse helper or an nginx
cache process). For each kill: pick the master's worker (the one with the most
client connections, when there are several), count the established client
connections it holds (ss: local port PORT, owned by that pid), SIGKILL it, and
at once send one probe request (a new connection, GET /) and poll the master's
children every millisecond. Per kill it prints

    kill I pid P held H newpid Q pid_ms A served_ms B

pid_ms: from the kill to a new worker pid among the master's children;
served_ms: from the kill to the probe's complete response (the new connection
waits in the listening socket's queue until a worker accepts it; with more than
one worker another worker may take it). -1 when it did not happen within 10 s.
Kills are INTERVAL_S apart (gatehouse counts a worker that dies within 2 s of
its start as a crash and backs off: keep it above 2).
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
        return [int(x) for x in out.split()]


def is_worker(kind, pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            comm = f.read().strip()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    if kind == "gh":
        return comm != "gh-helper" and "helper" not in cmd
    return "worker process" in cmd


def workers(kind, master):
    return [p for p in children(master) if is_worker(kind, p)]


def held(port):
    """established connections on local port PORT, by owning pid"""
    out = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True).stdout
    by = {}
    for line in out.splitlines():
        for part in line.split("pid=")[1:]:
            p = int(part.split(",")[0])
            by[p] = by.get(p, 0) + 1
    return by


def probe(port, t0, res):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET / HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        if data.startswith(b"HTTP/1.1 200"):
            res.append((time.monotonic() - t0) * 1000)
    except OSError:
        pass


def main():
    kind, master, port, kills, interval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    deadline = time.monotonic() + kills * (interval + 12) + 30
    for i in range(1, kills + 1):
        if time.monotonic() > deadline:
            print(f"kill {i} skipped: out of time", flush=True)
            break
        ws = workers(kind, master)
        if not ws:
            print(f"kill {i} no worker found", flush=True)
            time.sleep(interval)
            continue
        h = held(port)
        w = max(ws, key=lambda p: h.get(p, 0))
        before = set(children(master))
        res = []
        t0 = time.monotonic()
        os.kill(w, signal.SIGKILL)
        th = threading.Thread(target=probe, args=(port, t0, res))
        th.start()
        pid_ms, newpid = -1, 0
        while time.monotonic() - t0 < 10:
            new = [p for p in children(master) if p not in before]
            new = [p for p in new if is_worker(kind, p)]
            if new:
                pid_ms, newpid = (time.monotonic() - t0) * 1000, new[0]
                break
            time.sleep(0.001)
        th.join(12)
        served = res[0] if res else -1
        print(f"kill {i} pid {w} held {h.get(w, 0)} newpid {newpid} pid_ms {pid_ms:.1f} served_ms {served:.1f}", flush=True)
        rest = interval - (time.monotonic() - t0)
        if rest > 0 and i < kills:
            time.sleep(rest)


if __name__ == "__main__":
    main()
