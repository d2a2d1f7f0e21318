"""Revalidation and conditional requests in the cache (modules/cache_reval.c,
cache_hit.c, issue 13): an expired object with an ETag or Last-Modified is revalidated
with the object's own validators; a 304 refreshes it (new freshness and fields) and the
client gets the stored body with X-Cache: EXPIRED, the upstream sending no body; a 200
replaces it. A fresh object answers the client's If-None-Match / If-Modified-Since with
a 304 itself."""

import re
import subprocess
import time
from urllib.parse import quote

import pytest

import ghtest
from test_cache import cc_target, fetches
from test_cache_vary import config, get

LM = "Sun, 06 Nov 1994 08:49:37 GMT"
LMQ = quote(LM, safe="")


def sent(backend, target):
    """The request headers (lower-cased names) of each request the backend got."""
    return [dict((k.lower(), v) for k, v in r["headers"])
            for r in backend.requests() if r["target"] == target]


def statuses(backend, target):
    return len(sent(backend, target))


def test_304_refreshes_the_object(gh_factory, backend):
    gh = gh_factory(config(backend, workers=2))
    t = cc_target("/cache/e", "Cache-Control: max-age=1", "X-Version: 1", etag="v1",
                  h304=quote("Cache-Control: max-age=60", safe=""))
    first = get(gh, t)
    assert first.header("X-Cache") == "MISS" and first.header("ETag") == '"v1"'
    time.sleep(2.1)
    r = get(gh, t)
    assert r.status == 200 and r.header("X-Cache") == "EXPIRED"
    assert r.body == first.body and r.header("Content-Length") == str(len(first.body))
    got = sent(backend, t)
    assert len(got) == 2 and got[1].get("if-none-match") == '"v1"'
    assert "if-modified-since" not in got[1]
    # the 304's Cache-Control replaced the stored one: fresh for 60 s now
    time.sleep(1.5)
    for _ in range(3):
        r = get(gh, t)
        assert r.header("X-Cache") == "HIT" and r.body == first.body
        assert r.header("Cache-Control") == "max-age=60" and r.header("X-Version") == "1"
        assert int(r.header("Age")) < 5
    assert statuses(backend, t) == 2 and fetches(backend, t) == 2


def test_last_modified_and_a_200(gh_factory, backend):
    gh = gh_factory(config(backend))
    # Last-Modified only: If-Modified-Since goes upstream
    t = cc_target("/cache/lm", "Cache-Control: max-age=1", lm=LMQ)
    first = get(gh, t)
    time.sleep(2.1)
    r = get(gh, t)
    assert r.header("X-Cache") == "EXPIRED" and r.body == first.body
    got = sent(backend, t)
    assert got[1].get("if-modified-since") == LM and "if-none-match" not in got[1]
    # an upstream that answers 200 anyway: the new object replaces the old
    t = cc_target("/cache/nm", "Cache-Control: max-age=2", 'ETag: "x"')
    get(gh, t)
    time.sleep(3.1)
    r = get(gh, t)
    assert r.header("X-Cache") == "EXPIRED" and r.body.startswith(b"fetch 2 of")
    assert sent(backend, t)[1].get("if-none-match") == '"x"'
    r = get(gh, t)
    assert r.header("X-Cache") == "HIT" and r.body.startswith(b"fetch 2 of")
    # no validator: fetched again whole, unconditionally
    t = cc_target("/cache/nv", "Cache-Control: max-age=1")
    get(gh, t)
    time.sleep(2.1)
    assert get(gh, t).body.startswith(b"fetch 2 of")
    assert "if-none-match" not in sent(backend, t)[1]


def test_no_cache_revalidates_every_time(gh_factory, backend):
    gh = gh_factory(config(backend))
    nc = cc_target("/cache/nc", "Cache-Control: no-cache", etag="n")
    first = get(gh, nc)
    for _ in range(3):
        r = get(gh, nc)
        assert r.header("X-Cache") == "EXPIRED" and r.body == first.body
    assert statuses(backend, nc) == 4 and fetches(backend, nc) == 4
    # a response's max-age=0, and must-revalidate once stale, the same
    for cc, tag in (("max-age=0", "z"), ("max-age=1, must-revalidate", "mr")):
        t = cc_target("/cache/mz", "Cache-Control: " + cc, etag=tag)
        first = get(gh, t)
        time.sleep(2.1)
        r = get(gh, t)
        assert r.header("X-Cache") == "EXPIRED" and r.body == first.body, cc
        assert sent(backend, t)[1].get("if-none-match") == '"%s"' % tag
    # and a client's max-age=0 on a fresh object
    t = cc_target("/cache/ma", "Cache-Control: max-age=60", etag="m")
    first = get(gh, t)
    time.sleep(1.1)
    r = get(gh, t, [("Cache-Control", "max-age=0")])
    assert r.header("X-Cache") == "EXPIRED" and r.body == first.body
    assert sent(backend, t)[1].get("if-none-match") == '"m"'


def test_client_conditionals_while_revalidating(gh_factory, backend):
    gh = gh_factory(config(backend))
    t = cc_target("/cache/cc", "Cache-Control: max-age=1", etag="v1")
    first = get(gh, t)
    time.sleep(2.1)
    # the client's own validators are not sent: the object's are, and the refreshed
    # object answers the client's
    r = get(gh, t, [("If-None-Match", '"other"')])
    assert r.status == 200 and r.header("X-Cache") == "EXPIRED" and r.body == first.body
    assert sent(backend, t)[1].get("if-none-match") == '"v1"'
    time.sleep(2.1)
    r = get(gh, t, [("If-None-Match", '"v1"'), ("Range", "bytes=0-3")])
    assert r.status == 304 and r.header("X-Cache") == "EXPIRED" and r.body == b""
    time.sleep(2.1)
    r = get(gh, t, [("Range", "bytes=0-3")])
    assert r.status == 206 and r.body == first.body[:4] and r.header("X-Cache") == "EXPIRED"
    assert "range" not in sent(backend, t)[3]


def test_conditional_miss_is_forwarded(gh_factory, backend):
    gh = gh_factory(config(backend))
    t = cc_target("/cache/cm", "Cache-Control: max-age=60", etag="v1")
    r = get(gh, t, [("If-None-Match", '"v1"')])
    assert r.status == 304 and r.header("X-Cache") == "MISS"
    assert sent(backend, t)[0].get("if-none-match") == '"v1"'
    # the 304 was not stored
    r = get(gh, t)
    assert r.status == 200 and r.header("X-Cache") == "MISS"
    assert get(gh, t).header("X-Cache") == "HIT"


def test_conditional_hits(gh_factory, backend):
    gh = gh_factory(config(backend, workers=2))
    t = cc_target("/cache/ch", "Cache-Control: max-age=60", "Expires: Thu, 01 Jan 2099 00:00:00 GMT",
                  "X-Other: 1", etag="v1", lm=LMQ)
    full = get(gh, t)
    for inm in ('"v1"', 'W/"v1"', '"a", "v1"', '*', ' "x" , W/"v1" '):
        r = get(gh, t, [("If-None-Match", inm)])
        assert r.status == 304 and r.header("X-Cache") == "HIT", inm
        assert r.body == b"" and r.header("Content-Length") is None
        assert r.header("ETag") == '"v1"' and r.header("Last-Modified") == LM
        assert r.header("Cache-Control") == "max-age=60" and r.header("Expires")
        assert r.header("Date") and r.header("X-Other") is None
        assert r.header("Content-Type") is None
    for inm in ('"v2"', 'v1', '"a", "b"'):
        r = get(gh, t, [("If-None-Match", inm)])
        assert r.status == 200 and r.body == full.body, inm
    # If-Modified-Since: the stored Last-Modified or later
    for ims, nm in ((LM, True), ("Mon, 07 Nov 1994 08:49:37 GMT", True),
                    ("Sat, 05 Nov 1994 08:49:37 GMT", False), ("garbage", False)):
        r = get(gh, t, [("If-Modified-Since", ims)])
        assert r.status == (304 if nm else 200), ims
    # If-None-Match wins over If-Modified-Since
    r = get(gh, t, [("If-None-Match", '"v2"'), ("If-Modified-Since", LM)])
    assert r.status == 200
    # HEAD too
    h = ghtest.request(gh.port, "HEAD", t, headers=[("If-None-Match", '"v1"')])
    assert h.status == 304
    # on the same connection, the 304 keeps it usable
    with ghtest.HttpConn(gh.port) as c:
        assert c.request("GET", t, headers=[("If-None-Match", '"v1"')]).status == 304
        assert c.request("GET", t).status == 200
    assert statuses(backend, t) == 1


def test_304_refreshes_a_large_object(gh_factory, backend):
    """The refresh copies the old body (here 300 KB, streamed to the client) into the new
    object; a compressed variant keeps its weak ETag."""
    gh = gh_factory(config(backend))
    t = cc_target("/cache/big", "Cache-Control: max-age=1", etag="b", len=300000,
                  h304=quote("Cache-Control: max-age=60", safe=""))
    first = get(gh, t)
    gz = get(gh, t, [("Accept-Encoding", "gzip")])
    assert gz.header("ETag") == 'W/"b"' and gz.header("X-Cache") == "MISS"
    time.sleep(2.1)
    r = ghtest.get(gh.port, t, timeout=20)
    assert r.header("X-Cache") == "EXPIRED" and r.body == first.body
    r = get(gh, t, [("Accept-Encoding", "gzip")])
    assert r.header("X-Cache") == "EXPIRED" and r.body == gz.body
    assert r.header("ETag") == 'W/"b"' and r.header("Content-Encoding") == "gzip"
    assert sent(backend, t)[3].get("if-none-match") == 'W/"b"'
    assert get(gh, t).header("X-Cache") == "HIT"
    assert statuses(backend, t) == 4


def curl_h2(port, target, headers=()):
    args = ["curl", "-sS", "-i", "--http2-prior-knowledge"]
    for k, v in headers:
        args += ["-H", "%s: %s" % (k, v)]
    out = subprocess.run(args + ["http://127.0.0.1:%d%s" % (port, target)],
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


def test_over_http2(gh_factory, backend):
    """The answers from stored objects go through an HTTP/2 stream's sink too: a 304 to a
    conditional, a 206, a 416, and the object refreshed by a 304 (EXPIRED)."""
    if subprocess.run(["which", "curl"], capture_output=True).returncode != 0:
        pytest.skip("curl is not installed")
    from test_cache_hit import config as h2_config
    gh = gh_factory(h2_config(backend, h2=True))
    for size in (1000, 300000):
        t = cc_target("/cache/h2c", "Cache-Control: max-age=1", etag="h", len=size)
        head, first = curl_h2(gh.port, t)
        assert re.search(r"(?im)^x-cache: MISS", head) and len(first) == size
        head, body = curl_h2(gh.port, t, [("If-None-Match", '"h"')])
        assert head.startswith("HTTP/2 304") and body == b"", head
        head, body = curl_h2(gh.port, t, [("Range", "bytes=10-19")])
        assert head.startswith("HTTP/2 206") and body == first[10:20], head
        assert re.search(r"(?im)^content-range: bytes 10-19/%d" % size, head)
        head, body = curl_h2(gh.port, t, [("Range", "bytes=%d-" % size)])
        assert head.startswith("HTTP/2 416"), head
        time.sleep(2.1)
        head, body = curl_h2(gh.port, t)
        assert head.startswith("HTTP/2 200") and re.search(r"(?im)^x-cache: EXPIRED", head)
        assert body == first
        assert sent(backend, t)[1].get("if-none-match") == '"h"'


def test_keep_alive_after_a_refresh(gh_factory, backend):
    """The client connection goes on after an answer from a refreshed object (the proxy
    let go of the request mid-way): more requests on it, pipelined too, for a small
    (one-piece) and a streamed object; HTTP/1.0 gets its whole answer and a close."""
    gh = gh_factory(config(backend))
    for size in (100, 200000):
        t = cc_target("/cache/ka%d" % size, "Cache-Control: max-age=1", etag="k", len=size)
        first = get(gh, t)
        time.sleep(2.1)
        with ghtest.HttpConn(gh.port, timeout=20) as c:
            r = c.request("GET", t)
            assert r.header("X-Cache") == "EXPIRED" and r.body == first.body
            r = c.request("GET", t)
            assert r.header("X-Cache") == "HIT" and r.body == first.body
            req = ("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % t).encode()
            c.send(req + req)
            for _ in range(2):
                r = c.read_response("GET")
                assert r.status == 200 and r.body == first.body
        time.sleep(2.1)
        r = ghtest.request(gh.port, "GET", t, version="HTTP/1.0", host="localhost",
                           timeout=20)
        assert r.status == 200 and r.header("X-Cache") == "EXPIRED" and r.body == first.body


def revalidate_in_background(gh, backend, t):
    """Start a GET of t (an expired object, revalidated against a slow 304) in a thread;
    return (thread, result dict) once the revalidation reached the backend."""
    import threading
    out = {}

    def run():
        try:
            out["r"] = ghtest.get(gh.port, t, timeout=15)
        except Exception as e:          # the assertion below says what happened
            out["e"] = e
    th = threading.Thread(target=run, daemon=True)
    th.start()
    ghtest.wait_for(lambda: any("if-none-match" in h for h in sent(backend, t)), timeout=5,
                    what="the revalidation at the backend")
    return th, out


def test_refresh_not_stored_over_a_pass_marker(gh_factory, backend):
    """A 304 whose refresh is not stored (no-store) while a pass marker took the key (the
    URL purged meanwhile, then a miss whose answer may not be stored): the client gets the
    object it revalidated, not the marker (status 0 before)."""
    from test_cache_admin import config as admin_config, purge
    gh = gh_factory(admin_config(backend))
    t = cc_target("/cache/rpass", "Cache-Control: max-age=1", etag="p", wait304=1500,
                  h304=quote("Cache-Control: no-store", safe=""))
    first = get(gh, t)
    assert first.header("X-Cache") == "MISS"
    time.sleep(2.1)
    th, out = revalidate_in_background(gh, backend, t)
    assert purge(gh, url="http://localhost" + t)["purged"] == 1
    # a request with Authorization: its answer is not stored, a pass marker is
    b = get(gh, t, [("Authorization", "Basic eDp5")])
    assert b.status == 200 and b.header("X-Cache") == "MISS"
    th.join(15)
    r = out.get("r")
    assert r is not None, out
    assert r.status == 200 and r.header("X-Cache") == "EXPIRED", r
    assert r.body == first.body


def test_purge_during_revalidation_is_not_undone(gh_factory, backend):
    """A URL purged while its revalidation waits for the 304: the client still gets the
    object it revalidated (EXPIRED), but the 304 does not write the purged body back into
    the store: the next request is a MISS."""
    from test_cache_admin import config as admin_config, purge
    gh = gh_factory(admin_config(backend))
    t = cc_target("/cache/rpurge", "Cache-Control: max-age=1", etag="q", wait304=1500,
                  h304=quote("Cache-Control: max-age=60", safe=""))
    first = get(gh, t)
    assert first.header("X-Cache") == "MISS"
    time.sleep(2.1)
    th, out = revalidate_in_background(gh, backend, t)
    assert purge(gh, url="http://localhost" + t)["purged"] == 1
    th.join(15)
    r = out.get("r")
    assert r is not None, out
    assert r.status == 200 and r.header("X-Cache") == "EXPIRED" and r.body == first.body
    after = get(gh, t)
    assert after.status == 200 and after.header("X-Cache") == "MISS", after
    assert after.body.startswith(b"fetch 2 of")
