"""Vary in the cache (modules/cache_vary.c, issue 13): one variant per normalized value
of the request headers a response's Vary names, and compressed responses stored once
per encoding served, so a hit is sent as it was stored and never compressed again."""

import time

import ghtest
from ghtest import make_config, route_upstream, upstream
from test_cache import CACHE, cc_target, fetches
from test_compression import decode


def config(backend, compression="", workers=1):
    extra = CACHE + (" compression = { %s };" % compression if compression else "")
    routes = [route_upstream("/cache/", "app", 'cache = { ttl = "60s"; };'),
              route_upstream("/", "app")]
    return make_config(workers=workers, upstreams=[upstream("app", [backend.port])],
                       routes=routes, extra=extra)


def get(gh, target, headers=()):
    return ghtest.get(gh.port, target, headers=list(headers))


def test_vary_one_variant_per_value(gh_factory, backend):
    gh = gh_factory(config(backend, workers=2))
    t = cc_target("/cache/v", "Cache-Control: max-age=60", "Vary: X-Lang")
    en = get(gh, t, [("X-Lang", "en")])
    assert en.header("X-Cache") == "MISS" and en.body.startswith(b"fetch 1 of")
    fr = get(gh, t, [("X-Lang", "fr")])
    assert fr.header("X-Cache") == "MISS" and fr.body.startswith(b"fetch 2 of")
    for _ in range(3):                  # either worker
        r = get(gh, t, [("X-Lang", "en")])
        assert r.header("X-Cache") == "HIT" and r.body == en.body
        assert r.header("Vary") == "X-Lang"
        r = get(gh, t, [("X-Lang", "fr")])
        assert r.header("X-Cache") == "HIT" and r.body == fr.body
    # a header Vary does not name is shared; blanks and case of the name normalized
    r = get(gh, t, [("x-lang", "  en "), ("X-Other", "zz")])
    assert r.header("X-Cache") == "HIT" and r.body == en.body
    # no X-Lang at all is a variant of its own (not the empty value's)
    none = get(gh, t)
    assert none.header("X-Cache") == "MISS" and none.body.startswith(b"fetch 3 of")
    assert get(gh, t).body == none.body
    empty = get(gh, t, [("X-Lang", "")])
    assert empty.header("X-Cache") == "MISS" and empty.body.startswith(b"fetch 4 of")
    # HEAD is answered from the GET variant
    h = ghtest.request(gh.port, "HEAD", t, headers=[("X-Lang", "fr")])
    assert h.header("X-Cache") == "HIT" and h.body == b""
    assert fetches(backend, t) == 4


def test_vary_two_headers_and_lines(gh_factory, backend):
    gh = gh_factory(config(backend))
    t = cc_target("/cache/v2", "Cache-Control: max-age=60", "Vary: X-A, x-b", "Vary: X-A")
    a = get(gh, t, [("X-A", "1"), ("X-B", "2")])
    assert a.header("X-Cache") == "MISS"
    # the same values, X-A sent as two lines: the same normalized value
    r = get(gh, t, [("X-B", "2"), ("X-A", "1")])
    assert r.header("X-Cache") == "HIT" and r.body == a.body
    b = get(gh, t, [("X-A", "1"), ("X-B", "3")])
    assert b.header("X-Cache") == "MISS" and b.body != a.body
    assert fetches(backend, t) == 2


def test_vary_star_and_no_vary(gh_factory, backend):
    gh = gh_factory(config(backend))
    t = cc_target("/cache/vs", "Cache-Control: max-age=60", "Vary: *")
    for _ in range(2):
        assert get(gh, t).header("X-Cache") == "MISS"
    # without Vary every client shares the object
    t = cc_target("/cache/nv", "Cache-Control: max-age=60")
    get(gh, t, [("X-Lang", "en")])
    r = get(gh, t, [("X-Lang", "fr"), ("Accept-Encoding", "gzip")])
    assert r.header("X-Cache") == "HIT"
    assert fetches(backend, t) == 1


ENCODINGS = [("br", "br"), ("gzip", "gzip"), ("zstd", "zstd"), (None, None)]


def test_one_object_per_encoding(gh_factory, backend):
    gh = gh_factory(config(backend, workers=2))
    t = cc_target("/cache/z", "Cache-Control: max-age=60", len=6000)
    first = {}
    for i, (ae, coding) in enumerate(ENCODINGS):
        hs = [("Accept-Encoding", ae)] if ae else []
        r = get(gh, t, hs)
        assert r.status == 200 and r.header("X-Cache") == "MISS", ae
        assert r.header("Content-Encoding") == coding and r.header("Vary") == "Accept-Encoding"
        body = decode(coding, r.body) if coding else r.body
        assert body.startswith(b"fetch %d of" % (i + 1)) and len(body) == 6000
        first[ae] = (r.body, body)
    assert fetches(backend, t) == 4
    for _ in range(2):
        for ae, coding in ENCODINGS:
            hs = [("Accept-Encoding", ae)] if ae else []
            r = get(gh, t, hs)
            assert r.header("X-Cache") == "HIT", ae
            assert r.header("Content-Encoding") == coding
            assert r.header("Vary") == "Accept-Encoding"
            # the stored bytes, as they were sent on the miss (not compressed again)
            assert r.body == first[ae][0]
            assert r.header("Content-Length") == str(len(r.body))
            body = decode(coding, r.body) if coding else r.body
            assert body == first[ae][1] and len(body) == 6000
    # clients that choose the same coding share its variant
    r = get(gh, t, [("Accept-Encoding", "gzip, deflate, br")])
    assert r.header("X-Cache") == "HIT" and r.header("Content-Encoding") == "br"
    r = get(gh, t, [("Accept-Encoding", "identity")])
    assert r.header("X-Cache") == "HIT" and r.header("Content-Encoding") is None
    assert fetches(backend, t) == 4
    # a strong ETag is weak on the compressed variants, kept on identity
    t = cc_target("/cache/ze", "Cache-Control: max-age=60", 'ETag: "v1"', len=6000)
    get(gh, t, [("Accept-Encoding", "gzip")])
    r = get(gh, t, [("Accept-Encoding", "gzip")])
    assert r.header("X-Cache") == "HIT" and r.header("ETag") == 'W/"v1"'
    assert get(gh, t).header("ETag") == '"v1"'


def test_hit_not_compressed_again(gh_factory, backend):
    gh = gh_factory(config(backend, compression="level = 1;"))
    t = cc_target("/cache/lv", "Cache-Control: max-age=60", len=20000)
    miss = get(gh, t, [("Accept-Encoding", "gzip")])
    assert miss.header("X-Cache") == "MISS" and miss.header("Content-Encoding") == "gzip"
    # another level: a fresh compression would differ, the stored bytes do not
    old = set(gh.worker_pids())
    gh.write_config(config(backend, compression="level = 9;"))
    gh.reload()
    ghtest.wait_for(lambda: not (set(gh.worker_pids()) & old), 15, what="new workers")
    hit = get(gh, t, [("Accept-Encoding", "gzip")])
    assert hit.header("X-Cache") == "HIT" and hit.body == miss.body
    assert decode("gzip", hit.body) == decode("gzip", miss.body)
    # with compression off, the gzip variant is still served to gzip clients only
    old = set(gh.worker_pids())
    gh.write_config(config(backend, compression="gzip = false; brotli = false; zstd = false;"))
    gh.reload()
    ghtest.wait_for(lambda: not (set(gh.worker_pids()) & old), 15, what="new workers")
    r = get(gh, t, [("Accept-Encoding", "gzip")])
    assert r.header("Content-Encoding") is None    # no coding on: the identity variant
    assert fetches(backend, t) == 2


def test_upstream_encoded_is_keyed_by_the_header(gh_factory, backend):
    """A body the upstream encoded itself: its choice is unknown, so the variants are
    keyed by the normalized Accept-Encoding value, not by our negotiation."""
    gh = gh_factory(config(backend))
    t = cc_target("/cache/ue", "Cache-Control: max-age=60", "Content-Encoding: gzip",
                  "Vary: Accept-Encoding")
    get(gh, t, [("Accept-Encoding", "gzip, br")])
    r = get(gh, t, [("Accept-Encoding", "GZIP,  br")])
    assert r.header("X-Cache") == "HIT" and r.header("Content-Encoding") == "gzip"
    r = get(gh, t, [("Accept-Encoding", "br")])
    assert r.header("X-Cache") == "MISS"
    assert fetches(backend, t) == 2


def test_a_new_vary_replaces_the_marker(gh_factory, backend):
    """The responses of a URL vary otherwise than before (here: compression switched
    off, so Accept-Encoding leaves the Vary): the marker is replaced and the new
    variants are found under it."""
    gh = gh_factory(config(backend))
    t = cc_target("/cache/nv2", "Cache-Control: max-age=60", "Vary: X-Lang", len=6000)
    r = get(gh, t, [("X-Lang", "en"), ("Accept-Encoding", "gzip")])
    assert r.header("Vary") == "X-Lang, Accept-Encoding" and r.header("Content-Encoding") == "gzip"
    assert get(gh, t, [("X-Lang", "en"), ("Accept-Encoding", "gzip")]).header("X-Cache") == "HIT"
    old = set(gh.worker_pids())
    gh.write_config(config(backend, compression="gzip = false; brotli = false; zstd = false;"))
    gh.reload()
    ghtest.wait_for(lambda: not (set(gh.worker_pids()) & old), 15, what="new workers")
    r = get(gh, t, [("X-Lang", "en"), ("Accept-Encoding", "gzip")])
    assert r.header("X-Cache") == "MISS" and r.header("Vary") == "X-Lang"
    for ae in ("gzip", "br", None):
        hs = [("X-Lang", "en")] + ([("Accept-Encoding", ae)] if ae else [])
        r = get(gh, t, hs)
        assert r.header("X-Cache") == "HIT" and r.header("Content-Encoding") is None, ae
        assert r.body.startswith(b"fetch 2 of")
    assert fetches(backend, t) == 2


def test_collapsed_misses_follow_the_variant(gh_factory, backend):
    """Concurrent cold misses on a URL that turns out to vary (compressible: Vary:
    Accept-Encoding): the pending object becomes the vary marker and the waiters follow
    the writer's variant, so the upstream is asked once."""
    from test_cache_collapse import concurrent_gets
    from urllib.parse import quote
    gh = gh_factory(config(backend, workers=2))
    t = "/cache/cv?len=20000&wait=700&h=" + quote("Cache-Control: max-age=60", safe="")
    out = concurrent_gets(gh.port, t, 20)
    for r, _ in out:
        assert not isinstance(r, Exception), r
        assert r.status == 200 and len(r.body) == 20000 and r.body.startswith(b"fetch 1 of")
        assert r.header("Vary") == "Accept-Encoding"
    assert fetches(backend, t) == 1
    assert get(gh, t).header("X-Cache") == "HIT"
    # another variant is fetched (and stored) once
    r = get(gh, t, [("Accept-Encoding", "gzip")])
    assert r.header("X-Cache") == "MISS" and decode("gzip", r.body).startswith(b"fetch 2 of")
    assert get(gh, t, [("Accept-Encoding", "gzip")]).header("X-Cache") == "HIT"
    assert fetches(backend, t) == 2


def test_purge_drops_every_variant(gh_factory, backend):
    from test_cache_admin import purge
    gh = gh_factory(config(backend))
    t = cc_target("/cache/pv", "Cache-Control: max-age=60", "Vary: X-Lang", len=3000)
    clients = [[("X-Lang", l), ("Accept-Encoding", ae)] for l in ("en", "fr") for ae in ("gzip", "br")]
    for hs in clients:
        assert get(gh, t, hs).header("X-Cache") == "MISS"
        assert get(gh, t, hs).header("X-Cache") == "HIT"
    # four variants and their marker
    assert purge(gh, url="http://localhost" + t)["purged"] == 5
    for hs in clients:
        assert get(gh, t, hs).header("X-Cache") == "MISS"
    assert fetches(backend, t) == 8


def test_collapsed_vary_misses_one_upstream_request_each_time(gh_factory, backend):
    """Rounds of concurrent cold misses over two workers on URLs that vary on
    Accept-Encoding (compressible, and one whose upstream says Vary itself): each round
    asks the upstream once. The writer begins its variant before it commits the marker, so
    a waiter in the other worker that sees the marker never finds no variant (it went
    upstream itself when it polled in that gap)."""
    from test_cache_collapse import concurrent_gets
    from urllib.parse import quote
    gh = gh_factory(config(backend, workers=2))
    deadline = time.monotonic() + 8
    for i in range(10):
        h = ["Cache-Control: max-age=60"] + (["Vary: Accept-Encoding"] if i % 2 else [])
        t = "/cache/cvr%d?len=3000&wait=150&" % i + "&".join(
            "h=" + quote(x, safe="") for x in h)
        out = concurrent_gets(gh.port, t, 12, timeout=10)
        for r, _ in out:
            assert not isinstance(r, Exception), r
            assert r.status == 200 and r.body.startswith(b"fetch 1 of"), r
        assert fetches(backend, t) == 1, (i, [r.header("X-Cache") for r, _ in out])
        if time.monotonic() > deadline:
            break
