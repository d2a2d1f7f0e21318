"""Reload generations (SPEC section 3): at most two old generations drain at once; past
that the oldest stops fast. And reloads that change the number of workers."""

import re
import threading
import time

import ghtest
from ghtest import Load, get, make_config, upstream, wait_for

SLOW_MS = 4000


def conf(backend_port, workers=2):
    return make_config(workers=workers, upstreams=[upstream("app", [backend_port])])


def slow_request(port, ms, result):
    def run():
        t0 = time.monotonic()
        try:
            result["r"] = ghtest.get(port, "/slow/%d" % ms, timeout=20)
        except Exception as e:  # cut by a fast stop
            result["e"] = e
        result["took"] = time.monotonic() - t0
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def generation_pids(gh, gen):
    return [int(p) for p in re.findall(r"started worker (\d+) for slot \d+ \(generation %d\)" % gen,
                                       gh.error_log())]


def test_third_old_generation_stops_oldest(gh_factory, backend):
    gh = gh_factory(conf(backend.port))
    gen0 = int(re.search(r"\(generation (\d+)\)", gh.error_log()).group(1))
    results, threads = [], []
    for i in range(3):
        ms = SLOW_MS + i
        res = {}
        threads.append(slow_request(gh.port, ms, res))
        results.append(res)
        backend.wait_request(lambda r: r["target"] == "/slow/%d" % ms,
                             what="request %d at the backend" % i)
        gh.reload()
        gh.wait_log(r"reload done: generation %d " % (gen0 + i + 1))
        wait_for(lambda: all(ghtest.pid_alive(p) for p in generation_pids(gh, gen0 + i + 1))
                 and len(generation_pids(gh, gen0 + i + 1)) == 2, 5,
                 what="workers of generation %d" % (gen0 + i + 1))
        time.sleep(0.2)  # the old workers have closed their listening sockets
    # three old generations: the oldest was told to stop fast
    gh.wait_log(r"stopping generation %d now" % gen0)
    for p in generation_pids(gh, gen0):
        ghtest.wait_pid_gone(p, 3)
    for g in (gen0 + 1, gen0 + 2):
        assert any(ghtest.pid_alive(p) for p in generation_pids(gh, g)), \
            "generation %d still drains" % g
    for t in threads:
        t.join(ghtest.scaled(20))
    first, second, third = results
    assert "e" in first or first["r"].status != 200, first
    assert first["took"] < SLOW_MS / 1000.0, first
    for res, ms in ((second, SLOW_MS + 1), (third, SLOW_MS + 2)):
        assert "e" not in res, res
        assert res["r"].status == 200 and res["r"].body == b"slept %d\n" % ms
    assert len(re.findall(r"stopping generation", gh.error_log())) == 1, \
        "one generation stopped fast, once"
    assert get(gh.port, "/ping").body == b"pong\n"


def test_reload_changes_worker_count(gh_factory, backend):
    """2 -> 3 -> 1 workers under load: every request is served."""
    gh = gh_factory(conf(backend.port, workers=2))
    load = Load(gh.port, threads=6, duration=4.0, targets=["/ping", "/bytes/500"],
                modes=["keepalive", "new"],
                check=lambda r: None if r.status == 200 else "status %d" % r.status).start()
    for n in (3, 1):
        time.sleep(0.7)
        before = gh.worker_pids()
        gh.write_config(conf(backend.port, workers=n))
        gh.reload()
        gh.wait_log(r"reload done: generation \d+ with %d workers" % n)
        gh.wait_workers(n, exclude=before, timeout=10)
    load.join()
    assert load.ok > 50, load.report()
    assert not load.failures, load.report()
    for _ in range(10):
        assert get(gh.port, "/ping").body == b"pong\n"
