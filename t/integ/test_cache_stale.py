"""Serving stale objects (RFC 5861, RFC 9111 4.2.4; modules/cache.c, issue 13):
stale-if-error answers an upstream 5xx, timeout or failure with the stale object
(X-Cache: STALE) within its window; a stale object is answered when every server of the
upstream is down unless must-revalidate, proxy-revalidate, s-maxage or no-cache forbid
it; stale-while-revalidate answers STALE at once while one request refreshes the object;
a client's max-stale is honoured. The backend counts what reaches it (/cache/... answers
"fetch K of TARGET"; fail_after=N answers 500 from the (N+1)th fetch on, hang_after=N
sleeps 3 s before those heads, wait= delays every head)."""

import re
import threading
import time
from urllib.parse import quote

import ghtest
from ghtest import make_config, route_upstream, upstream


def config(backend, workers=1, extra=""):
    routes = [route_upstream("/cache/", "app", 'cache = { ttl = "60s"; };'),
              route_upstream("/", "app")]
    extra = 'cache = { size = "8M"; max_object_size = "1M"; };\n' + extra
    return make_config(workers=workers, upstreams=[upstream("app", [backend.port])],
                       routes=routes, extra=extra)


def fetches(backend, target):
    return sum(1 for r in backend.requests() if r["target"] == target)


def cc(value, **params):
    q = ["h=" + quote("Cache-Control: " + value, safe="")]
    q += ["%s=%s" % (k, v) for k, v in params.items()]
    return "&".join(q)


def stale_count(gh):
    text = ghtest.get(ghtest.admin_port(gh), "/metrics").text
    m = re.search(r'^gatehouse_cache_requests_total\{result="STALE"\} (\d+)$', text, re.M)
    return int(m.group(1))


def test_stale_if_error_on_5xx_and_age_grows(gh_factory, backend):
    gh = gh_factory(config(backend))
    t = "/cache/sie?" + cc("max-age=1, stale-if-error=60", fail_after=1)
    first = ghtest.get(gh.port, t)
    assert first.header("X-Cache") == "MISS" and first.body.startswith(b"fetch 1 of")
    time.sleep(1.6)
    r = ghtest.get(gh.port, t)
    assert r.status == 200 and r.header("X-Cache") == "STALE" and r.body == first.body
    age1 = int(r.header("Age"))
    assert age1 >= 1
    time.sleep(1.1)
    r = ghtest.get(gh.port, t)
    assert r.status == 200 and r.header("X-Cache") == "STALE"
    assert int(r.header("Age")) > age1
    assert fetches(backend, t) == 3              # each asked the upstream first
    assert stale_count(gh) == 2


def test_5xx_passes_without_stale_if_error_or_past_its_window(gh_factory, backend):
    gh = gh_factory(config(backend))
    t1 = "/cache/nosie?" + cc("max-age=1", fail_after=1)
    t2 = "/cache/window?" + cc("max-age=1, stale-if-error=1", fail_after=1)
    ghtest.get(gh.port, t1)
    ghtest.get(gh.port, t2)
    time.sleep(3.3)                              # t2: stale for more than its 1 s window
    #                                              (ages are whole seconds: at least 3)
    for t in (t1, t2):
        r = ghtest.get(gh.port, t)
        assert r.status == 500 and r.body == b"failing\n", t
        assert r.header("X-Cache") == "EXPIRED"


def test_stale_if_error_only_for_the_errors_rfc5861_names(gh_factory, backend):
    """RFC 5861 section 4: stale-if-error covers 500, 502, 503 and 504; a 501 or a 505
    from the upstream is its answer, passed on."""
    gh = gh_factory(config(backend))
    cases = [(st, stale, "/cache/sie%d?%s&fail_status=%d" % (
        st, cc("max-age=1, stale-if-error=60", fail_after=1), st))
        for st, stale in ((503, True), (501, False), (505, False))]
    for _, _, t in cases:
        ghtest.get(gh.port, t)
    time.sleep(1.6)
    for st, stale, t in cases:
        r = ghtest.get(gh.port, t)
        if stale:
            assert r.status == 200 and r.header("X-Cache") == "STALE", st
        else:
            assert r.status == st and r.body == b"failing\n", st
            assert r.header("X-Cache") == "EXPIRED", st


def test_stale_if_error_on_upstream_timeout(gh_factory, backend):
    gh = gh_factory(config(backend, extra='timeouts = { upstream_read = "1s"; };'))
    t = "/cache/hang?" + cc("max-age=1, stale-if-error=60", hang_after=1)
    first = ghtest.get(gh.port, t)
    time.sleep(1.5)
    t0 = time.monotonic()
    r = ghtest.get(gh.port, t, timeout=10)
    assert r.status == 200 and r.header("X-Cache") == "STALE" and r.body == first.body
    assert time.monotonic() - t0 < 2.5           # the read timeout, not the backend's 3 s


def test_stale_when_every_server_is_down(gh_factory, backends):
    b = backends("down")
    gh = gh_factory(config(b))
    ok = "/cache/down?" + cc("max-age=2")
    tagged = "/cache/tagged?" + cc("max-age=2", etag="v1")    # revalidation holds it
    forbidden = ["/cache/mr?" + cc("max-age=2, must-revalidate"),
                 "/cache/pr?" + cc("max-age=2, proxy-revalidate"),
                 "/cache/sm?" + cc("s-maxage=2"),
                 "/cache/nc?" + cc("no-cache")]
    bodies = {t: ghtest.get(gh.port, t).body for t in [ok, tagged] + forbidden}
    r = ghtest.get(gh.port, ok)
    assert r.header("X-Cache") == "HIT"          # fresh: no upstream involved
    time.sleep(2.6)
    b.stop()
    r = ghtest.get(gh.port, ok)
    assert r.status == 200 and r.header("X-Cache") == "STALE" and r.body == bodies[ok]
    assert int(r.header("Age")) >= 1
    r = ghtest.get(gh.port, ok)                  # again, now the server is marked down
    assert r.status == 200 and r.header("X-Cache") == "STALE"
    r = ghtest.get(gh.port, tagged)
    assert r.status == 200 and r.header("X-Cache") == "STALE" and r.body == bodies[tagged]
    r = ghtest.get(gh.port, tagged, headers=[("If-None-Match", '"v1"')])
    assert r.status == 304 and r.header("X-Cache") == "STALE"  # the client's own conditional
    r = ghtest.get(gh.port, tagged, headers=[("Range", "bytes=0-4")])
    assert r.status == 206 and r.body == bodies[tagged][:5]
    for t in forbidden:
        r = ghtest.get(gh.port, t)
        assert r.status in (502, 503), (t, r.status)
    # HEAD too, without a body
    h = ghtest.request(gh.port, "HEAD", ok)
    assert h.status == 200 and h.header("X-Cache") == "STALE" and h.body == b""


def test_stale_while_revalidate(gh_factory, backend):
    """Within the window every client is answered the stale object at once (STALE), and
    one refresh (a request without a client, started by the first) fetches the object
    again in the background and stores it: then the new one is a HIT."""
    gh = gh_factory(config(backend, workers=2))
    # max-age=4: the backend's 0.8 s delay counts in the age (RFC 9111 4.2.3), and
    # the refreshed object must still be fresh when it is looked at below
    t = "/cache/swr?" + cc("max-age=4, stale-while-revalidate=30", wait=800)
    first = ghtest.get(gh.port, t)
    assert first.body.startswith(b"fetch 1 of")
    time.sleep(4.6)
    n = 6
    out = [None] * n
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        t0 = time.monotonic()
        r = ghtest.get(gh.port, t, timeout=10)
        out[i] = (r, time.monotonic() - t0)
    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(20)
    assert all(o is not None for o in out)
    for r, s in out:
        assert r.header("X-Cache") == "STALE" and r.body == first.body, r.headers
        assert int(r.header("Age")) >= 4
        assert s < 2, s                          # no one waits for the refresh
    # the refresh is not a client's answer: the counters saw one MISS and six STALE
    text = ghtest.get(ghtest.admin_port(gh), "/metrics").text
    got = dict(re.findall(r'^gatehouse_cache_requests_total\{result="(\w+)"\} (\d+)$', text,
                          re.M))
    assert got["STALE"] == "6" and got["EXPIRED"] == "0" and got["MISS"] == "1", got
    ghtest.wait_for(lambda: fetches(backend, t) == 2, 10, what="the background refresh")
    time.sleep(1.2)                              # its 0.8 s answer is stored
    r = ghtest.get(gh.port, t)
    assert r.header("X-Cache") == "HIT" and r.body.startswith(b"fetch 2 of")
    assert fetches(backend, t) == 2


def test_stale_while_revalidate_head_refreshes_the_get_object(gh_factory, backend):
    gh = gh_factory(config(backend))
    t = "/cache/swrh?" + cc("max-age=1, stale-while-revalidate=30")
    ghtest.get(gh.port, t)
    time.sleep(1.6)
    h = ghtest.request(gh.port, "HEAD", t)
    assert h.status == 200 and h.header("X-Cache") == "STALE" and h.body == b""
    ghtest.wait_for(lambda: fetches(backend, t) == 2, 10, what="the background refresh")
    assert [r["method"] for r in backend.requests() if r["target"] == t] == ["GET", "GET"]
    ghtest.wait_for(lambda: ghtest.get(gh.port, t).body.startswith(b"fetch 2 of"), 5,
                    what="the refreshed object")


def test_background_refresh_in_flight_at_reload_and_stop(gh_factory, backend):
    """A worker that exits (reload, then stop) while a background refresh waits for
    the upstream aborts it cleanly: no leak or error (the sanitizers watch the logs),
    and the new workers refresh the object again."""
    gh = gh_factory(config(backend, workers=1))
    t = "/cache/swrx?" + cc("max-age=1, stale-while-revalidate=30", hang_after=1)
    ghtest.get(gh.port, t)
    time.sleep(1.6)
    assert ghtest.get(gh.port, t).header("X-Cache") == "STALE"
    ghtest.wait_for(lambda: fetches(backend, t) == 2, 10, what="the background refresh")
    old = set(gh.worker_pids())
    gh.reload()
    ghtest.wait_for(lambda: not (set(gh.worker_pids()) & old), 15, what="new workers")
    r = ghtest.get(gh.port, t)
    assert r.header("X-Cache") == "STALE"        # the claim ran out or is the new one's
    gh.stop()


def test_stale_while_revalidate_window_over(gh_factory, backend):
    gh = gh_factory(config(backend))
    t = "/cache/swr1?" + cc("max-age=1, stale-while-revalidate=1")
    ghtest.get(gh.port, t)
    time.sleep(3.3)                              # an age of at least 3: stale by 2 > 1
    r = ghtest.get(gh.port, t)
    assert r.header("X-Cache") == "EXPIRED" and r.body.startswith(b"fetch 2 of")


def test_client_max_stale(gh_factory, backend):
    gh = gh_factory(config(backend))
    t = "/cache/ms?" + cc("max-age=1")
    first = ghtest.get(gh.port, t)
    time.sleep(1.6)
    r = ghtest.get(gh.port, t, headers=[("Cache-Control", "max-stale=60")])
    assert r.header("X-Cache") == "STALE" and r.body == first.body
    assert fetches(backend, t) == 1
    mr = "/cache/msmr?" + cc("max-age=1, must-revalidate")
    ghtest.get(gh.port, mr)
    time.sleep(1.6)
    r = ghtest.get(gh.port, mr, headers=[("Cache-Control", "max-stale=60")])
    assert r.header("X-Cache") == "EXPIRED"


def test_stale_over_http2(gh_factory, backends):
    """The stale answer goes through an HTTP/2 stream's sink as well (the pump switches
    from the failed upstream to the stored object)."""
    import shutil
    import subprocess
    import pytest
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    b = backends("h2down")
    text = config(b).replace('\n  { address = "127.0.0.1:0"; }',
                             '\n  { address = "127.0.0.1:0"; http2 = true; }', 1)
    gh = gh_factory(text)
    t = "/cache/h2stale?" + cc("max-age=1, stale-if-error=60", fail_after=1, len=100000)
    url = "http://127.0.0.1:%d%s" % (gh.port, t)

    def curl():
        out = subprocess.run(["curl", "-sS", "-i", "--http2-prior-knowledge", url],
                             capture_output=True, timeout=30)
        assert out.returncode == 0, out.stderr
        head, _, body = out.stdout.partition(b"\r\n\r\n")
        return head.decode("latin-1"), body
    head, first = curl()
    assert re.search(r"(?im)^x-cache: MISS", head) and len(first) == 100000
    time.sleep(1.6)
    head, body = curl()                          # the upstream answers 500
    assert head.startswith("HTTP/2 200") and re.search(r"(?im)^x-cache: STALE", head), head
    assert body == first
    b.stop()
    head, body = curl()                          # no server up
    assert head.startswith("HTTP/2 200") and re.search(r"(?im)^x-cache: STALE", head), head
    assert body == first
