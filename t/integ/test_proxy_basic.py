"""Proxying to one backend: what reaches it and what comes back (SPEC section 5)."""

import json
import re

import pytest

import ghtest
from ghtest import HttpConn, get, make_config, pattern, request, sha256, upstream

RID_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")


def hdrs(doc, name):
    """Every value of header `name` in an /echo document."""
    return [v for k, v in doc["headers"] if k.lower() == name.lower()]


@pytest.fixture
def gh(gh_factory, backend):
    return gh_factory(make_config(upstreams=[upstream("app", [backend.port])]))


def test_get_echo(gh, backend):
    r = get(gh.port, "/echo?a=1&b=2", host="example.test")
    assert r.status == 200, r
    doc = r.json()
    assert doc["method"] == "GET"
    assert doc["target"] == "/echo?a=1&b=2"
    assert doc["version"] == "HTTP/1.1"
    assert hdrs(doc, "Host") == ["example.test"]
    assert doc["body_len"] == 0
    assert r.header("X-Backend") == "a"


def test_forwarding_headers(gh, backend):
    r = get(gh.port, "/echo", host="example.test")
    doc = r.json()
    assert hdrs(doc, "X-Forwarded-For") == ["127.0.0.1"]
    assert hdrs(doc, "X-Forwarded-Proto") == ["http"]
    assert hdrs(doc, "X-Forwarded-Host") == ["example.test"]
    fwd = hdrs(doc, "Forwarded")
    assert fwd and re.search(r'for="?127\.0\.0\.1"?', fwd[-1]), fwd
    via = hdrs(doc, "Via")
    assert via and via[-1].endswith("1.1 gatehouse"), via
    rid = hdrs(doc, "X-Request-ID")
    assert len(rid) == 1 and RID_RE.match(rid[0]), rid
    assert r.header("X-Request-ID") == rid[0], "the response carries the same request id"


def test_x_forwarded_for_appended(gh, backend):
    doc = get(gh.port, "/echo", headers=[("X-Forwarded-For", "10.1.2.3")]).json()
    xff = ", ".join(hdrs(doc, "X-Forwarded-For"))
    assert re.fullmatch(r"10\.1\.2\.3,\s*127\.0\.0\.1", xff), xff


def test_request_id_passed_or_replaced(gh, backend):
    r = get(gh.port, "/echo", headers=[("X-Request-ID", "client-id_1.2:3@x")])
    assert hdrs(r.json(), "X-Request-ID") == ["client-id_1.2:3@x"]
    assert r.header("X-Request-ID") == "client-id_1.2:3@x"
    r = get(gh.port, "/echo", headers=[("X-Request-ID", "bad id with spaces")])
    got = hdrs(r.json(), "X-Request-ID")
    assert len(got) == 1 and got[0] != "bad id with spaces" and RID_RE.match(got[0])
    r = get(gh.port, "/echo", headers=[("X-Request-ID", "x" * 129)])
    got = hdrs(r.json(), "X-Request-ID")
    assert len(got) == 1 and len(got[0]) <= 128


def test_request_ids_unique(gh, backend):
    ids = {get(gh.port, "/echo").header("X-Request-ID") for _ in range(20)}
    assert len(ids) == 20


def test_response_server_header_hidden(gh, backend):
    r = get(gh.port, "/")
    assert r.status == 200 and r.body == b"backend a\n"
    assert r.headers_all("Server") == ["gatehouse"]
    assert r.header("X-Powered-By") is None
    via = r.headers_all("Via")
    assert via and via[-1].endswith("1.1 gatehouse"), via


def test_post_content_length(gh, backend):
    body = bytes(range(256)) * 1024  # 256 KiB
    r = request(gh.port, "POST", "/echo", body=body)
    assert r.status == 200
    doc = r.json()
    assert doc["method"] == "POST"
    assert doc["body_len"] == len(body) and doc["body_sha256"] == sha256(body)


def test_post_chunked(gh, backend):
    body = b"chunk-" * 20000
    r = request(gh.port, "POST", "/echo", body=body, chunked=True)
    assert r.status == 200
    doc = r.json()
    assert doc["body_len"] == len(body) and doc["body_sha256"] == sha256(body)


def test_post_empty(gh, backend):
    r = request(gh.port, "POST", "/echo", body=b"")
    assert r.status == 200 and r.json()["body_len"] == 0


def test_download_length_and_chunked(gh, backend):
    r = get(gh.port, "/bytes/300000")
    assert r.status == 200 and r.body == pattern(300000)
    r = get(gh.port, "/chunked/300000")
    assert r.status == 200 and r.body == pattern(300000)


def test_head_and_statuses(gh, backend):
    r = request(gh.port, "HEAD", "/bytes/1000")
    assert r.status == 200 and r.body == b""
    assert get(gh.port, "/status/404").status == 404
    assert get(gh.port, "/status/503").status == 503
    r = get(gh.port, "/status/204")
    assert r.status == 204 and r.body == b""


def test_keepalive_through_proxy(gh, backend):
    with HttpConn(gh.port) as c:
        for i in range(20):
            r = c.request("GET", "/echo?i=%d" % i)
            assert r.status == 200 and r.json()["target"] == "/echo?i=%d" % i
            assert not r.wants_close()
        r = c.request("POST", "/echo", body=b"abc")
        assert r.json()["body_len"] == 3


def test_hop_by_hop_headers_removed(gh, backend):
    doc = get(gh.port, "/echo", headers=[("Connection", "keep-alive, X-Hop"),
                                         ("X-Hop", "1"), ("Keep-Alive", "timeout=5"),
                                         ("Proxy-Connection", "keep-alive"),
                                         ("TE", "trailers"), ("X-Kept", "yes")]).json()
    names = {k.lower() for k, _ in doc["headers"]}
    assert "x-hop" not in names and "keep-alive" not in names and "te" not in names
    assert "proxy-connection" not in names
    assert hdrs(doc, "X-Kept") == ["yes"]


def test_backend_log_sees_each_request_once(gh, backend):
    get(gh.port, "/echo?once=1")
    backend.wait_request(lambda r: r["target"] == "/echo?once=1")
    assert [r["target"] for r in backend.requests()].count("/echo?once=1") == 1


def test_return_route_not_forwarded(gh, backend):
    assert get(gh.port, "/ping").body == b"pong\n"
    get(gh.port, "/echo?marker")
    backend.wait_request(lambda r: r["target"] == "/echo?marker")
    assert all(r["target"] != "/ping" for r in backend.requests())


def test_http10_client(gh, backend):
    with HttpConn(gh.port) as c:
        r = c.request("GET", "/bytes/5000", version="HTTP/1.0")
        assert r.status == 200
        assert r.body == pattern(5000)
        r2 = get(gh.port, "/chunked/5000", version="HTTP/1.0")
        assert r2.status == 200 and r2.body == pattern(5000)
        assert r2.framing != "chunked", "no chunked encoding to an HTTP/1.0 client"


def test_curl_through_proxy(gh, backend):
    p = ghtest.curl("-i", "http://127.0.0.1:%d/bytes/100" % gh.port)
    assert p.returncode == 0, p.stderr
    status, headers, body = ghtest.parse_curl_head(p.stdout)
    assert status == 200 and body == pattern(100)


def test_http_client_post(gh, backend):
    status, headers, body = ghtest.http_client_request(
        gh.port, "POST", "/echo", body=b"hello", headers={"Content-Type": "text/plain"})
    assert status == 200
    assert json.loads(body)["body_len"] == 5


def test_502_when_backend_closed(gh_factory):
    dead = ghtest.free_port()
    gh = gh_factory(make_config(upstreams=[upstream("app", [dead])]))
    r = get(gh.port, "/anything")
    assert r.status == 502
    assert r.header("Server") == "gatehouse"
    # and the daemon keeps serving
    assert get(gh.port, "/ping").body == b"pong\n"


def test_502_when_backend_closes_without_answer(gh, backend):
    # the upstream closes before a byte of its answer; a retry (if any) fails the same way
    r = get(gh.port, "/close")
    assert r.status == 502


def test_slow_backend_response(gh, backend):
    r = get(gh.port, "/slow/300")
    assert r.status == 200 and r.body == b"slept 300\n"
