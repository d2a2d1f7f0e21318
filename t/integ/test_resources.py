"""Crash back-off with orphan-socket adoption, and running out of file descriptors
(SPEC sections 1 and 3)."""

import os
import re
import resource
import signal
import socket
import threading
import time

import pytest

import ghtest
from ghtest import get, make_config, wait_for


def conf(workers=2, extra=""):
    return make_config(workers=workers, extra=extra)


def slot_worker(gh, slot):
    """The pid of the latest worker started for slot (from the master's log)."""
    found = re.findall(r"started worker (\d+) for slot %d " % slot, gh.error_log())
    return int(found[-1]) if found else None


def test_crash_loop_backoff_and_adoption(gh_factory):
    """Slot 1 crash-loops (SIGKILL right after each respawn) for ~3 s while a client opens
    fresh connections: the master backs off, the other worker accepts from slot 1's socket
    meanwhile, so every connection is answered promptly (without adoption those hashed to
    slot 1's socket would wait for the respawn, up to the back-off delay)."""
    gh = gh_factory(conf())
    keep = slot_worker(gh, 0)
    stop = threading.Event()
    stats = {"ok": 0, "fail": []}

    stats["cut"] = 0

    def client():
        while not stop.is_set():
            # A connection the victim had just accepted dies with it (closed or reset,
            # never a hang): the client retries that once. A timeout is a failure.
            for attempt in (1, 2):
                t0 = time.monotonic()
                try:
                    r = ghtest.request(gh.port, "GET", "/ping", [("Connection", "close")],
                                       timeout=1.0)
                    if r.status == 200:
                        stats["ok"] += 1
                    else:
                        stats["fail"].append("status %d" % r.status)
                    break
                except (ghtest.ConnectionClosed, ConnectionResetError, BrokenPipeError) as e:
                    stats["cut"] += 1
                    if attempt == 2:
                        stats["fail"].append("cut twice: %s" % e)
                except Exception as e:
                    stats["fail"].append("%.2fs %s: %s" % (time.monotonic() - t0,
                                                           type(e).__name__, e))
                    break
    threads = [threading.Thread(target=client, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    killed = set()
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        pid = slot_worker(gh, 1)
        if pid and pid not in killed:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            killed.add(pid)
        time.sleep(0.002)
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join(ghtest.scaled(5))
    log = gh.error_log()
    delays = [int(d) for d in re.findall(r"worker slot 1 is crashing \(\d+ in a row\); "
                                         r"respawning in (\d+) ms", log)]
    assert len(killed) >= 3, killed
    assert len(delays) >= 3 and delays == sorted(delays) and delays[-1] > delays[0], delays
    assert ghtest.pid_alive(keep), "slot 0's worker is untouched"
    assert stats["ok"] > 100, stats
    assert not stats["fail"], stats["fail"][:10]
    assert stats["cut"] <= len(killed), stats
    gh.wait_workers(2, exclude=killed, timeout=15)
    assert get(gh.port, "/ping").body == b"pong\n"


def test_emfile_pauses_accept_without_spinning(gh_factory):
    """A worker out of descriptors stops accepting for a moment instead of spinning on
    the readable socket; once clients go, it serves again."""
    gh = gh_factory(conf(workers=1))
    w = gh.worker_pids()[0]
    nfds = len(ghtest.proc_fd_targets(w))
    soft, hard = resource.prlimit(w, resource.RLIMIT_NOFILE)
    resource.prlimit(w, resource.RLIMIT_NOFILE, (nfds + 16, hard))
    clients = []
    try:
        for _ in range(60):
            s = socket.create_connection(("127.0.0.1", gh.port), timeout=2)
            s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n")  # an unfinished head
            clients.append(s)
        gh.wait_log(r"accept\(\) failed.*pausing accept", what="EMFILE logged")
        time.sleep(0.2)
        t0 = ghtest.proc_cpu_ticks(w)
        time.sleep(1.0)
        used = ghtest.proc_cpu_ticks(w) - t0
        hz = os.sysconf("SC_CLK_TCK")
        assert used < 0.25 * hz, "worker used %d ticks of %d in 1 s: spinning" % (used, hz)
        assert ghtest.pid_alive(w)
    finally:
        for s in clients:
            s.close()
    wait_for(lambda: get(gh.port, "/ping", timeout=2).status == 200, 5,
             what="service after the clients left")
    for _ in range(5):
        assert get(gh.port, "/ping").body == b"pong\n"
    assert gh.worker_pids() == [w]


def test_nofile_soft_limit_raised_for_max_connections(gh_factory):
    """max_connections needs more descriptors than the soft RLIMIT_NOFILE: the master
    raises it (up to the hard limit) and logs it; workers inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.skip("hard RLIMIT_NOFILE %d is too low" % hard)
    gh = gh_factory(conf(workers=1, extra="limits = { max_connections = 1500; };"),
                    start=False)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        gh.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    m = gh.wait_log(r"raised the open files limit \(RLIMIT_NOFILE\) from 256 to (\d+)")
    raised = int(m.group(1))
    assert raised >= 3000
    w = gh.worker_pids()[0]
    assert resource.prlimit(w, resource.RLIMIT_NOFILE)[0] == raised
    assert get(gh.port, "/ping").status == 200
