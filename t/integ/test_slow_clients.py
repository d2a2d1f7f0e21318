"""limits.min_client_rate (SPEC section 4, issue 5 item 5): a client that keeps every
gap far under the gap timeouts (30 s here) but averages less than min_client_rate while
the proxy waits on it (a body being sent, a response not being read) is cut off: 408
before any response byte, a close after. The grace is 5 s, so a client at 100 B/s
against 1k/s is cut after about 5 / (1 - 0.1) = 5.6 s of waiting, one reading 300 B/s
after about 7 s. Time spent waiting on the upstream does not count against the client.

The response case needs a body larger than what the kernel buffers between gatehouse
and a client with a small SO_RCVBUF (2-4 MB on loopback): those bytes are written at
once and are no proof that the client reads, so they give no credit.
"""

import select
import socket
import threading
import time

import ghtest
from ghtest import make_config, upstream

GAPS = 'timeouts = { client_body = "30s"; send = "30s"; };'
BIG = 8 << 20


def config(backend, rate="1k", gaps=GAPS):
    return make_config(workers=1, upstreams=[upstream("app", [backend.port])],
                       extra='limits = { min_client_rate = "%s"; };\n%s' % (rate, gaps))


def slow_clients(gh):
    """The slow_clients counter of /status.json, after checking /metrics agrees."""
    m = ghtest.admin_request(gh, "GET", "/metrics").text
    n = ghtest.admin_request(gh, "GET", "/status.json").json()["edge"]["slow_clients"]
    assert "gatehouse_slow_clients_total %d\n" % n in m, m
    return n


def slow_upload(port, total, step, interval, limit):
    """POST a `total`-byte body to /echo, `step` bytes every `interval` s; read what
    comes back meanwhile. Returns (response bytes, seconds from the first body byte to
    the end of the response or the close), or stops after `limit` s."""
    s = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % total)
        t0 = time.monotonic()
        sent, got, closed = 0, b"", False
        while not closed and time.monotonic() - t0 < limit:
            if sent < total:
                try:
                    n = min(step, total - sent)
                    s.sendall(b"b" * n)
                    sent += n
                except (BrokenPipeError, ConnectionResetError):
                    pass
            end = time.monotonic() + interval
            while not closed:
                left = end - time.monotonic()
                if left <= 0:
                    break
                r, _, _ = select.select([s], [], [], left)
                if not r:
                    break
                try:
                    d = s.recv(65536)
                except ConnectionResetError:
                    d = b""
                if not d:
                    closed = True
                got += d
                if sent >= total and b"\r\n\r\n" in got:
                    head, _, body = got.partition(b"\r\n\r\n")
                    cl = [ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length:")]
                    if cl and len(body) >= int(cl[0].split(b":")[1]):
                        closed = True
        return got, time.monotonic() - t0
    finally:
        s.close()


def slow_download(port, target, rate, seconds, stop=lambda: False):
    """GET `target` (Content-Length framed) with a 4 KB receive buffer, reading about
    `rate` bytes/s for `seconds` s (or until stop()), then as fast as possible. Returns
    the body bytes read and whether the connection ended before the whole body."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    try:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target.encode())
        step = max(1, rate // 10)
        buf, total = b"", None
        t0 = time.monotonic()
        s.settimeout(ghtest.scaled(5))
        while True:
            slow = time.monotonic() - t0 < seconds and not stop()
            if not slow:
                s.settimeout(ghtest.scaled(20))
            try:
                d = s.recv(step if slow else 1 << 20)
            except ConnectionResetError:
                d = b""
            if total is None:
                buf += d
                if b"\r\n\r\n" in buf:
                    head, _, body = buf.partition(b"\r\n\r\n")
                    assert head.startswith(b"HTTP/1.1 200"), head
                    cl = [ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length:")]
                    total, got = int(cl[0].split(b":")[1]), len(body)
            else:
                got += len(d)
            if not d:
                return (got if total is not None else 0), True
            if total is not None and got >= total:
                return got, False
            if slow:
                time.sleep(0.1)
    finally:
        s.close()


def test_slow_body_gets_408(gh_factory, backend):
    gh = gh_factory(config(backend))
    # 100 B/s in 50-byte steps: every gap (0.5 s) is far under client_body (30 s).
    got, took = slow_upload(gh.port, 5000, 50, 0.5, limit=ghtest.scaled(12))
    assert got.startswith(b"HTTP/1.1 408"), got[:60]
    assert 5.0 <= took < ghtest.scaled(9), took
    gh.wait_log(r"client 127\.0\.0\.1 too slow: \d+ bytes in \d+ ms waiting on it, "
                r"below min_client_rate 1024 bytes/s")
    # A client at normal speed is not affected.
    r = ghtest.request(gh.port, "POST", "/echo", body=b"n" * 300000)
    assert r.status == 200 and r.json()["body_len"] == 300000
    gh.wait_log(r'"POST /echo HTTP/1\.1" 408 ', name="access.log")
    assert slow_clients(gh) == 1


def test_slow_reader_is_closed(gh_factory, backend):
    gh = gh_factory(config(backend))
    logged = lambda: "too slow" in gh.error_log()
    # Meanwhile a reader at 3 KB/s: above the rate, although the kernel lets gatehouse
    # write again only after a third of its send buffer drained (a minute at that speed).
    steady = {}
    t = threading.Thread(target=lambda: steady.update(
        r=slow_download(gh.port, "/bytes/%d" % BIG, 3000, 8)))
    t.start()
    t0 = time.monotonic()
    # Cut after 7-13 s: the 2-4 KB that fill the client's receive buffer after the
    # first blocked write did leave the socket, and count.
    got, early = slow_download(gh.port, "/bytes/%d" % BIG, 300, ghtest.scaled(16), stop=logged)
    took = time.monotonic() - t0
    assert logged(), "not cut off after %.1f s" % took
    assert 5.0 <= took < ghtest.scaled(18), took
    assert early and got < BIG, got      # the rest never came
    t.join(ghtest.scaled(30))
    assert steady["r"] == (BIG, False), steady
    assert gh.error_log().count("too slow") == 1, gh.error_log()
    assert slow_clients(gh) == 1
    # A client reading at full speed gets all of it.
    r = ghtest.get(gh.port, "/bytes/%d" % BIG, timeout=20)
    assert r.status == 200 and r.body == ghtest.pattern(BIG)


def test_send_gap_counts_bytes_leaving_the_socket(gh_factory, backend):
    """timeouts.send is the longest time the client takes nothing. The kernel reports
    the socket writable again only once a third of its send buffer (megabytes on
    loopback) drained: a client reading steadily at 100 KB/s is not stalled although
    no write happens for several seconds, and must not be cut after 2 s."""
    gh = gh_factory(config(backend, rate="0", gaps='timeouts = { send = "2s"; };'))
    got, early = slow_download(gh.port, "/bytes/%d" % BIG, 100000, 7)
    assert (got, early) == (BIG, False)
    # One taking a trickle (2 KB/s, under 16 KB per gap) is cut even with the rate off.
    got, early = slow_download(gh.port, "/bytes/%d" % BIG, 2000, 6)
    assert early and got < BIG, (got, early)
    # A client that takes nothing at all is still cut after the gap.
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", gh.port))
    try:
        s.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: x\r\n\r\n" % BIG)
        time.sleep(ghtest.scaled(6))
        s.settimeout(ghtest.scaled(10))
        n = 0
        while True:
            d = s.recv(1 << 20)
            if not d:
                break
            n += len(d)
        assert n < BIG, n
    finally:
        s.close()


def test_slow_upstream_does_not_count(gh_factory, backend):
    gh = gh_factory(config(backend))
    results = {}

    def drip():
        # Head after 3 s, then 20 bytes at 10 B/s: the client reads at once.
        results["drip"] = ghtest.get(gh.port, "/drip/20/100/3000", timeout=15)

    def slow_answer():
        results["slow"] = ghtest.request(gh.port, "POST", "/slow/3500", body=b"p" * 100000,
                                         timeout=15)

    threads = [threading.Thread(target=drip), threading.Thread(target=slow_answer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(ghtest.scaled(20))
    assert results["drip"].status == 200 and results["drip"].body == ghtest.pattern(20)
    assert results["slow"].status == 200, results["slow"]
    assert "too slow" not in gh.error_log()


def test_zero_rate_disables_it(gh_factory, backend):
    gh = gh_factory(config(backend, rate="0"))
    results = {}

    def upload():
        results["upload"] = slow_upload(gh.port, 700, 50, 0.5, limit=ghtest.scaled(12))

    t = threading.Thread(target=upload)
    t.start()
    # Meanwhile a slow reader well past the grace, then reading fast: all of it.
    got, early = slow_download(gh.port, "/bytes/%d" % BIG, 300, 8)
    t.join(ghtest.scaled(15))
    assert not early and got == BIG, got
    resp, took = results["upload"]
    assert resp.startswith(b"HTTP/1.1 200"), resp[:60]
    assert b'"body_len": 700' in resp
    assert took >= 6.5
    assert "too slow" not in gh.error_log()
