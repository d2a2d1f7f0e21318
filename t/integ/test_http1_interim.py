"""HTTP/1.1 engine acceptance: interim responses (SPEC section 5): Expect: 100-continue
relayed or refused, 103 Early Hints relayed to 1.1 clients only."""

import time

import pytest

import ghtest
from ghtest import HttpConn, make_config, sha256, upstream


@pytest.fixture
def gh(gh_factory, backend):
    return gh_factory(make_config(workers=1, upstreams=[upstream("app", [backend.port])],
                                  extra='limits = { max_body_size = "1M"; };'))


def test_expect_100_continue_relayed(gh, backend):
    body = b"x" * 5000
    with HttpConn(gh.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n"
               b"Expect: 100-continue\r\n\r\n" % len(body))
        r = c.read_response(interim=True)
        assert r.status == 100, "expected 100 Continue before the body, got %r" % r
        c.send(body)
        r = c.read_response()
    assert r.status == 200, r
    doc = r.json()
    assert doc["body_len"] == len(body) and doc["body_sha256"] == sha256(body)
    assert [s for s, _ in r.interim] == [], "a second interim response: %s" % r.interim


def test_expect_100_continue_body_too_large_413_without_100(gh, backend):
    with HttpConn(gh.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000000\r\n"
               b"Expect: 100-continue\r\n\r\n")
        r = c.read_response(interim=True)
    assert r.status == 413, "expected 413 and no 100, got %r" % r
    time.sleep(ghtest.scaled(0.3))
    assert backend.requests() == [], backend.requests()


def test_103_early_hints_relayed_to_http11(gh, backend):
    with HttpConn(gh.port) as c:
        c.send(b"GET /early-hints HTTP/1.1\r\nHost: localhost\r\n\r\n")
        r = c.read_response()
    assert r.status == 200 and r.body == b"hinted\n"
    assert [s for s, _ in r.interim] == [103], "interim responses: %s" % r.interim
    links = [v for k, v in r.interim[0][1] if k.lower() == "link"]
    assert links == ["</style.css>; rel=preload; as=style"], r.interim


def test_no_interim_responses_to_http10(gh, backend):
    with HttpConn(gh.port) as c:
        c.send(b"GET /early-hints HTTP/1.0\r\nHost: localhost\r\n\r\n")
        r = c.read_response()
    assert r.status == 200 and r.body == b"hinted\n"
    assert r.interim == [], "interim response sent to an HTTP/1.0 client: %s" % r.interim
