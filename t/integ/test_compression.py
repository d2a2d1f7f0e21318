"""Response compression (modules/compress.c, issue 13 item 4): gzip, br and zstd chosen
by Accept-Encoding q-values, nginx's gzip rules for which responses, the head a
compressed response gets (Content-Encoding, Vary merged, weak ETag, no
Content-Length), HTTP/1.0 close-delimited, and 100 MB in constant memory.

The backend's /typed/N?type=..&framing=..&status=..&h=Name:Value mode gives each
response its Content-Type, framing and headers. br and zstd bodies are decoded with
the brotli and zstd command-line tools, gzip with Python's zlib."""

import hashlib
import os
import socket
import subprocess
import time
import zlib
from urllib.parse import quote

import pytest

import ghtest
from ghtest import HttpConn, RssSampler, make_config, read_chunked, upstream

MB = 1 << 20


def decode(coding, data):
    if coding == "gzip":
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = d.decompress(data) + d.flush()
        assert d.eof and not d.unused_data, "gzip stream not complete"
        return out
    tool = {"br": "brotli", "zstd": "zstd"}[coding]
    p = subprocess.run([tool, "-dc"], input=data, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def typed(n, type_="text/plain", framing="length", status=None, headers=(), data=None,
          pause=None):
    q = ["type=" + quote(type_, safe=""), "framing=" + framing]
    if pause is not None:
        q.append("pause=%d" % pause)
    if status is not None:
        q.append("status=%d" % status)
    if data:
        q.append("data=" + data)
    q += ["h=" + quote("%s:%s" % h, safe="") for h in headers]
    return "/typed/%d?%s" % (n, "&".join(q))


def random_body(n):
    """What backend.py sends for data=random."""
    import random
    rng = random.Random(n)
    out = []
    while n > 0:
        k = min(n, 65536)
        out.append(rng.randbytes(k))
        n -= k
    return b"".join(out)


def conf(backend, compression=""):
    extra = "compression = { %s };" % compression if compression else ""
    return make_config(workers=1, upstreams=[upstream("app", [backend.port])], extra=extra)


@pytest.fixture
def gh(gh_factory, backend):
    return gh_factory(conf(backend))


def get(gh, target, ae=None, headers=(), **kw):
    hs = list(headers)
    if ae is not None:
        hs.append(("Accept-Encoding", ae))
    return ghtest.get(gh.port, target, headers=hs, **kw)


def assert_compressed(r, coding, want):
    assert r.status in (200, 403, 404)
    assert r.header("Content-Encoding") == coding, r.headers
    assert r.header("Content-Length") is None and r.framing == "chunked"
    assert decode(coding, r.body) == want
    assert len(r.body) < len(want) or len(want) < 100


def assert_identity(r, want):
    assert r.header("Content-Encoding") is None, r.headers
    assert r.body == want


def control(gh):
    """The same kind of response without the excluding trait is compressed (so each
    test of an exclusion also fails without the feature)."""
    assert_compressed(get(gh, typed(5000), ae="gzip"), "gzip", ghtest.pattern(5000))


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
def test_each_coding_and_framing(gh, coding, framing):
    r = get(gh, typed(100000, framing=framing), ae=coding)
    assert_compressed(r, coding, ghtest.pattern(100000))
    assert r.headers_all("Vary") == ["Accept-Encoding"]


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_incompressible_body_larger_than_the_stage_buffers(gh, coding):
    """Random bytes: a codec emits whole blocks bigger than a stage's output buffers,
    so the filter holds output (GH_FILTER_MORE) and the pump drains it first."""
    want = random_body(3 * MB)
    r = get(gh, typed(3 * MB, framing="chunked", data="random"), ae=coding, timeout=60)
    assert r.header("Content-Encoding") == coding
    assert decode(coding, r.body) == want


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_upstream_pause_flushes(gh, coding):
    """The upstream sends half its body and pauses: what was compressed so far reaches the
    client during the pause (a sync flush), not only when the body ends (an event stream
    through a compressor would otherwise wait for 32 KB of output)."""
    n, pause = 20000, 3000
    want = random_body(n)                  # incompressible: a codec would hold 10,000 bytes
    s = ghtest.small_rcvbuf_request(
        gh.port, b"GET %s HTTP/1.1\r\nHost: x\r\nAccept-Encoding: %s\r\n\r\n"
        % (typed(n, framing="chunked", data="random", pause=pause).encode(), coding.encode()))
    try:
        t0 = time.monotonic()
        early, body = 0, b""
        for data in read_chunked(s, ghtest.scaled(30)):
            body += data
            if time.monotonic() - t0 < pause / 1000.0 - 0.5:
                early = len(body)
    finally:
        s.close()
    assert early >= n // 2, "only %d bytes before the upstream resumed" % early
    assert decode(coding, body) == want
    if coding == "gzip":
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        assert d.decompress(body[:early]) == want[:n // 2]


@pytest.mark.parametrize("ae,want", [
    ("gzip, br, zstd", "zstd"),               # equal weights: zstd, br, gzip
    ("gzip, br", "br"),
    ("gzip", "gzip"),
    ("*", "zstd"),
    ("zstd;q=0.5, br;q=0.8, gzip", "gzip"),
    ("zstd;q=0.5, br;q=0.8, gzip;q=0.1", "br"),
    ("gzip;q=0, *", "zstd"),
    ("zstd;q=0, br;q=0, *;q=0.3", "gzip"),
    ("*;q=0.1, gzip;q=0.2", "gzip"),
    ("x-gzip", "gzip"),
    ("GZIP;Q=1.000", "gzip"),
    ("deflate, gzip ; q=0.5 , identity;q=0.4", "gzip"),
    ("br;level=5;q=0.9, gzip;q=0.8", "br"),
    ("gzip;q=0.999, zstd;q=0.998", "gzip"),
    ("gzip;q=1.5, br", "br"),                 # a bad qvalue: that element is ignored
    # nothing to use: identity
    ("", None),
    ("deflate, compress", None),
    ("zstd;q=0, br;q=0, gzip;q=0", None),
    ("gzip;q=0, br;q=0, zstd;q=0, *", None),  # named ones refuse; * covers only the rest
    ("*;q=0", None),
    ("gzip;q=0.5, identity", None),           # identity weighs more
    ("gzip;q=0.5, *", "zstd"),                # * gives zstd (and identity) 1
    ("gzip;q=0.5, identity;q=0.6, *;q=0.4", None),
    ("gzip;q=abc", None),
    ("gzip;q=1.0001", None),
])
def test_negotiation(gh, ae, want):
    r = get(gh, typed(5000), ae=ae)
    if want is None:
        assert_identity(r, ghtest.pattern(5000))
    else:
        assert_compressed(r, want, ghtest.pattern(5000))
    assert r.headers_all("Vary") == ["Accept-Encoding"]


def test_no_accept_encoding_is_identity_but_varies(gh):
    r = get(gh, typed(5000, headers=[("ETag", '"v1"')]))
    assert_identity(r, ghtest.pattern(5000))
    assert r.header("Content-Length") == "5000"
    assert r.header("Vary") == "Accept-Encoding"      # a cache must keep the variants apart
    assert r.header("ETag") == '"v1"'                 # not compressed: stays strong


def test_two_accept_encoding_fields_combine(gh):
    r = get(gh, typed(5000), headers=[("Accept-Encoding", "gzip;q=0.5"),
                                      ("Accept-Encoding", "br;q=0.7, zstd;q=0")])
    assert_compressed(r, "br", ghtest.pattern(5000))


def test_codecs_switched_off(gh_factory, backend):
    gh = gh_factory(conf(backend, "zstd = false; brotli = false;"))
    r = get(gh, typed(5000), ae="zstd, br, gzip;q=0.1")
    assert_compressed(r, "gzip", ghtest.pattern(5000))
    gh.stop()
    gh = gh_factory(conf(backend, "gzip = false; zstd = false;"))
    assert_compressed(get(gh, typed(5000), ae="zstd, br;q=0.2"), "br", ghtest.pattern(5000))
    assert_identity(get(gh, typed(5000), ae="gzip, zstd"), ghtest.pattern(5000))


def test_all_codecs_off_leave_responses_alone(gh_factory, backend):
    gh = gh_factory(conf(backend, "gzip = false; zstd = false; brotli = false;"))
    r = get(gh, typed(5000), ae="gzip, br, zstd")
    assert_identity(r, ghtest.pattern(5000))
    assert r.header("Vary") is None and r.header("Content-Length") == "5000"


def test_levels_are_used(gh_factory, backend):
    # Text of random words, not the repeating pattern: on that every level finds
    # about the same, and a flush when the upstream pauses (timing) decides the size.
    target = typed(200000, type_="text/html", data="words")
    sizes = {}
    body = None
    for lv in (1, 9):
        gh = gh_factory(conf(backend, "level = %d; brotli_level = %d; zstd_level = %d;"
                             % (lv, 11 if lv == 9 else 0, 19 if lv == 9 else 1)))
        if body is None:
            body = get(gh, target, ae="identity").body
            assert len(body) == 200000
        for coding in ("gzip", "br", "zstd"):
            r = get(gh, target, ae=coding)
            assert decode(coding, r.body) == body
            sizes[coding, lv] = len(r.body)
        gh.stop()
    for coding in ("gzip", "br", "zstd"):
        assert sizes[coding, 9] < sizes[coding, 1], sizes


@pytest.mark.parametrize("ctype,yes", [
    ("text/plain", True),
    ("text/html; charset=utf-8", True),
    ("TEXT/CSS", True),
    ("application/json", True),
    ("application/javascript", True),
    ("image/svg+xml", True),
    ("application/octet-stream", False),
    ("image/png", False),
    ("application/json-seq", False),          # exact, not a prefix
    ("none", False),                          # no Content-Type at all
])
def test_types(gh, ctype, yes):
    r = get(gh, typed(5000, type_=ctype), ae="gzip")
    if yes:
        assert_compressed(r, "gzip", ghtest.pattern(5000))
    else:
        assert_identity(r, ghtest.pattern(5000))
        assert r.header("Vary") is None
        control(gh)


def test_types_setting(gh_factory, backend):
    gh = gh_factory(conf(backend, 'types = ["application/octet-stream", "font/"];'))
    assert_compressed(get(gh, typed(5000, type_="application/octet-stream"), ae="gzip"),
                      "gzip", ghtest.pattern(5000))
    assert_compressed(get(gh, typed(5000, type_="font/woff"), ae="gzip"),
                      "gzip", ghtest.pattern(5000))
    assert_identity(get(gh, typed(5000, type_="text/plain"), ae="gzip"), ghtest.pattern(5000))
    gh.stop()
    gh = gh_factory(conf(backend, 'types = ["*"];'))
    assert_compressed(get(gh, typed(5000, type_="image/png"), ae="gzip"),
                      "gzip", ghtest.pattern(5000))


def test_min_size(gh_factory, backend):
    gh = gh_factory(conf(backend, "min_size = 2000;"))
    assert_identity(get(gh, typed(1999), ae="gzip"), ghtest.pattern(1999))
    assert_compressed(get(gh, typed(2000), ae="gzip"), "gzip", ghtest.pattern(2000))
    # unknown length: compressed whatever it turns out to be
    assert_compressed(get(gh, typed(100, framing="chunked"), ae="gzip"), "gzip",
                      ghtest.pattern(100))
    assert_compressed(get(gh, typed(100, framing="close"), ae="gzip"), "gzip",
                      ghtest.pattern(100))


def test_default_min_size_and_empty_bodies(gh):
    assert_identity(get(gh, typed(1023), ae="gzip"), ghtest.pattern(1023))
    assert_compressed(get(gh, typed(1024), ae="gzip"), "gzip", ghtest.pattern(1024))
    r = get(gh, typed(0, framing="chunked"), ae="gzip")
    # an empty chunked body is still a body of unknown length: a valid empty stream
    assert r.status == 200 and decode(r.header("Content-Encoding"), r.body) == b""


def test_never_twice(gh):
    r = get(gh, typed(5000, headers=[("Content-Encoding", "gzip")]), ae="gzip, br")
    assert r.header("Content-Encoding") == "gzip" and r.body == ghtest.pattern(5000)
    assert r.header("Content-Length") == "5000" and r.header("Vary") is None
    control(gh)


def test_no_transform(gh):
    for cc in ("no-transform", "public, max-age=60, No-Transform"):
        r = get(gh, typed(5000, headers=[("Cache-Control", cc)]), ae="gzip")
        assert_identity(r, ghtest.pattern(5000))
        assert r.header("Content-Length") == "5000" and r.header("Vary") is None
    r = get(gh, typed(5000, headers=[("Cache-Control", "max-age=60")]), ae="gzip")
    assert_compressed(r, "gzip", ghtest.pattern(5000))


def test_head_is_not_compressed(gh):
    r = ghtest.request(gh.port, "HEAD", typed(5000), headers=[("Accept-Encoding", "gzip")])
    assert r.status == 200 and r.body == b""
    assert r.header("Content-Encoding") is None and r.header("Content-Length") == "5000"
    control(gh)


@pytest.mark.parametrize("status", [201, 206, 410, 500, 503])
def test_other_statuses_are_not_compressed(gh, status):
    hs = [("Content-Range", "bytes 0-4999/10000")] if status == 206 else []
    r = get(gh, typed(5000, status=status, headers=hs), ae="gzip",
            headers=[("Range", "bytes=0-4999")] if status == 206 else [])
    assert r.status == status
    assert_identity(r, ghtest.pattern(5000))
    assert r.header("Vary") is None
    control(gh)


@pytest.mark.parametrize("status", [204, 304])
def test_bodyless_statuses(gh, status):
    r = get(gh, typed(5000, status=status), ae="gzip")
    assert r.status == status and r.body == b"" and r.header("Content-Encoding") is None
    control(gh)


@pytest.mark.parametrize("status", [403, 404])
def test_403_and_404_are_compressed(gh, status):
    r = get(gh, typed(5000, status=status), ae="gzip")
    assert r.status == status
    assert_compressed(r, "gzip", ghtest.pattern(5000))


def test_range_request_answered_200_is_compressed(gh):
    """The upstream ignored the Range: the full 200 is compressed (nginx does the same)."""
    r = get(gh, typed(5000), ae="gzip", headers=[("Range", "bytes=0-99")])
    assert r.status == 200
    assert_compressed(r, "gzip", ghtest.pattern(5000))


def test_vary_merged_not_duplicated(gh):
    r = get(gh, typed(5000, headers=[("Vary", "Cookie")]), ae="gzip")
    assert r.headers_all("Vary") == ["Cookie, Accept-Encoding"]
    r = get(gh, typed(5000, headers=[("Vary", "Cookie"), ("Vary", "User-Agent")]), ae="gzip")
    assert r.headers_all("Vary") == ["Cookie, User-Agent, Accept-Encoding"]
    r = get(gh, typed(5000, headers=[("Vary", "cookie, accept-encoding")]), ae="gzip")
    assert r.headers_all("Vary") == ["cookie, accept-encoding"]
    r = get(gh, typed(5000, headers=[("Vary", "*")]), ae="gzip")
    assert r.headers_all("Vary") == ["*"]
    assert_compressed(r, "gzip", ghtest.pattern(5000))
    r = get(gh, typed(5000, headers=[("Vary", "Cookie")]))        # not compressed: merged too
    assert r.headers_all("Vary") == ["Cookie, Accept-Encoding"]


def test_etag_weakened(gh):
    r = get(gh, typed(5000, headers=[("ETag", '"abc"')]), ae="br")
    assert r.header("ETag") == 'W/"abc"'
    assert_compressed(r, "br", ghtest.pattern(5000))
    r = get(gh, typed(5000, headers=[("ETag", 'W/"abc"')]), ae="br")
    assert r.headers_all("ETag") == ['W/"abc"']


def test_accept_ranges_dropped_and_last_modified_kept(gh):
    lm = "Wed, 21 Oct 2015 07:28:00 GMT"
    r = get(gh, typed(5000, headers=[("Accept-Ranges", "bytes"), ("Last-Modified", lm)]),
            ae="zstd")
    assert r.header("Accept-Ranges") is None and r.header("Last-Modified") == lm
    assert_compressed(r, "zstd", ghtest.pattern(5000))


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_http10_client_gets_close_delimited(gh, coding):
    with socket.create_connection(("127.0.0.1", gh.port), timeout=10) as s:
        s.sendall(b"GET %s HTTP/1.0\r\nAccept-Encoding: %s\r\n\r\n"
                  % (typed(50000).encode(), coding.encode()))
        data, how = ghtest.read_until_close(s, 10)
    head, _, body = data.partition(b"\r\n\r\n")
    assert how == "eof" and head.startswith(b"HTTP/1.1 200"), head
    lower = head.lower()
    assert b"content-length" not in lower and b"transfer-encoding" not in lower
    assert b"\r\ncontent-encoding: " + coding.encode() in lower
    assert decode(coding, body) == ghtest.pattern(50000)


def test_keepalive_mixes_compressed_and_not(gh):
    with HttpConn(gh.port) as c:
        a = c.request("GET", typed(30000), headers=[("Accept-Encoding", "gzip")])
        b = c.request("GET", typed(30000))
        d = c.request("GET", typed(30000, framing="chunked"),
                      headers=[("Accept-Encoding", "zstd")])
    assert_compressed(a, "gzip", ghtest.pattern(30000))
    assert_identity(b, ghtest.pattern(30000))
    assert b.header("Content-Length") == "30000"
    assert_compressed(d, "zstd", ghtest.pattern(30000))


def test_curl_compressed(gh):
    out = ghtest.curl("-s", "--compressed", "-D", "-",
                      "http://127.0.0.1:%d%s" % (gh.port, typed(20000)))
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    assert out.returncode == 0
    assert b"content-encoding: " in head.lower()
    assert body == ghtest.pattern(20000)


def stream_100mb(gh, coding, rss_limit_kb):
    size = 100 * MB
    worker = gh.worker_pids()[0]
    assert get(gh, typed(200000), ae=coding).status == 200          # warm-up
    rss = RssSampler([worker]).start()
    base = rss.samples[0]
    block = ghtest.PATTERN * 1024            # a whole number of periods: 100 MB is 1600 of them
    want = hashlib.sha256()
    for _ in range(size // len(block)):
        want.update(block)
    comp = []
    wire = 0
    s = ghtest.small_rcvbuf_request(
        gh.port, b"GET %s HTTP/1.1\r\nHost: x\r\nAccept-Encoding: %s\r\n\r\n"
        % (typed(size).encode(), coding.encode()))
    try:
        pauses = 0
        for data in read_chunked(s, ghtest.scaled(180)):
            wire += len(data)
            comp.append(data)
            if pauses < 4 and wire > (pauses + 1) * 16384:
                time.sleep(0.5)             # the client stalls: backpressure
                pauses += 1
    finally:
        s.close()
    rss.stop()
    plain = decode(coding, b"".join(comp))
    assert len(plain) == size and hashlib.sha256(plain).hexdigest() == want.hexdigest()
    assert wire < size / 100
    growth = rss.peak() - base
    assert growth < rss_limit_kb, "worker RSS grew %d kB compressing 100 MB" % growth


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_100mb_with_backpressure_in_constant_memory(gh_factory, backend, monkeypatch, coding):
    """100 MB through each codec: the client stalls at first (the pump must hold the
    upstream back), then reads at full speed; the worker's RSS stays flat (the codec's
    state is taken once per response: 0.3 MB for gzip, 3.6 MB for br, 1.8 MB for zstd).
    libbrotli mallocs and frees a block's storage about every 32 KB of input; a sanitizer
    build's quarantine would keep each freed one, so it is kept small here."""
    asan = os.environ.get("ASAN_OPTIONS", "")
    monkeypatch.setenv("ASAN_OPTIONS", (asan + ":" if asan else "") + "quarantine_size_mb=1")
    stream_100mb(gh_factory(conf(backend)), coding, 10 * 1024)
