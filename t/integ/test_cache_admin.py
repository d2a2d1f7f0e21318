"""The cache's admin calls (server/admin_cache.c, SPEC section 6): POST /cache/purge by
URL (the cache's primary key, normalized as a request's) or by prefix, GET /cache counts,
the store series in /metrics, and LRU eviction under size pressure. The backend counts what
reaches it (/cache/... answers "fetch K of TARGET")."""

import json
import re

import ghtest
from ghtest import admin_block, admin_port, make_config, route_upstream, upstream

CACHE = 'cache = { size = "4M"; max_object_size = "1M"; };'
FRESH = "?h=Cache-Control:%20max-age=600"


def config(backend, cache=CACHE, token=""):
    # One worker: a MISS is committed when the proxy lets go of the upstream, a moment
    # after the client has the last byte, so a request on another worker right away
    # could still find it being written (tested across workers in test_cache.py).
    routes = [route_upstream("/cache/", "app", 'cache = { ttl = "60s"; };'),
              route_upstream("/", "app")]
    return make_config(workers=1, upstreams=[upstream("app", [backend.port])], routes=routes,
                       extra=cache + "\n" + admin_block(token))


def fetches(backend, target):
    return sum(1 for r in backend.requests() if r["target"] == target)


def get(gh, target, host="localhost"):
    return ghtest.get(gh.port, target, host=host)


def xcache(gh, target, host="localhost"):
    r = get(gh, target, host)
    assert r.status == 200, r
    return r.header("X-Cache")


def admin(gh, method, path, body=None, token=None):
    headers = [("Authorization", "Bearer %s" % token)] if token else []
    if body is not None and not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    return ghtest.request(admin_port(gh), method, path, headers=headers, body=body)


def purge(gh, token=None, **field):
    r = admin(gh, "POST", "/cache/purge", field, token)
    assert r.status == 200, (r, r.text)
    return r.json()


def stats(gh, token=None):
    r = admin(gh, "GET", "/cache", token=token)
    assert r.status == 200 and r.header("Content-Type") == "application/json", r
    return r.json()


def enabled_is(gh, want):
    """For wait_for across a reload: the old helper may reset a call it had accepted."""
    try:
        return admin(gh, "GET", "/cache").json().get("enabled") is want
    except (ghtest.ConnectionClosed, OSError, ValueError):
        return False


def metric(gh, name):
    text = admin(gh, "GET", "/metrics").text
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    assert m, (name, text[-3000:])
    assert re.search(r"^# TYPE %s (gauge|counter)$" % re.escape(name), text, re.M), name
    assert re.search(r"^# HELP %s \S" % re.escape(name), text, re.M), name
    return int(m.group(1))


def test_purge_url_then_miss(gh_factory, backend):
    gh = gh_factory(config(backend))
    t = "/cache/p" + FRESH
    assert xcache(gh, t) == "MISS" and xcache(gh, t) == "HIT"
    out = purge(gh, url="http://localhost" + t)
    assert out == {"purged": 1, "key": "GET http://localhost" + t}, out
    gh.wait_log(r'admin: cache purge of key "GET http://localhost/cache/p\?h=.*": 1 object$')
    r = get(gh, t)
    assert r.header("X-Cache") == "MISS" and r.body.startswith(b"fetch 2 of ")
    assert fetches(backend, t) == 2
    assert xcache(gh, t) == "HIT"
    # N = 0 is still a 200
    assert purge(gh, url="http://localhost/cache/never")["purged"] == 0


def test_purge_url_is_normalized_like_the_key(gh_factory, backend):
    gh = gh_factory(config(backend))
    # stored through a Host with case and the default port, and a dot-segment
    t = "/cache/n/x/../b" + FRESH
    assert xcache(gh, t, host="Example.COM:80") == "MISS"
    assert xcache(gh, "/cache/n/b" + FRESH, host="example.com") == "HIT"
    out = purge(gh, url="HTTP://example.com.:80/cache/n/%62" + FRESH + "#frag")
    assert out["purged"] == 1 and out["key"] == "GET http://example.com/cache/n/b" + FRESH, out
    assert xcache(gh, "/cache/n/b" + FRESH, host="example.com") == "MISS"


def test_purge_url_drops_only_that_key(gh_factory, backend):
    """Objects that differ only by what the key holds (host, query) are separate: a
    purge by URL takes exactly the one named (HEAD shares the GET object)."""
    gh = gh_factory(config(backend))
    a, b = "/cache/v" + FRESH + "&x=1", "/cache/v" + FRESH + "&x=2"
    for t, host in ((a, "one.test"), (b, "one.test"), (a, "two.test")):
        assert xcache(gh, t, host) == "MISS"
    assert purge(gh, url="http://one.test" + a)["purged"] == 1
    assert xcache(gh, a, "one.test") == "MISS"
    assert xcache(gh, b, "one.test") == "HIT"
    assert xcache(gh, a, "two.test") == "HIT"
    h = ghtest.request(gh.port, "HEAD", b, host="one.test")
    assert h.header("X-Cache") == "HIT"
    assert purge(gh, url="http://one.test" + b)["purged"] == 1
    h = ghtest.request(gh.port, "HEAD", b, host="one.test")
    assert h.header("X-Cache") == "MISS"
    # the https key is another object: a purge of http does not name it (and vice versa)
    assert purge(gh, url="https://two.test" + a)["purged"] == 0
    assert xcache(gh, a, "two.test") == "HIT"


def test_purge_prefix_drops_exactly_the_set(gh_factory, backend):
    gh = gh_factory(config(backend))
    under = ["/cache/dir/a", "/cache/dir/b/c", "/cache/dir/.well-known", "/cache/dir/"]
    outside = ["/cache/dirt", "/cache/di", "/cache/other/dir/a"]
    for p in under + outside:
        assert xcache(gh, p + FRESH) == "MISS"
        assert xcache(gh, p + FRESH, host="elsewhere.test") == "MISS"
    out = purge(gh, prefix="http://LOCALHOST:80/cache/x/../dir/")
    assert out == {"purged": len(under), "prefix": "GET http://localhost/cache/dir/"}, out
    for p in under:
        assert xcache(gh, p + FRESH) == "MISS", p
    for p in outside:
        assert xcache(gh, p + FRESH) == "HIT", p
    for p in under + outside:
        assert xcache(gh, p + FRESH, host="elsewhere.test") == "HIT", p
    # a partial last segment is a string prefix, not normalized away: "/cache/dir/."
    # names .well-known only (and the objects just stored again are back)
    assert purge(gh, prefix="http://localhost/cache/dir/.")["purged"] == 1
    assert xcache(gh, "/cache/dir/.well-known" + FRESH) == "MISS"
    assert xcache(gh, "/cache/dir/a" + FRESH) == "HIT"
    # a prefix with a query: the path is complete, the query a prefix
    assert purge(gh, prefix="http://localhost/cache/dir/a?h=")["purged"] == 1
    assert xcache(gh, "/cache/dir/a" + FRESH) == "MISS"
    # the whole host
    n = purge(gh, prefix="http://elsewhere.test")["purged"]
    assert n == len(under) + len(outside), n
    for p in under + outside:
        assert xcache(gh, p + FRESH, host="elsewhere.test") == "MISS", p


def test_bad_bodies_are_400_with_a_reason(gh_factory, backend):
    gh = gh_factory(config(backend))
    cases = [
        ("{", "line 1"),
        ("[]", "object"),
        ("", "url"),                                   # {}: neither field
        ('{"url": "http://h/", "prefix": "http://h/"}', "url"),
        ('{"url": 1}', "url"),
        ('{"prefix": null}', "prefix"),
        ('{"url": "http://h/", "ttl": 1}', "unknown field"),
        ('{"url": "http://h/", "url": "http://h/x"}', "url"),
        ('{"url": "/cache/x"}', "http://"),
        ('{"url": "ftp://h/x"}', "http://"),
        ('{"url": "http://u@h/x"}', "userinfo"),
        ('{"url": "http://h:x/"}', "host"),
        ('{"url": "http://h/a b"}', "space"),
        ('{"url": "http://h/../x"}', "above the root"),
        ('{"prefix": "http://h/%zz"}', "escape"),
    ]
    for body, word in cases:
        r = admin(gh, "POST", "/cache/purge", body)
        assert r.status == 400, (body, r)
        j = r.json()
        assert j["error"] == "400 Bad Request" and word in j["reason"], (body, j)
    r = admin(gh, "GET", "/cache/purge")
    assert r.status == 405 and r.header("Allow") == "POST"
    r = admin(gh, "POST", "/cache")
    assert r.status == 405 and r.header("Allow") == "GET"
    assert admin(gh, "GET", "/cache/nope").status == 404


def test_token_applies(gh_factory, backend):
    gh = gh_factory(config(backend, token="s3cret"))
    t = "/cache/tok" + FRESH
    assert xcache(gh, t) == "MISS"
    for method, path in (("POST", "/cache/purge"), ("GET", "/cache")):
        r = admin(gh, method, path, {"url": "http://localhost" + t})
        assert r.status == 401 and r.header("WWW-Authenticate") == "Bearer", r
        r = admin(gh, method, path, {"url": "http://localhost" + t}, token="wrong")
        assert r.status == 401
    assert xcache(gh, t) == "HIT"
    assert purge(gh, token="s3cret", url="http://localhost" + t)["purged"] == 1
    assert stats(gh, "s3cret")["purged"] == 1
    assert xcache(gh, t) == "MISS"


def test_counts_move(gh_factory, backend):
    gh = gh_factory(config(backend))
    s0 = stats(gh)
    assert s0["enabled"] is True and s0["size"] == 4 << 20 and s0["max_object_size"] == 1 << 20
    assert s0["objects"] == 0 and s0["bytes"] == 0 and s0["blocks_used"] == 0
    assert s0["blocks_total"] > 0 and s0["block_size"] == 4096
    assert s0["requests"] == {"hit": 0, "miss": 0, "expired": 0, "stale": 0, "bypass": 0}
    assert metric(gh, "gatehouse_cache_objects") == 0
    # no-transform: not compressed, so no Vary: Accept-Encoding and one object
    # (a compressible one is a vary marker and its variant, test_cache_vary.py)
    t = "/cache/c" + FRESH + ",%20no-transform&len=10000"
    assert xcache(gh, t) == "MISS"
    assert xcache(gh, t) == "HIT" and xcache(gh, t) == "HIT"
    ghtest.request(gh.port, "POST", "/cache/c", body="x")            # a body: BYPASS
    s1 = stats(gh)
    assert s1["objects"] == 1 and s1["inserts"] == 1, s1
    assert 10000 < s1["bytes"] < 11000 and s1["blocks_used"] == 3, s1
    assert s1["requests"] == {"hit": 2, "miss": 1, "expired": 0, "stale": 0, "bypass": 1}, s1
    assert metric(gh, "gatehouse_cache_objects") == 1
    assert metric(gh, "gatehouse_cache_bytes") == s1["bytes"]
    assert metric(gh, "gatehouse_cache_size_bytes") == 4 << 20
    assert metric(gh, "gatehouse_cache_inserts_total") == 1
    assert metric(gh, "gatehouse_cache_evictions_total") == 0
    assert metric(gh, "gatehouse_cache_purged_total") == 0
    text = admin(gh, "GET", "/metrics").text
    assert 'gatehouse_cache_requests_total{result="STALE"} 0' in text
    assert purge(gh, prefix="http://localhost/cache/")["purged"] == 1
    s2 = stats(gh)
    assert s2["objects"] == 0 and s2["bytes"] == 0 and s2["blocks_used"] == 0, s2
    assert s2["purged"] == 1
    assert metric(gh, "gatehouse_cache_purged_total") == 1
    assert metric(gh, "gatehouse_cache_objects") == 0
    # the purged count outlives the helper (a reload forks a new one)
    gh.reload()
    gh.wait_log(r"old helper \d+ exited")
    ghtest.wait_for(lambda: enabled_is(gh, True), what="the new helper")
    assert stats(gh)["purged"] == 1


def test_cache_off(gh_factory, backend):
    gh = gh_factory(config(backend, cache=""))
    r = admin(gh, "GET", "/cache")
    assert r.status == 200 and r.json() == {"enabled": False}
    out = purge(gh, url="http://localhost/cache/x")
    assert out == {"purged": 0, "key": "GET http://localhost/cache/x", "enabled": False}
    assert admin(gh, "POST", "/cache/purge", '{"url": "x"}').status == 400
    assert metric(gh, "gatehouse_cache_objects") == 0


def test_purge_reaches_a_store_kept_while_off(gh_factory, backend):
    """A reload to cache.size = 0 keeps the region (and its objects, for a reload back
    on): a purge while off still drops them, so they are not served once it is on."""
    gh = gh_factory(config(backend))
    t = "/cache/kept" + FRESH
    assert xcache(gh, t) == "MISS" and xcache(gh, t) == "HIT"
    gh.write_config(config(backend, cache=""))
    gh.reload()
    gh.wait_log(r"old helper \d+ exited")
    ghtest.wait_for(lambda: enabled_is(gh, False), what="the new helper")
    out = purge(gh, url="http://localhost" + t)
    assert out["purged"] == 1 and out["enabled"] is False, out
    gh.write_config(config(backend))
    gh.reload()
    ghtest.wait_for(lambda: enabled_is(gh, True), what="cache on again")
    gh.wait_workers(1)
    assert xcache(gh, t) == "MISS"


def test_eviction_under_size_pressure(gh_factory, backend):
    """A small store: the object count stays bounded, evictions grow, new objects are
    HITs and the oldest are gone (MISS again)."""
    gh = gh_factory(config(backend, cache='cache = { size = "256k"; max_object_size = "64k"; };'))
    total = stats(gh)["blocks_total"]
    n = total * 3
    targets = ["/cache/e%03d" % i + FRESH + "&len=3000" for i in range(n)]
    for t in targets:
        assert xcache(gh, t) == "MISS", t
    s = stats(gh)
    assert s["objects"] <= total and s["blocks_used"] <= total, s
    assert s["evictions"] >= n - total, s
    assert metric(gh, "gatehouse_cache_evictions_total") == s["evictions"]
    # the newest are still there, the oldest were evicted (LRU)
    for t in targets[-5:]:
        assert xcache(gh, t) == "HIT", t
    for t in targets[:5]:
        assert xcache(gh, t) == "MISS", t
        assert fetches(backend, t) == 2
    assert stats(gh)["objects"] <= total


def test_purge_while_being_written(gh_factory, backend):
    """An object still being written is purged too: the client filling it gets its whole
    answer, but the writer's commit goes nowhere and the next request is a MISS."""
    gh = gh_factory(config(backend))
    # no-transform: one object, not a vary marker and a variant (test_cache_vary.py)
    t = "/cache/w" + FRESH + ",%20no-transform&len=20000&drip=150"   # 4 parts, 150 ms apart
    with ghtest.HttpConn(gh.port, timeout=10) as c:
        c.send(("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % t).encode())
        backend.wait_request(lambda r: r["target"] == t)
        ghtest.wait_for(lambda: stats(gh)["objects"] == 1, what="the object being written")
        assert purge(gh, url="http://localhost" + t)["purged"] == 1
        r = c.read_response("GET")
    assert r.status == 200 and r.header("X-Cache") == "MISS" and len(r.body) == 20000
    assert stats(gh)["objects"] == 0
    r = get(gh, t)
    assert r.header("X-Cache") == "MISS" and r.body.startswith(b"fetch 2 of ")
    assert xcache(gh, t) == "HIT"
