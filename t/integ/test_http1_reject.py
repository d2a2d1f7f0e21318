"""HTTP/1.1 engine acceptance: smuggling and malformed requests (SPEC section 5, limits of
section 4). Each request must be answered with the status SPEC gives and must never reach
the backend: its request log stays empty.

Where the connection cannot be reused (ambiguous framing, unread body or head, unknown
protocol) the answer must carry `Connection: close` and the connection must then close
without a second response. 405 and 417 may keep the connection.

Chunked-body errors (bad chunk size, chunk data not followed by CRLF) arrive after the
head; the proxy may already have forwarded the head by then. The contract we test: the
client gets 400 (for a bad chunk size: SPEC lists it) or, for data not followed by CRLF,
400 or a closed connection without any other answer, and the backend never logs a
complete request (backend.py logs a request only once its whole body has arrived).
"""

import os
import time

import pytest

import ghtest
from ghtest import ConnectionClosed, HttpConn, make_config, read_until_close, upstream

LIMITS = ('limits = { max_header_size = "4k"; max_headers = 20; max_uri_size = "1k"; '
          'max_body_size = "1M"; };\n'
          'timeouts = { client_header = "1s"; };')


@pytest.fixture
def gh(gh_factory, backend):
    return gh_factory(make_config(workers=1, upstreams=[upstream("app", [backend.port])],
                                  extra=LIMITS))


def exchange(port, raw, timeout=5.0, wait_close=True):
    """Send raw bytes; return (Response or None, error text, bytes seen after it, how the
    connection ended: eof | reset | timeout | open (not waited for))."""
    c = HttpConn(port, timeout=timeout)
    try:
        c.send(raw)
        try:
            r = c.read_response()
        except (ConnectionClosed, OSError, ValueError) as e:
            return None, "%s: %s (buffered %r)" % (type(e).__name__, e, c.buf[:200]), b"", "eof"
        if not wait_close:
            return r, "", c.buf, "open"
        rest, how = read_until_close(c.sock, 3.0)
        return r, "", c.buf + rest, how
    finally:
        c.close()


def assert_backend_empty(backend, settle=0.3):
    time.sleep(ghtest.scaled(settle))
    got = backend.requests()
    assert got == [], "the backend received %d request(s): %s" % (
        len(got), [(r["method"], r["target"]) for r in got])


def check_rejected(gh, backend, raw, status, must_close=True):
    r, err, rest, how = exchange(gh.port, raw, wait_close=must_close)
    assert r is not None, "no response to %r: %s" % (raw[:120], err)
    assert r.status == status, "expected %d, got %d %s (body %r)" % (status, r.status, r.reason,
                                                                     r.body[:200])
    if must_close:
        conn = [t.strip().lower() for t in ",".join(r.headers_all("Connection")).split(",")]
        assert "close" in conn, "no Connection: close on the %d: headers %s" % (status, r.headers)
        assert how in ("eof", "reset"), "connection still open 3s after the %d" % status
        assert rest == b"", "bytes after the %d: %r" % (status, rest[:200])
    assert_backend_empty(backend)
    return r


H = b"Host: localhost\r\n"

# (id, raw request, expected status, must close)
CASES = [
    ("cl_and_te", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 6\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("te_chunked_identity", b"POST /echo HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400),
    ("te_space_before_colon", b"POST /echo HTTP/1.1\r\n" + H +
     b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
    ("obs_fold", b"GET /echo HTTP/1.1\r\n" + H + b"X-Folded: a\r\n b\r\n\r\n", 400),
    ("cl_duplicate_differing", b"POST /echo HTTP/1.1\r\n" + H +
     b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    ("cl_list_differing", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 5, 6\r\n\r\nhello!", 400),
    ("cl_plus_sign", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: +5\r\n\r\nhello", 400),
    ("bare_cr_in_header", b"GET /echo HTTP/1.1\r\n" + H + b"X-Foo: a\rb\r\n\r\n", 400),
    ("nul_in_header", b"GET /echo HTTP/1.1\r\n" + H + b"X-Foo: a\x00b\r\n\r\n", 400),
    ("space_in_header_name", b"GET /echo HTTP/1.1\r\n" + H + b"X Foo: a\r\n\r\n", 400),
    ("missing_host_http11", b"GET /echo HTTP/1.1\r\nX-Foo: a\r\n\r\n", 400),
    ("two_hosts_differing", b"GET /echo HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n", 400),
    ("two_hosts_identical", b"GET /echo HTTP/1.1\r\nHost: a.test\r\nHost: a.test\r\n\r\n", 400),
    ("chunk_size_zz", b"POST /echo HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_negative", b"POST /echo HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n-1\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_huge", b"POST /echo HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\nhello\r\n0\r\n\r\n", 400),
    ("te_on_http10", b"POST /echo HTTP/1.0\r\n" + H +
     b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400),
    ("te_gzip_chunked", b"POST /echo HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501),
    ("te_gzip_only", b"POST /echo HTTP/1.1\r\n" + H +
     b"Transfer-Encoding: gzip\r\n\r\nhello", 400),
    ("request_line_double_space", b"GET  /echo HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("request_line_lowercase_version", b"GET /echo http/1.1\r\n" + H + b"\r\n", 400),
    ("request_line_missing_version", b"GET /echo\r\n" + H + b"\r\n", 400),
    ("http_2_0_request_line", b"GET /echo HTTP/2.0\r\n" + H + b"\r\n", 505),
    ("uri_too_long", b"GET /echo?" + b"u" * 2000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
    ("head_too_large", b"GET /echo HTTP/1.1\r\n" + H +
     b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 500) for i in range(10)) + b"\r\n", 431),
    ("too_many_headers", b"GET /echo HTTP/1.1\r\n" + H +
     b"".join(b"X-H%d: v\r\n" % i for i in range(25)) + b"\r\n", 431),
    ("content_length_over_max_body", b"POST /echo HTTP/1.1\r\n" + H +
     b"Content-Length: 2000000\r\n\r\n" + b"x" * 1000, 413),
]


@pytest.mark.parametrize("raw,status", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rejected_with_close(gh, backend, raw, status):
    check_rejected(gh, backend, raw, status, must_close=True)


@pytest.mark.parametrize("raw", [
    b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    b"TRACE /echo HTTP/1.1\r\n" + H + b"\r\n",
], ids=["connect", "trace"])
def test_connect_trace_405(gh, backend, raw):
    check_rejected(gh, backend, raw, 405, must_close=False)


def test_expect_other_than_100_continue_417(gh, backend):
    check_rejected(gh, backend, b"GET /echo HTTP/1.1\r\n" + H + b"Expect: foo\r\n\r\n", 417,
                   must_close=False)


def test_chunk_data_not_followed_by_crlf(gh, backend):
    """The head may already be upstream; the backend must never see a complete request and
    the client gets 400 or a closed connection, never a 2xx."""
    raw = (b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhelloXX0\r\n\r\n")
    r, err, rest, how = exchange(gh.port, raw)
    if r is not None:
        assert r.status == 400, "expected 400 or a close, got %d %r" % (r.status, r.body[:200])
        assert how in ("eof", "reset"), "connection still open after the 400"
    assert_backend_empty(backend, settle=0.5)


def test_client_header_timeout_408(gh, backend):
    """Half a head, then silence: 408 after timeouts.client_header (1 s), then close."""
    c = HttpConn(gh.port, timeout=6)
    try:
        t0 = time.monotonic()
        c.send(b"GET /echo HTTP/1.1\r\nHost: localho")
        try:
            r = c.read_response()
        except (ConnectionClosed, OSError) as e:
            pytest.fail("no 408 (after %.1fs): %s" % (time.monotonic() - t0, e))
        elapsed = time.monotonic() - t0
        assert r.status == 408, r
        assert 0.8 <= elapsed <= ghtest.scaled(3.5), "408 after %.2fs (client_header 1s)" % elapsed
        _, how = read_until_close(c.sock, 3)
        assert how in ("eof", "reset")
    finally:
        c.close()
    assert_backend_empty(backend)


def test_client_header_timeout_closes_at_once(gh, backend):
    """A head that times out is answered 408 and the connection is closed at once, not
    half-closed and lingered on until the client's FIN (issue 17's slowloris wave): each
    client reads the 408 and then a clean EOF (a FIN, not a reset) without closing its
    side, the worker holds none of their descriptors any more, and bytes sent after the
    EOF meet a reset (a closed socket; a half-closed one would read and drop them)."""
    worker = gh.wait_workers(1)[0]

    def nfds():
        return len(os.listdir("/proc/%d/fd" % worker))
    base = nfds()
    conns = []
    try:
        for i in range(20):
            c = HttpConn(gh.port, timeout=6)
            # some heads cut mid-line, some after whole lines
            c.send(b"GET /echo HTTP/1.1\r\nHost: localhost\r\n" + (b"X-Slow: a" if i % 2 else b""))
            conns.append(c)
        ghtest.wait_for(lambda: nfds() >= base + 20, 3, what="the worker accepting all 20")
        t0 = time.monotonic()
        for c in conns:
            data, how = read_until_close(c.sock, 5)
            assert data.startswith(b"HTTP/1.1 408 "), data[:60]
            assert b"\r\nConnection: close\r\n" in data, data
            assert how == "eof", "after the 408: %s" % how
        waited = time.monotonic() - t0
        # timeouts.client_header is 1 s; a lingering close would hold each socket 2 s
        # (LINGER_MS) since none of these clients closes its side
        assert waited <= ghtest.scaled(2.5), "408s and EOFs took %.2fs" % waited
        ghtest.wait_for(lambda: nfds() <= base, 1.0,
                        what="the worker closing the timed-out connections (%d fds, %d before)"
                        % (nfds(), base))
        # the first late bytes draw the reset, a send after it fails (EPIPE)
        c = conns[0]

        def refused():
            try:
                c.sock.send(b"X-Late: 1\r\n")
            except (BrokenPipeError, ConnectionResetError):
                return True
            return False
        ghtest.wait_for(refused, 1.0, what="a reset for bytes sent after the EOF")
    finally:
        for c in conns:
            c.close()
    assert_backend_empty(backend)


def test_absolute_form_target(gh, backend):
    """The authority of an absolute-form target replaces Host; the path goes upstream in
    origin form."""
    r, err, _, _ = exchange(gh.port, b"GET http://example.com/echo?q=1 HTTP/1.1\r\n"
                                     b"Host: other.test\r\nConnection: close\r\n\r\n")
    assert r is not None, err
    assert r.status == 200, r
    got = backend.wait_request()
    hosts = [v for k, v in got["headers"] if k.lower() == "host"]
    assert hosts == ["example.com"], got["headers"]
    assert got["target"] == "/echo?q=1", got["target"]
