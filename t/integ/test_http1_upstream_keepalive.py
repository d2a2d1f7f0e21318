"""HTTP/1.1 engine acceptance: upstream keep-alive (SPEC section 4, upstreams: keepalive,
keepalive_requests). Upstream connections are told apart by the peer address the backend
logs (the proxy's local port)."""

import pytest

import ghtest
from ghtest import HttpConn, make_config, upstream


def run(gh_factory, backend, extra, n):
    gh = gh_factory(make_config(workers=1, upstreams=[upstream("app", [backend.port], extra)]))
    with HttpConn(gh.port) as c:
        for i in range(n):
            r = c.request("GET", "/echo?ka=%d" % i)
            assert r.status == 200 and r.json()["target"] == "/echo?ka=%d" % i
    reqs = ghtest.wait_for(lambda: (lambda q: q if len(q) >= n else None)(
        [q for q in backend.requests() if q["target"].startswith("/echo?ka=")]),
        what="%d requests at the backend" % n)
    peers = {}
    for q in reqs:
        peers.setdefault(q["peer"], []).append(q["conn_requests"])
    return peers


def test_upstream_connections_reused(gh_factory, backend):
    peers = run(gh_factory, backend, "", 100)
    assert len(peers) <= 2, "100 sequential requests used %d upstream connections" % len(peers)


def test_keepalive_zero_one_connection_per_request(gh_factory, backend):
    peers = run(gh_factory, backend, "keepalive = 0;", 20)
    assert len(peers) == 20, "keepalive = 0: 20 requests over %d upstream connections: %s" % (
        len(peers), {p: len(v) for p, v in peers.items()})


def test_keepalive_requests_limit(gh_factory, backend):
    peers = run(gh_factory, backend, "keepalive_requests = 10;", 30)
    sizes = sorted(len(v) for v in peers.values())
    # Exactly [10, 10, 10] when connections are reused perfectly; connections closed early
    # for other reasons are test_upstream_connections_reused's business, so this one only
    # checks that no connection carries more than 10 and that the limit is reached.
    assert max(sizes) == 10, "keepalive_requests = 10: requests per upstream connection %s" % sizes
