"""The HTTP cache's first path (modules/cache.c, issue 13): a route with
`cache = { ttl }` answers a fresh object from the shared store (X-Cache: HIT, Age),
proxies and stores a miss as it streams (X-Cache: MISS), refuses to store what RFC 9111
forbids, and a worker killed mid-write leaves no torn object. The backend counts what
reaches it (/cache/... answers "fetch K of TARGET")."""

import os
import re
import signal
import subprocess
import time
from urllib.parse import quote

import ghtest
from ghtest import HttpConn, make_config, route_upstream, upstream

CACHE = 'cache = { size = "4M"; max_object_size = "1M"; };'


def run_binary(*args):
    return subprocess.run([ghtest.GATEHOUSE_BIN] + list(args), capture_output=True, text=True,
                          timeout=30)


def config(backend, workers=1, extra=CACHE, ttl="60s"):
    routes = [
        route_upstream("/cache/short/", "app", 'cache = { ttl = "1s"; };'),
        route_upstream("/cache/", "app", 'cache = { ttl = "%s"; };' % ttl),
        route_upstream("/drip/", "app", 'cache = { ttl = "60s"; };'),
        route_upstream("/", "app"),
    ]
    return make_config(workers=workers, upstreams=[upstream("app", [backend.port])],
                       routes=routes, extra=extra)


def fetches(backend, target):
    return sum(1 for r in backend.requests() if r["target"] == target)


def cc_target(path, *headers, **params):
    q = ["h=" + quote(h, safe="") for h in headers]
    q += ["%s=%s" % (k, v) for k, v in params.items()]
    return path + ("?" + "&".join(q) if q else "")


def test_miss_then_hit(gh_factory, backend):
    gh = gh_factory(config(backend, workers=2))
    t = cc_target("/cache/a", "Cache-Control: max-age=60", "X-Origin: yes")
    first = ghtest.get(gh.port, t)
    assert first.status == 200 and first.header("X-Cache") == "MISS"
    assert first.body == ("fetch 1 of %s\n" % t).encode()
    for _ in range(6):                      # new connections: either worker
        r = ghtest.get(gh.port, t)
        assert r.status == 200 and r.header("X-Cache") == "HIT"
        assert r.body == first.body
        assert r.header("Content-Length") == str(len(first.body))
        assert r.header("X-Origin") == "yes" and r.header("Server") == "gatehouse"
        assert r.header("X-Powered-By") is None and int(r.header("Age")) >= 0
    assert fetches(backend, t) == 1
    # HEAD is answered from the GET object, without a body
    h = ghtest.request(gh.port, "HEAD", t)
    assert h.status == 200 and h.header("X-Cache") == "HIT" and h.body == b""
    # a route without a cache block is not cached and says nothing
    r = ghtest.get(gh.port, "/other")
    assert r.header("X-Cache") is None
    # gatehouse_cache_requests_total{result}: 1 MISS, 7 HITs (6 GET, 1 HEAD)
    text = ghtest.get(ghtest.admin_port(gh), "/metrics").text
    got = dict(re.findall(r'^gatehouse_cache_requests_total\{result="(\w+)"\} (\d+)$', text, re.M))
    assert got == {"HIT": "7", "MISS": "1", "EXPIRED": "0", "STALE": "0", "BYPASS": "0"}, got


def test_route_ttl_applies_without_freshness(gh_factory, backend):
    gh = gh_factory(config(backend))
    t = "/cache/ttl"
    assert ghtest.get(gh.port, t).header("X-Cache") == "MISS"
    assert ghtest.get(gh.port, t).header("X-Cache") == "HIT"
    # the short route: fresh for 1 s, then fetched again (EXPIRED)
    s = "/cache/short/x"
    assert ghtest.get(gh.port, s).header("X-Cache") == "MISS"
    assert ghtest.get(gh.port, s).header("X-Cache") == "HIT"
    time.sleep(2.2)
    r = ghtest.get(gh.port, s)
    assert r.header("X-Cache") == "EXPIRED" and r.body.startswith(b"fetch 2 of")
    assert ghtest.get(gh.port, s).header("X-Cache") == "HIT"
    assert fetches(backend, s) == 2


def test_response_freshness_beats_ttl_unless_override(gh_factory, backends):
    b = backends("a")
    t = cc_target("/cache/short/o", "Cache-Control: max-age=100")
    gh = gh_factory(config(b))
    ghtest.get(gh.port, t)
    time.sleep(1.5)
    assert ghtest.get(gh.port, t).header("X-Cache") == "HIT"     # max-age=100 wins over 1 s
    b2 = backends("b")
    gh2 = gh_factory(config(b2, extra='cache = { size = "4M"; override = true; };'))
    ghtest.get(gh2.port, t)
    time.sleep(1.5)
    assert ghtest.get(gh2.port, t).header("X-Cache") == "EXPIRED"  # the route's 1 s wins
    assert fetches(b2, t) == 2


def test_not_stored(gh_factory, backend):
    gh = gh_factory(config(backend))
    cases = [
        cc_target("/cache/ns", "Cache-Control: no-store"),
        cc_target("/cache/pv", "Cache-Control: private, max-age=60"),
        cc_target("/cache/sc", "Set-Cookie: a=b"),
        cc_target("/cache/vs", "Vary: *"),
        cc_target("/cache/st", status=500),                   # no explicit freshness
        cc_target("/cache/mx", len=2 * 1024 * 1024),          # over max_object_size
    ]
    for t in cases:
        for _ in range(2):
            r = ghtest.get(gh.port, t, timeout=20)
            assert r.header("X-Cache") == "MISS", t
        assert fetches(backend, t) == 2, t
    # a request with Authorization is stored only when the response allows it
    auth = [("Authorization", "Basic eDp5")]
    t = cc_target("/cache/au", "Cache-Control: max-age=60")
    for _ in range(2):
        assert ghtest.get(gh.port, t, headers=auth).header("X-Cache") == "MISS"
    t = cc_target("/cache/ap", "Cache-Control: public, max-age=60")
    ghtest.get(gh.port, t, headers=auth)
    assert ghtest.get(gh.port, t, headers=auth).header("X-Cache") == "HIT"
    # Set-Cookie with public: stored, but the cookie is not shared
    t = cc_target("/cache/scp", "Cache-Control: public, max-age=60", "Set-Cookie: a=b")
    assert ghtest.get(gh.port, t).header("Set-Cookie") == "a=b"
    r = ghtest.get(gh.port, t)
    assert r.header("X-Cache") == "HIT" and r.header("Set-Cookie") is None
    # a 404 is cacheable by default (the route's ttl), a 500 with max-age too
    t = cc_target("/cache/nf", status=404)
    ghtest.get(gh.port, t)
    r = ghtest.get(gh.port, t)
    assert r.status == 404 and r.header("X-Cache") == "HIT"


def test_request_directives(gh_factory, backend):
    gh = gh_factory(config(backend))
    t = cc_target("/cache/rq", "Cache-Control: max-age=60")
    ghtest.get(gh.port, t)
    r = ghtest.get(gh.port, t, headers=[("Cache-Control", "no-cache")])
    assert r.header("X-Cache") == "EXPIRED"
    assert ghtest.get(gh.port, t, headers=[("Pragma", "no-cache")]).header("X-Cache") == "EXPIRED"
    time.sleep(1.1)                             # max-age=0 accepts an age of 0 (RFC 9111)
    assert ghtest.get(gh.port, t, headers=[("Cache-Control", "max-age=0")]).header(
        "X-Cache") == "EXPIRED"
    r = ghtest.get(gh.port, t, headers=[("Cache-Control", "no-store")])
    assert r.header("X-Cache") == "BYPASS"
    assert ghtest.get(gh.port, t).header("X-Cache") == "HIT"
    r = ghtest.get(gh.port, "/cache/none", headers=[("Cache-Control", "only-if-cached")])
    assert r.status == 504
    assert fetches(backend, "/cache/none") == 0
    r = ghtest.request(gh.port, "POST", "/cache/rq", body=b"x")
    assert r.header("X-Cache") == "BYPASS"


def test_large_chunked_object_streamed_and_hit(gh_factory, backend):
    gh = gh_factory(config(backend))
    t = cc_target("/cache/big", "Cache-Control: max-age=60", len=300000, chunked=1)
    a = ghtest.get(gh.port, t, timeout=20)
    assert a.header("X-Cache") == "MISS" and a.framing == "chunked" and len(a.body) == 300000
    b = ghtest.get(gh.port, t, timeout=20)
    assert b.header("X-Cache") == "HIT" and b.body == a.body
    assert b.header("Content-Length") == "300000"
    with HttpConn(gh.port) as c:                # keep-alive after a hit
        for _ in range(3):
            assert c.request("GET", t).body == a.body
    assert fetches(backend, t) == 1


def test_worker_killed_mid_write_leaves_no_object(gh_factory, backend):
    gh = gh_factory(config(backend))
    gh.allowed_alerts.append(r"signal 9|SIGKILL")
    t = "/drip/200/20"                          # 200 bytes, one every 20 ms
    with HttpConn(gh.port, timeout=10) as c:
        c.send(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % t).encode())
        backend.wait_request(lambda r: r["target"] == t)
        time.sleep(0.5)                         # part of the body is stored
        worker = gh.worker_pids()[0]
        os.kill(worker, signal.SIGKILL)
    gh.wait_workers(1, exclude=(worker,))
    r = ghtest.get(gh.port, t, timeout=20)
    assert r.status == 200 and r.header("X-Cache") == "MISS" and r.body == ghtest.pattern(200)
    r = ghtest.get(gh.port, t)
    assert r.header("X-Cache") == "HIT" and r.body == ghtest.pattern(200)
    assert fetches(backend, t) == 2


def test_cache_survives_reload(gh_factory, backend):
    gh = gh_factory(config(backend, workers=2))
    t = cc_target("/cache/rl", "Cache-Control: max-age=60")
    ghtest.get(gh.port, t)
    old = set(gh.worker_pids())
    gh.reload()
    ghtest.wait_for(lambda: not (set(gh.worker_pids()) & old), 15, what="new workers")
    assert ghtest.get(gh.port, t).header("X-Cache") == "HIT"
    assert fetches(backend, t) == 1


def test_config(conf_dir, backend):
    path = os.path.join(conf_dir, "c.conf")
    with open(path, "w") as f:
        f.write(config(backend, extra='cache = { size = "4M"; override = true; };'))
    out = run_binary("-T", "-c", path, "-p", conf_dir)
    assert out.returncode == 0
    assert "override = true; };" in out.stdout and 'cache = { ttl = "1s"; };' in out.stdout
    with open(path, "w") as f:
        f.write(config(backend, extra='cache = { size = "10k"; };'))
    out = run_binary("-t", "-c", path, "-p", conf_dir)
    assert out.returncode == 1
    assert "'cache.size' must be 0 (no cache) or at least 256k" in out.stderr
