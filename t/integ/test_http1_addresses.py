"""HTTP/1.1 engine acceptance: upstream server addresses given as unix sockets and as host
names (SPEC section 4, `servers`)."""

import pytest

import ghtest
from ghtest import HttpConn, get, make_config, pattern, request, sha256, upstream


def test_unix_socket_upstream(gh_factory):
    b = ghtest.UnixBackend("u").start()
    try:
        gh = gh_factory(make_config(workers=1, upstreams=[upstream("app", [b.address])]))
        r = get(gh.port, "/echo?unix")
        assert r.status == 200, "%r %r" % (r, r.body[:200])
        assert r.json()["backend"] == "u"
        body = b"u" * 100000
        doc = request(gh.port, "POST", "/echo", body=body).json()
        assert doc["body_sha256"] == sha256(body)
        r = get(gh.port, "/bytes/300000")
        assert r.body == pattern(300000)
        assert any(q["target"] == "/echo?unix" for q in b.requests())
    finally:
        b.stop()
        b.cleanup()


def test_hostname_upstream(gh_factory, backend):
    gh = gh_factory(make_config(workers=1,
                                upstreams=[upstream("app", ["localhost:%d" % backend.port])]))
    r = get(gh.port, "/echo?named")
    assert r.status == 200, "%r %r" % (r, r.body[:200])
    assert r.json()["target"] == "/echo?named"
