"""HTTP/1.1 engine acceptance: bodies stream through bounded buffers (SPEC section 5).

The worker's memory is VmRSS from /proc/PID/status, sampled every 20 ms while the
transfer runs (one worker, so it is the one that served). Sizes: 100 MB uploads and
downloads with the release build, 20 MB under ASan (GATEHOUSE_BIN containing "asan"),
where the transfers are slower; the limit on RSS growth is 10 MB either way, below the
size of any transfer, so a proxy that buffers a whole body fails.
"""

import hashlib
import socket
import threading
import time

import pytest

import ghtest
from ghtest import HttpConn, RssSampler, make_config, upstream

MB = 1 << 20
BIG = (20 if ghtest.ASAN else 100) * MB
SLOW = (20 if ghtest.ASAN else 50) * MB
RSS_LIMIT_KB = 10 * 1024
BLOCK = ghtest.PATTERN * 1024          # 64 KiB, what backend.py sends per block


@pytest.fixture
def gh(gh_factory, backend):
    return gh_factory(make_config(workers=1, upstreams=[upstream("app", [backend.port])],
                                  extra='limits = { max_body_size = "200M"; };'))


def worker_and_baseline(gh):
    worker = gh.worker_pids()[0]
    # warm up: one request each way, so buffers that are allocated once exist already
    assert ghtest.request(gh.port, "POST", "/echo", body=b"w" * 100000).status == 200
    assert ghtest.get(gh.port, "/bytes/100000").status == 200
    return worker


def pattern_sha(n):
    h = hashlib.sha256()
    left = n
    while left > 0:
        k = min(left, len(BLOCK))
        h.update(BLOCK[:k])
        left -= k
    return h.hexdigest()


def read_head(sock):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("closed inside the response head: %r" % buf[:300])
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    return status, headers, rest


def upload(gh, chunked):
    worker = worker_and_baseline(gh)
    rss = RssSampler([worker]).start()
    base = rss.samples[0]
    h = hashlib.sha256()
    t0 = time.monotonic()
    with HttpConn(gh.port, timeout=30) as c:
        if chunked:
            c.send(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n")
            frame = b"%x\r\n" % len(BLOCK) + BLOCK + b"\r\n"
        else:
            c.send(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n" % BIG)
            frame = BLOCK
        for _ in range(BIG // len(BLOCK)):
            c.sock.sendall(frame)
            h.update(BLOCK)
        if chunked:
            c.sock.sendall(b"0\r\n\r\n")
        r = c.read_response()
    rss.stop()
    assert r.status == 200, r
    doc = r.json()
    assert doc["body_len"] == BIG and doc["body_sha256"] == h.hexdigest()
    growth = rss.peak() - base
    assert growth < RSS_LIMIT_KB, "worker RSS grew %d kB (from %d kB) during a %d MB %s upload " \
        "(%.1fs)" % (growth, base, BIG // MB, "chunked" if chunked else "Content-Length",
                     time.monotonic() - t0)


def test_big_upload_content_length_constant_memory(gh, backend):
    upload(gh, chunked=False)


def test_big_upload_chunked_constant_memory(gh, backend):
    upload(gh, chunked=True)


def test_big_download_constant_memory(gh, backend):
    worker = worker_and_baseline(gh)
    rss = RssSampler([worker]).start()
    base = rss.samples[0]
    with socket.create_connection(("127.0.0.1", gh.port), timeout=ghtest.scaled(30)) as s:
        s.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % BIG)
        status, headers, rest = read_head(s)
        assert status == 200 and headers.get("content-length") == str(BIG), (status, headers)
        h = hashlib.sha256(rest)
        got = len(rest)
        buf = bytearray(1 << 20)
        while got < BIG:
            n = s.recv_into(buf)
            assert n, "closed after %d of %d bytes" % (got, BIG)
            h.update(memoryview(buf)[:n])
            got += n
    rss.stop()
    assert got == BIG and h.hexdigest() == pattern_sha(BIG)
    growth = rss.peak() - base
    assert growth < RSS_LIMIT_KB, "worker RSS grew %d kB (from %d kB) during a %d MB download" % (
        growth, base, BIG // MB)


def test_slow_reader_backpressure(gh, backend):
    """A client that reads 64 KB then pauses 1 s, five times: the worker's RSS stays flat
    (it must slow the upstream, not buffer the response)."""
    worker = worker_and_baseline(gh)
    rss = RssSampler([worker]).start()
    base = rss.samples[0]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.settimeout(ghtest.scaled(30))
    try:
        s.connect(("127.0.0.1", gh.port))
        s.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % SLOW)
        status, headers, rest = read_head(s)
        assert status == 200, (status, headers)
        h = hashlib.sha256(rest)
        got = len(rest)
        during = []
        for _ in range(5):
            want = got + 65536
            while got < want:
                data = s.recv(want - got)
                assert data, "closed after %d bytes" % got
                h.update(data)
                got += len(data)
            time.sleep(1.0)
            during.append(ghtest.proc_status_kb(worker) - base)
        buf = bytearray(1 << 20)
        while got < SLOW:
            n = s.recv_into(buf)
            assert n, "closed after %d of %d bytes" % (got, SLOW)
            h.update(memoryview(buf)[:n])
            got += n
    finally:
        s.close()
    rss.stop()
    assert h.hexdigest() == pattern_sha(SLOW)
    growth = rss.peak() - base
    assert growth < RSS_LIMIT_KB, "worker RSS grew %d kB (from %d kB) serving a slow reader a %d MB " \
        "response; growth after each pause (kB): %s" % (growth, base, SLOW // MB, during)


def test_upstream_answers_early_while_client_uploads(gh, backend):
    """The backend answers 413 after the head without reading the body while the client is
    still sending 50 MB: the client gets the 413 and the connection is closed."""
    size = 50 * MB
    s = socket.create_connection(("127.0.0.1", gh.port), timeout=ghtest.scaled(10))
    sent = [0]
    err = []
    stop = threading.Event()

    def sender():
        try:
            while sent[0] < size and not stop.is_set():
                s.sendall(BLOCK)
                sent[0] += len(BLOCK)
        except OSError as e:
            err.append(e)

    try:
        s.sendall(b"POST /reject-early/413 HTTP/1.1\r\nHost: localhost\r\n"
                  b"Content-Length: %d\r\n\r\n" % size)
        t = threading.Thread(target=sender, daemon=True)
        t.start()
        t0 = time.monotonic()
        try:
            status, headers, rest = read_head(s)
        except socket.timeout:
            pytest.fail("no response within %.0fs of the upstream's early 413 (client had sent %d "
                        "of %d bytes)" % (ghtest.scaled(10), sent[0], size))
        at = sent[0]
        assert status == 413, (status, headers, rest[:200])
        if at >= size and headers.get("connection", "").lower() != "close":
            # The whole body reached the proxy before the answer: the proxy
            # consumed it, so keeping the client connection is correct.
            return
        data, how = ghtest.read_until_close(s, 5)
        assert how in ("eof", "reset"), \
            "connection still open 5s after the 413 (client sent %d bytes by the 413, %d now)" % (
                at, sent[0])
        assert time.monotonic() - t0 < ghtest.scaled(8)
    finally:
        stop.set()
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
