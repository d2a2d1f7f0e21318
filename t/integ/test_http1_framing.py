"""HTTP/1.1 engine acceptance: message framing in both directions (SPEC section 5)."""

import time

import pytest

import ghtest
from ghtest import HttpConn, make_config, pattern, read_until_close, request, sha256, upstream


@pytest.fixture
def gh(gh_factory, backend):
    return gh_factory(make_config(workers=1, upstreams=[upstream("app", [backend.port])]))


def hdrs(doc, name):
    return [v for k, v in doc["headers"] if k.lower() == name.lower()]


def test_get_reaches_backend_without_body(gh, backend):
    r = request(gh.port, "GET", "/echo?get")
    assert r.status == 200 and r.framing == "length"
    doc = r.json()
    assert doc["method"] == "GET" and doc["body_len"] == 0
    assert hdrs(doc, "Transfer-Encoding") == [] and hdrs(doc, "Content-Length") in ([], ["0"])


def test_post_content_length(gh, backend):
    body = bytes(range(256)) * 300
    doc = request(gh.port, "POST", "/echo", body=body).json()
    assert doc["body_len"] == len(body) and doc["body_sha256"] == sha256(body)


def test_chunked_request_body_odd_chunks(gh, backend):
    """Chunks of odd sizes with extensions: the backend sees exactly the body."""
    parts = [b"a" * 1, b"b" * 17, b"c" * 4096, b"d" * 65537, b"e" * 3]
    raw = b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
    for i, p in enumerate(parts):
        raw += b"%X;ext%d=v\r\n" % (len(p), i) + p + b"\r\n"
    raw += b"0\r\n\r\n"
    body = b"".join(parts)
    with HttpConn(gh.port) as c:
        c.send(raw)
        r = c.read_response()
    assert r.status == 200, r
    doc = r.json()
    assert doc["body_len"] == len(body) and doc["body_sha256"] == sha256(body)


def test_chunked_response_to_http11_client_is_chunked(gh, backend):
    r = request(gh.port, "GET", "/chunked/200000")
    assert r.status == 200 and r.body == pattern(200000)
    assert r.framing == "chunked", "framing %s, headers %s" % (r.framing, r.headers)


def test_chunked_response_to_http10_client_is_close_delimited(gh, backend):
    with HttpConn(gh.port) as c:
        c.send(b"GET /chunked/200000 HTTP/1.0\r\nHost: localhost\r\n\r\n")
        r = c.read_response()
    assert r.status == 200
    assert r.header("Transfer-Encoding") is None, r.headers
    assert r.framing == "close", r.framing
    assert r.body == pattern(200000), "got %d bytes" % len(r.body)


def test_head_has_no_body(gh, backend):
    """HEAD answers carry no body: the next response on the connection parses cleanly."""
    with HttpConn(gh.port) as c:
        c.send(b"HEAD /bytes/1000 HTTP/1.1\r\nHost: localhost\r\n\r\n"
               b"HEAD /chunked/1000 HTTP/1.1\r\nHost: localhost\r\n\r\n"
               b"GET /bytes/10 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        r1 = c.read_response("HEAD")
        r2 = c.read_response("HEAD")
        r3 = c.read_response("GET")
    assert r1.status == 200 and r1.header("Content-Length") in (None, "1000")
    assert r2.status == 200
    assert r3.status == 200 and r3.body == pattern(10), "stray bytes after HEAD: %r" % r3.body[:100]


@pytest.mark.parametrize("code", [204, 304])
def test_no_body_statuses(gh, backend, code):
    with HttpConn(gh.port) as c:
        c.send(b"GET /status/%d HTTP/1.1\r\nHost: localhost\r\n\r\n"
               b"GET /bytes/10 HTTP/1.1\r\nHost: localhost\r\n\r\n" % code)
        r1 = c.read_response()
        r2 = c.read_response()
    assert r1.status == code
    assert r1.header("Transfer-Encoding") is None, r1.headers
    assert r1.header("Content-Length") in (None, "0"), r1.headers
    assert r2.status == 200 and r2.body == pattern(10), "stray bytes after %d: %r" % (code, r2.body)


def test_pipelining_in_order(gh, backend):
    """Five requests in one write are answered in order."""
    targets = ["/echo?n=0", "/bytes/7", "/chunked/9", "/slow/200", "/echo?n=4"]
    raw = b"".join(b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % t.encode() for t in targets)
    with HttpConn(gh.port) as c:
        c.send(raw)
        rs = [c.read_response() for _ in targets]
    assert [r.status for r in rs] == [200] * 5
    assert rs[0].json()["target"] == "/echo?n=0"
    assert rs[1].body == pattern(7)
    assert rs[2].body == pattern(9)
    assert rs[3].body == b"slept 200\n"
    assert rs[4].json()["target"] == "/echo?n=4"


def test_http10_without_keepalive_closes(gh, backend):
    with HttpConn(gh.port) as c:
        c.send(b"GET /bytes/100 HTTP/1.0\r\nHost: localhost\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == pattern(100)
        rest, how = read_until_close(c.sock, 3)
        assert how in ("eof", "reset") and rest == b"", "1.0 connection not closed (%s)" % how


def test_http10_with_keepalive_reused(gh, backend):
    with HttpConn(gh.port) as c:
        for i in range(3):
            c.send(b"GET /bytes/%d HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n"
                   % (100 + i))
            r = c.read_response()
            assert r.status == 200 and r.body == pattern(100 + i)
            assert r.framing == "length"
            assert "keep-alive" in (r.header("Connection") or "").lower(), r.headers


def test_keepalive_reuse_one_client_connection(gh, backend):
    with HttpConn(gh.port) as c:
        local = c.sock.getsockname()
        for i in range(10):
            r = c.request("GET", "/echo?k=%d" % i)
            assert r.status == 200 and r.json()["target"] == "/echo?k=%d" % i
            assert not r.wants_close()
        assert c.sock.getsockname() == local and c.requests == 10


def test_request_trailers_not_forwarded(gh, backend):
    raw = (b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
           b"Trailer: X-Trailer\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: secret\r\n\r\n")
    with HttpConn(gh.port) as c:
        c.send(raw)
        r = c.read_response()
    assert r.status == 200, r
    doc = r.json()
    assert doc["body_len"] == 5 and doc["body_sha256"] == sha256(b"hello")
    got = backend.wait_request(lambda q: q["target"] == "/echo")
    assert "trailers" not in got, "trailers reached the backend: %s" % got.get("trailers")
    assert hdrs(got, "X-Trailer") == []
