"""HUP hands each slot over with no accept gap (issue 17; README, Signals): an old worker
keeps accepting until the new worker of its slot reports that it is ready, at most 2 s
after the reload, and for as long as its new worker keeps dying before it is ready.

The slow and the failing start-ups come from hooks that only a debug build honours
(server/worker.c): GATEHOUSE_DEBUG_WORKER_START_DELAY_MS and
GATEHOUSE_DEBUG_WORKER_START_FAIL=PATH (fail while PATH exists). Those tests skip on a
release build; the sanitizer build (GH_SANITIZE, which defines GH_DEBUG) has them."""

import os
import re
import subprocess
import threading
import time

import pytest

import ghtest
from ghtest import get, make_config, route_return, wait_for

DELAY_ENV = "GATEHOUSE_DEBUG_WORKER_START_DELAY_MS"
FAIL_ENV = "GATEHOUSE_DEBUG_WORKER_START_FAIL"


def debug_build():
    try:
        p = subprocess.run([ghtest.GATEHOUSE_BIN, "-V"], capture_output=True, text=True,
                           timeout=ghtest.scaled(10))
    except OSError:
        return False
    return "build options: debug" in p.stdout


needs_debug = pytest.mark.skipif(not debug_build(),
                                 reason="the start-up hooks need a debug build (GH_DEBUG)")


def conf(body, workers=2):
    return make_config(workers=workers, routes=[route_return("= /ping", 200, body)])


class Probe(threading.Thread):
    """A new connection and one request every `every` seconds, for `duration` seconds
    and at most `count` requests, or until stop(); records (start, seconds, body or
    None, error or None) for each."""

    def __init__(self, port, every=0.005, duration=2.0, count=400, timeout=5.0):
        super().__init__(daemon=True)
        self.port, self.every, self.count, self.timeout = port, every, count, timeout
        self.duration = duration
        self.results = []
        self.stopped = threading.Event()

    def run(self):
        t_end = time.monotonic() + self.duration
        while time.monotonic() < t_end and len(self.results) < self.count \
                and not self.stopped.is_set():
            t0 = time.monotonic()
            body, err = None, None
            try:
                r = get(self.port, "/ping", timeout=self.timeout)
                body = r.body if r.status == 200 else None
                if r.status != 200:
                    err = "status %d" % r.status
            except Exception as e:  # refused, reset, timed out: all failures
                err = "%s: %s" % (type(e).__name__, e)
            took = time.monotonic() - t0
            self.results.append((t0, took, body, err))
            time.sleep(max(0.0, self.every - took))

    def stop(self):
        self.stopped.set()
        self.join(ghtest.scaled(30))

    def failures(self):
        return [(round(t, 3), e) for t, _, _, e in self.results if e is not None]

    def slowest(self):
        return max((took for _, took, _, _ in self.results), default=0.0)

    def report(self):
        return "%d requests, %d failed, slowest %.1f ms; first failures %s" % (
            len(self.results), len(self.failures()), self.slowest() * 1000,
            self.failures()[:5])


def started(gh, generation):
    return [int(p) for p in re.findall(r"started worker (\d+) for slot \d+ \(generation %d\)"
                                       % generation, gh.error_log())]


def generation_of(gh):
    return int(re.findall(r"\(generation (\d+)\)", gh.error_log())[-1])


def test_old_worker_stops_once_new_one_is_ready(gh_factory):
    """Any build: the master logs each new worker ready, and only then stops the old one
    of its slot."""
    gh = gh_factory(conf("one\n"))
    gen = generation_of(gh)
    old = gh.worker_pids()
    gh.write_config(conf("two\n"))
    gh.reload()
    new = gh.wait_workers(2, exclude=old, timeout=10)
    log = gh.error_log()
    for pid in new:
        m = re.search(r"worker %d \(slot (\d)\) is ready" % pid, log)
        assert m, log
        stop = re.search(r"stopping old worker (\d+) \(slot %s\)" % m.group(1), log)
        assert stop and int(stop.group(1)) in old, log
        assert m.start() < stop.start(), "an old worker stopped before its successor was ready"
    assert sorted(new) == sorted(started(gh, gen + 1))
    assert get(gh.port, "/ping").body == b"two\n"


@needs_debug
def test_slow_new_workers_leave_no_accept_gap(gh_factory, monkeypatch):
    """New workers take 500 ms to start; through the reload a new connection every 5 ms
    gets its answer within 50 ms, and none fails."""
    monkeypatch.setenv(DELAY_ENV, "500")
    gh = gh_factory(conf("one\n"))
    wait_for(lambda: get(gh.port, "/ping").body == b"one\n", 10, what="the first generation")
    old = gh.worker_pids()
    probe = Probe(gh.port, every=0.005, duration=ghtest.scaled(2.0), count=400)
    probe.start()
    time.sleep(0.2)
    gh.write_config(conf("two\n"))
    t_hup = time.monotonic()
    gh.reload()
    probe.join(ghtest.scaled(30))
    assert not probe.failures(), probe.report()
    assert probe.slowest() < ghtest.scaled(0.05), probe.report()
    # it did cover the slow start: requests all through it, the new body only after it
    during = [r for r in probe.results if t_hup <= r[0] < t_hup + 0.45]
    assert len(during) >= 20, probe.report()
    assert all(r[2] == b"one\n" for r in during), "new workers answered before their delay"
    first_two = min((r[0] for r in probe.results if r[2] == b"two\n"), default=None)
    assert first_two is not None, "the new generation never answered: " + probe.report()
    assert first_two - t_hup >= 0.45
    new = gh.wait_workers(2, exclude=old, timeout=10)
    for pid in old:
        assert re.search(r"stopping old worker %d " % pid, gh.error_log())
    assert get(gh.port, "/ping").body == b"two\n"
    assert len(new) == 2


@needs_debug
def test_new_worker_dying_at_start_leaves_old_serving(gh_factory, monkeypatch):
    """New workers fail at start: the old ones keep accepting (past the 2 s bound, which
    is for a slow worker, not a dead one: each respawn gets its own 2 s) while the master
    respawns with its back-off; once a respawned worker is ready, its old one stops."""
    gh = gh_factory(conf("one\n"), start=False)
    flag = gh.path("fail-start")
    monkeypatch.setenv(FAIL_ENV, flag)
    gh.start()
    assert get(gh.port, "/ping").body == b"one\n"
    old = gh.worker_pids()
    with open(flag, "w"):
        pass
    gh.write_config(conf("two\n"))
    probe = Probe(gh.port, every=0.02, duration=ghtest.scaled(20), count=2000)
    probe.start()
    t_hup = time.monotonic()
    gh.reload()
    try:
        # The fifth failure waits 3.2 s for its respawn: more than 2 s with no new
        # worker alive in the slot, and more than 2 s since the reload.
        gh.wait_log(r"worker slot 0 is crashing \(5 in a row\); respawning in 3200 ms",
                    timeout=15)
        t5 = time.monotonic()
        cpu0 = ghtest.proc_cpu_ticks(gh.pid)
        assert t5 - t_hup > 2.0
        time.sleep(2.7)
        assert time.monotonic() - t5 < 3.1, "too slow to see the gap before the respawn"
        # Past its 2 s with no successor to stop for, the master must not spin.
        used = ghtest.proc_cpu_ticks(gh.pid) - cpu0
        hz = os.sysconf("SC_CLK_TCK")
        assert used < 0.25 * hz, "master used %d ticks of %d in 2.7 s: spinning" % (used, hz)
        assert all(ghtest.pid_alive(p) for p in old), "an old worker stopped: " + gh.log_tail()
        assert "stopping old worker" not in gh.error_log()
        assert re.search(r"debug: .*fail-start exists; failing the worker's start",
                         gh.error_log())
        os.unlink(flag)
        wait_for(lambda: any(r[2] == b"two\n" for r in probe.results), 15,
                 what="a respawned worker to answer")
        gh.wait_workers(2, exclude=old, timeout=15)
    finally:
        probe.stop()
    assert not probe.failures(), probe.report()
    assert probe.slowest() < ghtest.scaled(0.25), probe.report()
    two = [r[0] for r in probe.results if r[2] == b"two\n"]
    assert all(r[2] == b"one\n" for r in probe.results if r[0] < min(two))
    for pid in old:
        assert re.search(r"stopping old worker %d \(slot \d+\): worker \d+ is ready" % pid, gh.error_log())


@needs_debug
def test_handover_waits_at_most_2s(gh_factory, monkeypatch):
    """A new worker that takes 3 s to start: its old one is stopped 2 s after the
    reload anyway, with a warning that says why."""
    monkeypatch.setenv(DELAY_ENV, "3000")
    gh = gh_factory(conf("one\n", workers=1), timeout=15)
    wait_for(lambda: get(gh.port, "/ping", timeout=10).body == b"one\n", 15,
             what="the first worker")
    old = gh.worker_pids()[0]
    gh.write_config(conf("two\n", workers=1))
    t_hup = time.monotonic()
    gh.reload()
    wait_for(lambda: not ghtest.pid_alive(old), 6, interval=0.01, what="the old worker to stop")
    took = time.monotonic() - t_hup
    assert 1.8 <= took < 2.8, "old worker stopped %.2f s after the reload" % took
    m = gh.wait_log(r"\[warn\] \d+: worker (\d+) \(slot 0\) is not ready 2000 ms after it was "
                    r"due to take over; stopping old worker %d anyway" % old)
    new = int(m.group(1))
    assert ghtest.pid_alive(new)
    wait_for(lambda: get(gh.port, "/ping", timeout=10).body == b"two\n", 10,
             what="the slow worker to answer")
    # The master logs "is ready" when it reads the worker's byte, which can come
    # a moment after the worker's first answer.
    gh.wait_log(r"worker %d \(slot 0\) is ready" % new)
