"""The admin API (SPEC section 6) served by the helper: status.json, status, metrics,
drain/enable with raw and percent-encoded addresses, bearer token, errors."""

import ghtest
from ghtest import (admin_block, admin_port, admin_request, admin_status, backend_of, get,
                    make_config, request, upstream_servers)


def conf(a, b, token=""):
    return make_config(upstreams=[upstream_servers("app", [a.port, (b.port, "weight = 2;")])],
                       extra=admin_block(token))


def test_status_json_and_metrics(gh_factory, backends):
    a, b = backends("a"), backends("b")
    gh = gh_factory(conf(a, b))
    assert admin_port(gh) not in gh.ports
    for _ in range(6):
        assert get(gh.port, "/", headers=[("Connection", "close")]).status == 200
    r = admin_request(gh, "GET", "/status.json")
    assert r.status == 200 and r.header("Content-Type") == "application/json"
    up = r.json()["upstreams"][0]
    assert up["name"] == "app" and up["balance"] == "round_robin"
    servers = {s["address"]: s for s in up["servers"]}
    sa, sb = servers["127.0.0.1:%d" % a.port], servers["127.0.0.1:%d" % b.port]
    assert sa["state"] == "up" and sa["weight"] == 1 and sb["weight"] == 2
    assert sa["requests"] + sb["requests"] == 6
    assert sa["errors"] == 0 and sa["active"] == 0
    assert sa["avg_latency_ms"] >= 0
    m = admin_request(gh, "GET", "/metrics")
    assert m.status == 200 and m.header("Content-Type").startswith("text/plain")
    text = m.text
    assert 'gatehouse_upstream_up{upstream="app",server="127.0.0.1:%d"} 1' % a.port in text
    assert "# TYPE gatehouse_upstream_requests_total counter" in text
    assert "gatehouse_upstream_active_connections{" in text
    h = admin_request(gh, "GET", "/status")
    assert h.status == 200 and "text/html" in h.header("Content-Type")
    assert "status.json" in h.text
    assert admin_request(gh, "GET", "/status.json?x=1").status == 200


def test_drain_and_enable(gh_factory, backends):
    a, b = backends("a"), backends("b")
    gh = gh_factory(conf(a, b))
    addr = "127.0.0.1:%d" % a.port
    r = admin_request(gh, "POST", "/upstreams/app/servers/%s/drain" % addr)
    assert r.status == 200 and r.json() == {"upstream": "app", "server": addr, "drained": True}
    assert admin_status(gh)[("app", addr)]["state"] == "drained"
    seen = {backend_of(get(gh.port, "/", headers=[("Connection", "close")])) for _ in range(9)}
    assert seen == {"b"}
    # Percent-encoded address.
    enc = addr.replace(":", "%3A").replace(".", "%2E")
    r = admin_request(gh, "POST", "/upstreams/app/servers/%s/enable" % enc)
    assert r.status == 200 and r.json()["drained"] is False
    assert admin_status(gh)[("app", addr)]["state"] == "up"
    seen = {backend_of(get(gh.port, "/", headers=[("Connection", "close")])) for _ in range(9)}
    assert seen == {"a", "b"}
    gh.wait_log(r"admin: upstream \"app\" server %s drained" % addr)


def test_errors(gh_factory, backends):
    a, b = backends("a"), backends("b")
    gh = gh_factory(conf(a, b))
    addr = "127.0.0.1:%d" % a.port
    assert admin_request(gh, "GET", "/nope").status == 404
    assert admin_request(gh, "POST", "/status.json").status == 405
    r = admin_request(gh, "GET", "/upstreams/app/servers/%s/drain" % addr)
    assert r.status == 405 and r.header("Allow") == "POST"
    assert admin_request(gh, "POST", "/upstreams/nope/servers/%s/drain" % addr).status == 404
    assert admin_request(gh, "POST", "/upstreams/app/servers/127.0.0.1:1/drain").status == 404
    assert admin_request(gh, "POST", "/upstreams/app/servers/%s/reboot" % addr).status == 404
    assert admin_request(gh, "POST", "/upstreams/app/servers/%s%%zz/drain" % addr).status == 400


def test_token(gh_factory, backends):
    a, b = backends("a"), backends("b")
    gh = gh_factory(conf(a, b, token="s3cret"))
    addr = "127.0.0.1:%d" % a.port
    r = admin_request(gh, "GET", "/status.json")
    assert r.status == 401 and r.header("WWW-Authenticate") == "Bearer"
    assert admin_request(gh, "GET", "/status.json", token="wrong").status == 401
    assert admin_request(gh, "GET", "/metrics", token="s3cret").status == 200
    assert admin_request(gh, "POST", "/upstreams/app/servers/%s/drain" % addr).status == 401
    assert admin_status(gh, "s3cret")[("app", addr)]["state"] == "up"
    r = admin_request(gh, "POST", "/upstreams/app/servers/%s/drain" % addr, token="s3cret")
    assert r.status == 200
    # Only the admin port knows these paths; traffic ports route as usual.
    assert get(gh.port, "/status.json").status == 200
    assert backend_of(get(gh.port, "/status.json")) == "b"


def _raw_admin(gh, method, path, body):
    return ghtest.request(ghtest.admin_port(gh), method, path, body=body)


def test_admin_json_bodies_refused_with_a_reason(gh_factory):
    """Admin bodies are parsed as JSON (jansson), checked against each call's fields:
    400 with {"error": "400 Bad Request", "reason": ...} that names what is wrong."""
    gh = gh_factory(ghtest.make_config(workers=1))
    cases = [
        (b'{"cidr": "10.0.0.0/8"', "malformed JSON"),
        (b'["10.0.0.0/8"]', "object"),
        (b'{"cidr": 8}', 'field "cidr" must be'),
        (b'{"cidr": "10.0.0.0/8", "tll": "1m"}', 'unknown field "tll"'),
        (b'{"ttl": "1m"}', 'missing required field "cidr"'),
        # a value that spells a field name, an escaped quote, a nested object: the old
        # body search took the first "cidr" it saw
        (b'{"note": {"cidr": "10.0.0.0/8"}, "cidr": 5}', 'unknown field "note"'),
        (b'{"ttl": "cidr", "x": 1}', 'unknown field "x"'),
    ]
    for body, reason in cases:
        r = _raw_admin(gh, "POST", "/blacklist", body)
        assert r.status == 400, (body, r.status, r.text)
        doc = r.json()
        assert doc["error"] == "400 Bad Request", doc
        assert reason in doc.get("reason", ""), (body, doc)
    r = _raw_admin(gh, "POST", "/blacklist", b'{"ttl": "1m", "cidr": "10.9.0.0/16"}')
    assert r.status == 200, r.text
    lst = _raw_admin(gh, "GET", "/blacklist", None).json()
    assert [e["cidr"] for e in lst] == ["10.9.0.0/16"]
    # an escaped quote inside a value is just a character of it
    r = _raw_admin(gh, "POST", "/blacklist", b'{"cidr": "10.0.0.0/8\\" "}')
    assert r.status == 400 and "reason" in r.json()
