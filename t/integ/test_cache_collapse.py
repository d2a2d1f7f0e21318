"""Collapsed forwarding (modules/cache.c, cache_hit.c; issue 13): concurrent misses for
one key make one upstream request and the others are answered from the object as it
streams in (X-Cache: HIT), within cache.lock_timeout; a writer that dies or whose answer
is not storable leaves no one hanging, and an uncacheable URL does not make its
concurrent clients wait for one another (pass marker). The backend counts what reaches
it (/cache/... answers "fetch K of TARGET"; wait= delays the head, drip= the body)."""

import os
import re
import signal
import threading
import time
from urllib.parse import quote

import ghtest
from ghtest import make_config, route_upstream, upstream


def config(backend, workers=2, cache_extra=""):
    routes = [route_upstream("/cache/", "app", 'cache = { ttl = "60s"; };'),
              route_upstream("/", "app")]
    extra = 'cache = { size = "8M"; max_object_size = "1M"; %s };' % cache_extra
    return make_config(workers=workers, upstreams=[upstream("app", [backend.port])],
                       routes=routes, extra=extra)


def fetches(backend, target):
    return sum(1 for r in backend.requests() if r["target"] == target)


def concurrent_gets(port, target, n, timeout=30):
    """n clients at once (each its own connection): [(Response or Exception, seconds)]."""
    out = [None] * n
    start = threading.Barrier(n)

    def run(i):
        start.wait()
        t0 = time.monotonic()
        try:
            r = ghtest.get(port, target, timeout=timeout)
        except Exception as e:                  # noqa: BLE001 - reported by the test
            r = e
        out[i] = (r, time.monotonic() - t0)
    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 10)
    assert all(o is not None for o in out), "a client hung"
    return out


def test_fifty_concurrent_misses_one_upstream_request(gh_factory, backend):
    gh = gh_factory(config(backend))
    t = "/cache/cold?len=20000&wait=700&h=" + quote("Cache-Control: max-age=60", safe="")
    out = concurrent_gets(gh.port, t, 50)
    bodies = set()
    results = {}
    for r, _ in out:
        assert not isinstance(r, Exception), r
        assert r.status == 200 and len(r.body) == 20000
        assert r.header("Content-Length") == "20000"
        bodies.add(r.body)
        results[r.header("X-Cache")] = results.get(r.header("X-Cache"), 0) + 1
    assert fetches(backend, t) == 1
    assert len(bodies) == 1 and bodies.pop().startswith(("fetch 1 of %s" % t).encode())
    assert results == {"MISS": 1, "HIT": 49}, results


def test_waiters_follow_a_streaming_body(gh_factory, backend):
    """The waiters get the head as soon as the writer does and the body as it comes."""
    gh = gh_factory(config(backend))
    t = "/cache/stream?len=60000&wait=300&drip=100&chunked=1"
    out = concurrent_gets(gh.port, t, 10)
    for r, _ in out:
        assert not isinstance(r, Exception), r
        assert r.status == 200 and len(r.body) == 60000
    assert len({r.body for r, _ in out}) == 1
    assert fetches(backend, t) == 1


def worker_with_local_port(gh, port):
    """The worker holding the TCP socket whose local port is `port` (its upstream side)."""
    inode = None
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            # inode 0: a TIME_WAIT socket (another test's, on a reused port)
            if int(fields[1].split(":")[1], 16) == port and int(fields[9]) != 0:
                inode = int(fields[9])
    for pid in gh.worker_pids():
        if inode in ghtest.socket_inodes(pid):
            return pid
    return None


def test_writer_killed_waiters_answered_from_upstream(gh_factory, backend):
    """The worker whose request is fetching the object is SIGKILLed while the upstream
    has not answered: the master discards its pending object, so the waiters in the
    other worker go upstream themselves at once, long before lock_timeout (10 s here);
    clients of the killed worker see their connection reset. No client hangs."""
    gh = gh_factory(config(backend, cache_extra='lock_timeout = "10s";'))
    gh.allowed_alerts.append(r"signal 9|SIGKILL")
    t = "/cache/killed?len=5000&wait=1500"
    n = 12
    out = [None] * n

    def run(i):
        t0 = time.monotonic()
        try:
            r = ghtest.get(gh.port, t, timeout=30)
        except Exception as e:                  # noqa: BLE001 - reported by the test
            r = e
        out[i] = (r, time.monotonic() - t0)
    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for th in threads:
        th.start()
    first = backend.wait_request(lambda r: r["target"] == t)
    writer = worker_with_local_port(gh, int(first["peer"].rsplit(":", 1)[1]))
    assert writer is not None
    time.sleep(0.3)                             # every client is waiting by now
    killed_at = time.monotonic()
    os.kill(writer, signal.SIGKILL)
    for th in threads:
        th.join(40)
    assert all(o is not None for o in out), "a client hung"
    ok = [(r, s) for r, s in out if not isinstance(r, Exception)]
    assert ok, "every client was in the killed worker: %r" % out
    for r, s in ok:
        assert r.status == 200 and len(r.body) == 5000 and r.body.startswith(b"fetch ")
        assert r.header("X-Cache") in ("MISS", "HIT"), r.headers
    # answered by upstream fetches of their own (1.5 s each), not after lock_timeout
    took = time.monotonic() - killed_at
    assert took < 8, "the waiters took %.1f s: %r" % (took, [(type(r).__name__, round(s, 1))
                                                              for r, s in out])
    assert fetches(backend, t) >= 2


def test_writer_killed_pending_in_same_worker(gh_factory, backend):
    """One worker: the writer and the waiters die together; the next requests find no
    pending object left behind (the master discarded it) and do not wait."""
    gh = gh_factory(config(backend, workers=1, cache_extra='lock_timeout = "10s";'))
    gh.allowed_alerts.append(r"signal 9|SIGKILL")
    t = "/cache/same?len=100&wait=1500"
    th = threading.Thread(target=lambda: _swallow(ghtest.get, gh.port, t, timeout=10),
                          daemon=True)
    th.start()
    backend.wait_request(lambda r: r["target"] == t)
    victim = gh.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    gh.wait_workers(1, exclude=(victim,))
    t0 = time.monotonic()
    r = ghtest.get(gh.port, t, timeout=20)
    assert r.status == 200 and r.header("X-Cache") == "MISS"
    assert time.monotonic() - t0 < 5
    assert ghtest.get(gh.port, t).header("X-Cache") == "HIT"


def _swallow(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except Exception:                           # noqa: BLE001 - the client of a killed worker
        pass


def test_uncacheable_does_not_serialize(gh_factory, backend):
    """The first answer is not storable (no-store): the waiters go upstream at once, and
    a pass marker makes the next concurrent clients go upstream in parallel instead of
    waiting for one another: 10 clients of a 1 s backend take about 1 s, not 10."""
    gh = gh_factory(config(backend))
    t = "/cache/ns?wait=1000&h=" + quote("Cache-Control: no-store", safe="")
    out = concurrent_gets(gh.port, t, 10)
    for r, s in out:
        assert not isinstance(r, Exception), r
        assert r.status == 200 and r.header("X-Cache") == "MISS"
        assert s < 5, s                         # the first one's second plus its own
    out = concurrent_gets(gh.port, t, 10)
    for r, s in out:
        assert not isinstance(r, Exception), r
        assert r.header("X-Cache") == "MISS"
        assert s < 3.5, s                       # in parallel, not after one another
    assert fetches(backend, t) == 20


def test_pass_marker_does_not_stop_storing(gh_factory, backend):
    """An answer that is not stored (to a request with Authorization, which the
    response does not allow to share) leaves a pass marker; a later answer that may
    be stored replaces it."""
    gh = gh_factory(config(backend, workers=1))
    t = "/cache/flip?len=5000"
    gz = [("Authorization", "Basic eDp5")]
    r = ghtest.get(gh.port, t, headers=gz)
    assert r.header("X-Cache") == "MISS"
    assert ghtest.get(gh.port, t, headers=gz).header("X-Cache") == "MISS"
    assert ghtest.get(gh.port, t).header("X-Cache") == "MISS"       # stored now
    r = ghtest.get(gh.port, t)
    assert r.header("X-Cache") == "HIT" and len(r.body) == 5000
    assert fetches(backend, t) == 3


def test_lock_timeout(gh_factory, backend):
    """A waiter gives up after cache.lock_timeout and goes upstream uncached."""
    gh = gh_factory(config(backend, workers=1, cache_extra='lock_timeout = "500ms";'))
    t = "/cache/lt?wait=2000"
    out = concurrent_gets(gh.port, t, 4)
    xc = sorted(r.header("X-Cache") for r, _ in out)
    assert xc == ["MISS"] * 4, xc
    assert fetches(backend, t) == 4
    assert ghtest.get(gh.port, t).header("X-Cache") == "HIT"
    # lock_timeout = 0: no waiting at all
    gh2 = gh_factory(config(backend, workers=1, cache_extra='lock_timeout = "0s";'))
    t2 = "/cache/lt0?wait=500"
    out = concurrent_gets(gh2.port, t2, 3)
    assert fetches(backend, t2) == 3
    assert all(r.header("X-Cache") == "MISS" for r, _ in out)


def test_lock_timeout_config(conf_dir, backend):
    import subprocess
    path = os.path.join(conf_dir, "c.conf")
    with open(path, "w") as f:
        f.write(config(backend, cache_extra='lock_timeout = "2s";'))
    out = subprocess.run([ghtest.GATEHOUSE_BIN, "-T", "-c", path, "-p", conf_dir],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and 'lock_timeout = "2s"' in out.stdout, out.stdout
    with open(path, "w") as f:
        f.write(config(backend, cache_extra='lock_timeout = "soon";'))
    out = subprocess.run([ghtest.GATEHOUSE_BIN, "-t", "-c", path, "-p", conf_dir],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert "c.conf:" in out.stderr and "lock_timeout" in out.stderr, out.stderr


def test_collapsed_streams_of_one_http2_connection(gh_factory, backend):
    """16 concurrent streams of one HTTP/2 connection on a cold key (h2load -m 16): one
    upstream request, every stream its whole body (the followers stream through their
    stream's sink as the object is written)."""
    import shutil
    import subprocess
    import pytest
    if shutil.which("h2load") is None:
        pytest.skip("h2load is not installed (t/deps.sh installs it)")
    text = config(backend, workers=1).replace(
        '\n  { address = "127.0.0.1:0"; }', '\n  { address = "127.0.0.1:0"; http2 = true; }', 1)
    gh = gh_factory(text)
    for t, size in (("/cache/h2a?len=30000&wait=500", 30000),
                    ("/cache/h2b?len=300000&wait=500&drip=20", 300000)):
        out = subprocess.run(["h2load", "-n", "16", "-c", "1", "-m", "16",
                              "http://127.0.0.1:%d%s" % (gh.port, t)],
                             capture_output=True, text=True, timeout=60)
        assert "16 succeeded, 0 failed, 0 errored" in out.stdout, out.stdout
        assert "16 2xx" in out.stdout, out.stdout
        data = re.search(r"\((\d+)\) data", out.stdout)
        assert data and int(data.group(1)) == 16 * size, out.stdout
        assert fetches(backend, t) == 1
