"""Range on stored objects (modules/cache_hit.c, issue 13): a single byte range of a
stored 200 is answered 206 from the store, an unsatisfiable one 416, several ranges the
whole object; If-Range decides; a miss with Range is fetched whole (Range is not sent
upstream) and stored, as nginx's proxy_cache does."""

from urllib.parse import quote

import ghtest
from test_cache import cc_target, fetches
from test_cache_vary import config, get

LM = "Sun, 06 Nov 1994 08:49:37 GMT"


def req_headers(backend, target):
    return [dict((k.lower(), v) for k, v in r["headers"])
            for r in backend.requests() if r["target"] == target]


def test_range_from_the_store(gh_factory, backend):
    gh = gh_factory(config(backend, workers=2))
    t = cc_target("/cache/r", "Cache-Control: max-age=60", len=1000, etag="v1", lm=quote(LM, safe=""))
    miss = get(gh, t, [("Range", "bytes=0-9")])
    # the miss is the whole 200, fetched without Range
    assert miss.status == 200 and miss.header("X-Cache") == "MISS" and len(miss.body) == 1000
    assert "range" not in req_headers(backend, t)[0]
    whole = miss.body
    # a hit says that ranges are answered
    hit = get(gh, t)
    assert hit.status == 200 and hit.header("Accept-Ranges") == "bytes"
    cases = [("bytes=0-9", 0, 9), ("bytes=990-", 990, 999), ("bytes=-5", 995, 999),
             ("bytes=500-5000", 500, 999), ("BYTES=7-7", 7, 7), ("bytes=-5000", 0, 999)]
    for rng, first, last in cases:
        r = get(gh, t, [("Range", rng)])
        assert r.status == 206 and r.header("X-Cache") == "HIT", rng
        assert r.header("Content-Range") == "bytes %d-%d/1000" % (first, last), rng
        assert r.body == whole[first:last + 1]
        assert r.header("Content-Length") == str(last - first + 1)
        assert r.header("ETag") == '"v1"'
    for rng in ("bytes=1000-", "bytes=5000-6000", "bytes=-0"):
        r = get(gh, t, [("Range", rng)])
        assert r.status == 416 and r.header("Content-Range") == "bytes */1000", rng
        assert r.body == b"" and r.header("X-Cache") == "HIT"
    # several ranges, other units, bad syntax: the whole object
    for rng in ("bytes=0-1,5-6", "items=0-1", "bytes=9-1", "bytes=x"):
        r = get(gh, t, [("Range", rng)])
        assert r.status == 200 and r.body == whole and r.header("Content-Range") is None, rng
    # If-Range: the strong ETag or the Last-Modified date allow it, anything else not
    for ifr, part in (('"v1"', True), ('"v2"', False), ('W/"v1"', False), (LM, True),
                      ("Mon, 07 Nov 1994 08:49:37 GMT", False)):
        r = get(gh, t, [("Range", "bytes=0-9"), ("If-Range", ifr)])
        assert r.status == (206 if part else 200), ifr
        assert r.body == (whole[:10] if part else whole)
    # HEAD ignores Range
    h = ghtest.request(gh.port, "HEAD", t, headers=[("Range", "bytes=0-9")])
    assert h.status == 200 and h.header("Content-Length") == "1000" and h.body == b""
    assert fetches(backend, t) == 1


def test_range_of_a_compressed_variant(gh_factory, backend):
    """Range applies to the representation: the stored gzip bytes."""
    gh = gh_factory(config(backend))
    t = cc_target("/cache/rz", "Cache-Control: max-age=60", len=6000)
    gz = get(gh, t, [("Accept-Encoding", "gzip")]).body
    # a compressed hit does not advertise ranges (the filter drops Accept-Ranges)
    hit = get(gh, t, [("Accept-Encoding", "gzip")])
    assert hit.header("X-Cache") == "HIT" and hit.header("Accept-Ranges") is None
    r = get(gh, t, [("Accept-Encoding", "gzip"), ("Range", "bytes=0-99")])
    assert r.status == 206 and r.header("Content-Encoding") == "gzip"
    assert r.header("Content-Range") == "bytes 0-99/%d" % len(gz) and r.body == gz[:100]
    assert fetches(backend, t) == 1


def test_range_not_stored_passes_the_whole_answer(gh_factory, backend):
    """A response that is not stored still went upstream without Range (the cache did not
    know in advance), and the client gets the whole 200 (RFC 9110 14.2 allows it)."""
    gh = gh_factory(config(backend))
    t = cc_target("/cache/rn", "Cache-Control: no-store", len=1000)
    r = get(gh, t, [("Range", "bytes=0-9")])
    assert r.status == 200 and len(r.body) == 1000 and r.header("X-Cache") == "MISS"
    # a route without a cache passes Range on as it came
    r = get(gh, "/echo", [("Range", "bytes=0-9")])
    assert r.status == 200 and '"Range", "bytes=0-9"' in r.text


def test_range_of_a_streamed_hit(gh_factory, backend):
    """An object over the one-piece size (64 KB) is streamed from the store: the range
    starts and stops inside it."""
    gh = gh_factory(config(backend))
    n = 300000
    t = cc_target("/cache/rb", "Cache-Control: max-age=60", len=n)
    whole = get(gh, t).body
    assert len(whole) == n
    for rng, first, last in (("bytes=100000-100099", 100000, 100099),
                             ("bytes=70000-", 70000, n - 1), ("bytes=-1", n - 1, n - 1),
                             ("bytes=1-199999", 1, 199999)):
        r = ghtest.get(gh.port, t, headers=[("Range", rng)], timeout=20)
        assert r.status == 206 and r.header("Content-Range") == "bytes %d-%d/%d" % (first, last, n)
        assert r.body == whole[first:last + 1], rng
    assert fetches(backend, t) == 1


def test_waiter_for_another_variant_fetches_whole(gh_factory, backend):
    """A miss that waited on a pending object which turned out to vary, for another
    variant than its own, goes upstream itself, without its Range, and stores the
    whole answer."""
    import threading
    gh = gh_factory(config(backend))
    t = cc_target("/cache/wv", "Cache-Control: max-age=60", "Vary: X-Lang", wait=700, len=1000)
    first = {}
    th = threading.Thread(target=lambda: first.update(r=get(gh, t, [("X-Lang", "en")])))
    th.start()
    backend.wait_request(lambda r: r["target"] == t)
    r = get(gh, t, [("X-Lang", "fr"), ("Range", "bytes=0-9")])
    th.join(10)
    assert first["r"].status == 200 and first["r"].body.startswith(b"fetch 1 of")
    assert r.status == 200 and len(r.body) == 1000 and r.body.startswith(b"fetch 2 of")
    got = req_headers(backend, t)
    assert len(got) == 2 and "range" not in got[1] and got[1].get("x-lang") == "fr"
    r = get(gh, t, [("X-Lang", "fr"), ("Range", "bytes=0-9")])
    assert r.status == 206 and r.header("X-Cache") == "HIT" and r.body.startswith(b"fetch 2")
