"""Response body filters (server/filter.c, issue 10 item 4): a filter whose output
differs from its input is carried by the body chain, with backpressure and constant
memory, and a response without filters keeps its Content-Length and zero-copy path.

The filter is the debug build's test filter: a request with
"X-Gatehouse-Test-Filter: upper" gets its response body upper-cased. The tests skip
when the binary is not a debug build (gatehouse -V prints its build options)."""

import hashlib
import socket
import subprocess
import time

import pytest

import ghtest
from ghtest import HttpConn, RssSampler, make_config, read_chunked, upstream

MB = 1 << 20
FILTER = ("X-Gatehouse-Test-Filter", "upper")
BLOCK = ghtest.PATTERN * 1024          # what backend.py sends per block (64 KiB)
UPPER = BLOCK.upper()


def debug_build():
    out = subprocess.run([ghtest.GATEHOUSE_BIN, "-V"], capture_output=True, text=True).stdout
    return "debug" in out


pytestmark = pytest.mark.skipif(not debug_build(), reason="the test filter is in debug builds only")


@pytest.fixture
def gh(gh_factory, backend):
    return gh_factory(make_config(workers=1, upstreams=[upstream("app", [backend.port])]))


def test_small_body_upper_cased_and_rechunked(gh):
    r = ghtest.get(gh.port, "/bytes/5000", headers=[FILTER])
    assert r.status == 200
    assert r.body == ghtest.pattern(5000).upper() and r.body != ghtest.pattern(5000)
    assert r.header("Content-Length") is None and r.framing == "chunked"
    # the connection stays usable: the next request on it is not filtered
    with HttpConn(gh.port) as c:
        a = c.request("GET", "/bytes/3000", headers=[FILTER])
        b = c.request("GET", "/bytes/3000")
        assert a.body == ghtest.pattern(3000).upper()
        assert b.body == ghtest.pattern(3000) and b.header("Content-Length") == "3000"


def test_chunked_upstream_filtered(gh):
    r = ghtest.get(gh.port, "/chunked/70000", headers=[FILTER])
    assert r.status == 200 and r.body == ghtest.pattern(70000).upper()


def test_http10_client_gets_close_delimited_body(gh):
    with socket.create_connection(("127.0.0.1", gh.port), timeout=10) as s:
        s.sendall(b"GET /bytes/20000 HTTP/1.0\r\nX-Gatehouse-Test-Filter: upper\r\n\r\n")
        data, how = ghtest.read_until_close(s, 10)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"content-length" not in head.lower() and b"transfer-encoding" not in head.lower()
    assert body == ghtest.pattern(20000).upper()


def test_head_and_304_have_no_body_to_filter(gh):
    r = ghtest.request(gh.port, "HEAD", "/bytes/5000", headers=[FILTER])
    assert r.status == 200 and r.body == b""


def test_100mb_filtered_with_backpressure_in_constant_memory(gh):
    """100 MB upper-cased: read slowly at first (the pump must hold the upstream back,
    not buffer), then at full speed; the worker's RSS stays flat."""
    size = 100 * MB
    worker = gh.worker_pids()[0]
    assert ghtest.get(gh.port, "/bytes/100000", headers=[FILTER]).status == 200   # warm-up
    rss = RssSampler([worker]).start()
    base = rss.samples[0]
    want = hashlib.sha256()
    left = size
    while left > 0:
        k = min(left, len(UPPER))
        want.update(UPPER[:k])
        left -= k
    got = hashlib.sha256()
    n = 0
    s = ghtest.small_rcvbuf_request(
        gh.port, b"GET /bytes/%d HTTP/1.1\r\nHost: x\r\nX-Gatehouse-Test-Filter: upper\r\n"
        b"\r\n" % size)
    try:
        pauses = 0
        for data in read_chunked(s, ghtest.scaled(120)):
            got.update(data)
            n += len(data)
            if pauses < 4 and n > (pauses + 1) * MB:
                time.sleep(0.5)             # the client stalls: backpressure
                pauses += 1
    finally:
        s.close()
    rss.stop()
    assert n == size and got.hexdigest() == want.hexdigest()
    growth = rss.peak() - base
    assert growth < 10 * 1024, "worker RSS grew %d kB filtering 100 MB" % growth
