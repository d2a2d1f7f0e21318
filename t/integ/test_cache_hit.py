"""Streaming cache hits (modules/cache_hit.c, issue 13): a hit that is not one small
complete object streams from the store through the proxy's pump with backpressure and one
buffer per request, follows an object still being written (in this worker or another),
and works over HTTP/2. The backend counts what reaches it (/cache/... answers "fetch K of
TARGET"; wait= delays the head, drip= spaces the body's 5000-byte parts)."""

import os
import re
import signal
import subprocess
import threading
import time

import pytest

import ghtest
from ghtest import HttpConn, make_config, route_upstream, upstream

CACHE = 'cache = { size = "8M"; max_object_size = "1M"; };'


def config(backend, workers=1, extra=CACHE, h2=False):
    routes = [route_upstream("/cache/", "app", 'cache = { ttl = "60s"; };'),
              route_upstream("/", "app")]
    text = make_config(workers=workers, upstreams=[upstream("app", [backend.port])],
                       routes=routes, extra=extra)
    if h2:
        text = text.replace('\n  { address = "127.0.0.1:0"; }',
                            '\n  { address = "127.0.0.1:0"; http2 = true; }', 1)
    return text


def fetches(backend, target):
    return sum(1 for r in backend.requests() if r["target"] == target)


def get_in_thread(port, target, out, key, timeout=30, delay=0.0):
    def run():
        time.sleep(delay)
        try:
            out[key] = ghtest.get(port, target, timeout=timeout)
        except Exception as e:                  # noqa: BLE001 - reported by the test
            out[key] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("chunked", [False, True])
def test_hit_follows_object_being_written(gh_factory, backend, workers, chunked):
    """Clients that come while the first one's response is still streaming in are HITs
    that follow the object as it is written: one upstream request, every body whole.
    With two workers some followers are in the other worker (polling); with one, the
    writer wakes them. A follower gets Content-Length when the upstream sent one."""
    gh = gh_factory(config(backend, workers=workers))
    t = "/cache/follow?len=100000&drip=60" + ("&chunked=1" if chunked else "")
    out = {}
    threads = [get_in_thread(gh.port, t, out, "first")]
    backend.wait_request(lambda r: r["target"] == t)
    time.sleep(0.3)                             # the object is partly written
    threads += [get_in_thread(gh.port, t, out, i) for i in range(4)]
    for th in threads:
        th.join(30)
    first = out["first"]
    assert not isinstance(first, Exception), first
    assert first.header("X-Cache") == "MISS" and len(first.body) == 100000
    for i in range(4):
        r = out[i]
        assert not isinstance(r, Exception), r
        assert r.status == 200 and r.header("X-Cache") == "HIT", (i, r.headers)
        assert r.body == first.body
        if chunked:
            assert r.framing == "chunked" and r.header("Content-Length") is None
        else:
            assert r.header("Content-Length") == "100000"
    assert fetches(backend, t) == 1
    # the object is complete now: a plain hit
    r = ghtest.get(gh.port, t, timeout=20)
    assert r.header("X-Cache") == "HIT" and r.body == first.body
    assert r.header("Content-Length") == "100000"


def worker_with_local_port(gh, port):
    """The worker holding the TCP socket whose local port is `port` (its upstream side)."""
    inode = None
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port:
                inode = int(fields[9])
    for pid in gh.worker_pids():
        if inode in ghtest.socket_inodes(pid):
            return pid
    return None


def test_followers_reset_when_the_writer_dies_mid_body(gh_factory, backend):
    """The writer's worker is SIGKILLed while the body streams in: its followers in the
    other worker had their head (Content-Length 100000) and are reset, as a proxied
    response cut short is; none hangs, none gets a short body as if whole, and the next
    request finds no torn object (MISS)."""
    gh = gh_factory(config(backend, workers=2))
    gh.allowed_alerts.append(r"signal 9|SIGKILL")
    t = "/cache/torn?len=100000&drip=250"
    out = {}
    threads = [get_in_thread(gh.port, t, out, "first")]
    first = backend.wait_request(lambda r: r["target"] == t)
    writer = worker_with_local_port(gh, int(first["peer"].rsplit(":", 1)[1]))
    assert writer is not None
    time.sleep(0.5)
    threads += [get_in_thread(gh.port, t, out, i) for i in range(8)]
    time.sleep(0.8)                             # the followers have their heads
    t0 = time.monotonic()
    os.kill(writer, signal.SIGKILL)
    for th in threads:
        th.join(20)
    assert time.monotonic() - t0 < 10, "a follower hung"
    for i in range(8):
        r = out.get(i)
        assert r is not None, "follower %d hung" % i
        assert isinstance(r, Exception), (i, r, len(r.body))   # a reset, never "whole"
    gh.wait_workers(2, exclude=(writer,))
    r = ghtest.get(gh.port, t, timeout=30)
    assert r.header("X-Cache") == "MISS" and len(r.body) == 100000


def read_response_bytes(sock, limit_s=30):
    """Read one Content-Length response from sock: (head text, body bytes)."""
    sock.settimeout(ghtest.scaled(limit_s))
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "closed before the head"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    n = int(re.search(rb"(?im)^content-length: *(\d+)", head).group(1))
    while len(body) < n:
        chunk = sock.recv(262144)
        assert chunk, "closed after %d of %d bytes" % (len(body), n)
        body += chunk
    return head.decode("latin-1"), body


def test_big_hit_costs_no_buffer(gh_factory, backend):
    """Clients that do not read a 1 MB hit hold no copy of it: the pump hands the
    client's socket spans of the store's own blocks (and the next ones only when the
    client took the last), so 24 stalled clients grow the worker's own memory
    (RssAnon: the store is shared memory) by far less than 24 MB. Then each gets
    the whole body. (That no byte is copied in user space shows in t/bench/cache.sh's
    instructions per hit, not here: a freed buffer's pages stay resident.)"""
    gh = gh_factory(config(backend))
    t = "/cache/big?len=1000000"
    first = ghtest.get(gh.port, t, timeout=20)
    assert first.header("X-Cache") == "MISS" and len(first.body) == 1000000
    ghtest.get(gh.port, t, timeout=20)          # warm the hit path once
    worker = gh.worker_pids()[0]
    before = ghtest.proc_status_kb(worker, "RssAnon")
    req = ("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % t).encode()
    socks = [ghtest.small_rcvbuf_request(gh.port, req, rcvbuf=4096) for _ in range(24)]
    try:
        time.sleep(1.0)
        grown = ghtest.proc_status_kb(worker, "RssAnon") - before
        assert grown < 8 * 1024, "the worker grew by %d kB" % grown
        for s in socks:
            head, body = read_response_bytes(s)
            assert "X-Cache: HIT" in head, head
            assert body == first.body
    finally:
        for s in socks:
            s.close()
    assert fetches(backend, t) == 1


def test_streamed_hit_head_and_keepalive(gh_factory, backend):
    """HEAD of a big object: its Content-Length, no body; the connection goes on."""
    gh = gh_factory(config(backend))
    t = "/cache/head?len=300000"
    body = ghtest.get(gh.port, t, timeout=20).body
    with HttpConn(gh.port, timeout=20) as c:
        h = c.request("HEAD", t)
        assert h.status == 200 and h.header("X-Cache") == "HIT" and h.body == b""
        assert h.header("Content-Length") == "300000"
        for _ in range(2):
            r = c.request("GET", t)
            assert r.header("X-Cache") == "HIT" and r.body == body
    assert fetches(backend, t) == 1


def curl_h2(port, target):
    out = subprocess.run(["curl", "-sS", "-i", "--http2-prior-knowledge",
                          "http://127.0.0.1:%d%s" % (port, target)],
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


@pytest.mark.parametrize("size", [1000, 300000])
def test_hit_over_http2(gh_factory, backend, size):
    """A hit to an HTTP/2 stream goes through the stream's sink (HEADERS, DATA)."""
    if subprocess.run(["which", "curl"], capture_output=True).returncode != 0:
        pytest.skip("curl is not installed")
    gh = gh_factory(config(backend, h2=True))
    t = "/cache/h2?len=%d" % size
    head, first = curl_h2(gh.port, t)
    assert re.search(r"(?im)^x-cache: MISS", head) and len(first) == size
    for _ in range(2):
        head, body = curl_h2(gh.port, t)
        assert head.startswith("HTTP/2 200"), head
        assert re.search(r"(?im)^x-cache: HIT", head) and body == first
        assert re.search(r"(?im)^content-length: %d" % size, head)
    assert fetches(backend, t) == 1
