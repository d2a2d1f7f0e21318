"""The admin API (SPEC section 6) served by the helper: status.json, status, metrics,
drain/enable with raw and percent-encoded addresses, bearer token, errors."""

import time

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


def blacklist_conf(token=""):
    return make_config(workers=1, extra=admin_block(token))


def post(gh, path, body):
    return request(admin_port(gh), "POST", path, body=body)


def bad_request(r, reason):
    """A 400 whose JSON body names the reason (the whole reason, or its start when it
    ends in "...")."""
    assert r.status == 400, (r.status, r.text)
    assert r.header("Content-Type") == "application/json"
    j = r.json()
    assert set(j) == {"error", "reason"} and j["error"] == "400 Bad Request", j
    if reason.endswith("..."):
        assert j["reason"].startswith(reason[:-3]), j
    else:
        assert j["reason"] == reason, j


def test_json_body_errors_have_reasons(gh_factory):
    """POST /blacklist bodies are parsed as JSON (jansson) and checked field by field;
    each refusal says why, and none of them bans anything."""
    gh = gh_factory(blacklist_conf())
    cases = [
        ('{"cidr":', "malformed JSON at line 1, column 8: ..."),
        ('{"cidr": "10.0.0.0/8"} trailing', "malformed JSON at line 1, column ..."),
        ('{"cidr": "10.0.0.0/8", "cidr": "::/0"}', "malformed JSON at line 1, column ..."),
        ('["10.0.0.0/8"]', "the body must be a JSON object, not an array"),
        ('{"cidr": 10}', 'field "cidr" must be a string, not an integer'),
        ('{"cidr": "10.0.0.0/8", "ttl": ["10m"]}',
         'field "ttl" must be a string or a number, not an array'),
        # A typo was silently ignored (a ban for the default hour) before.
        ('{"cidr": "10.0.0.0/8", "tll": "10m"}', 'unknown field "tll"'),
        ('{"ttl": "10m"}', 'missing required field "cidr"'),
        ("", 'missing required field "cidr"'),
        # The old search found the nested "cidr" and banned 10.9.0.0/16.
        ('{"x": {"cidr": "10.9.0.0/16"}, "cidr": "10.0.0.0/8"}', 'unknown field "x"'),
        ('{"cidr": "10.0.0.1/8"}', 'invalid cidr "10.0.0.1/8": ...'),
        ('{"cidr": "10.0.0.0/8", "ttl": "soon"}', "invalid ttl: ..."),
    ]
    for body, reason in cases:
        bad_request(post(gh, "/blacklist", body), reason)
    assert request(admin_port(gh), "GET", "/blacklist").json() == []


def test_json_bodies_are_decoded(gh_factory):
    """Escapes, a value that spells a field name, and a number of seconds for ttl."""
    gh = gh_factory(blacklist_conf())
    r = post(gh, "/blacklist", r'{"ttl": "10m", "cidr": "10.0.0.0\/8"}')
    assert r.status == 200 and r.json() == {"cidr": "10.0.0.0/8", "ttl_ms": 600000}, r.text
    r = post(gh, "/blacklist", r'{"\u0063idr": "\u0031\u0030.1.0.0/16", "ttl": 90}')
    assert r.status == 200 and r.json() == {"cidr": "10.1.0.0/16", "ttl_ms": 90000}, r.text
    # "cidr" as the value of ttl, before the real field: the old search stopped at it.
    bad_request(post(gh, "/blacklist", '{"ttl": "cidr", "cidr": "10.2.0.0/16"}'),
                "invalid ttl: ...")
    r = post(gh, "/blacklist", '{"ttl": "0", "cidr": "10.2.0.0/16"}')
    assert r.status == 200 and r.json()["ttl_ms"] == -1
    lst = request(admin_port(gh), "GET", "/blacklist").json()
    assert [e["cidr"] for e in lst] == ["10.0.0.0/8", "10.1.0.0/16", "10.2.0.0/16"]
    assert lst[2]["expires_in"] is None


def test_calls_without_fields_take_no_body(gh_factory, backends):
    """drain/enable and DELETE /blacklist/CIDR take an empty body or {}, and say so."""
    a, b = backends("a"), backends("b")
    gh = gh_factory(conf(a, b))
    addr = "127.0.0.1:%d" % a.port
    path = "/upstreams/app/servers/%s/drain" % addr
    bad_request(post(gh, path, '{"now": true}'), 'unknown field "now"')
    bad_request(post(gh, path, "drain"), "malformed JSON at line 1, column ...")
    assert admin_status(gh)[("app", addr)]["state"] == "up"
    assert post(gh, path, "{}").status == 200
    assert admin_status(gh)[("app", addr)]["state"] == "drained"
    assert post(gh, "/blacklist", '{"cidr": "10.0.0.0/8"}').status == 200
    r = request(admin_port(gh), "DELETE", "/blacklist/10.0.0.0/8", body='{"cidr": "10.0.0.0/8"}')
    bad_request(r, 'unknown field "cidr"')
    assert request(admin_port(gh), "DELETE", "/blacklist/10.0.0.0/8").status == 200


def test_error_bodies(gh_factory, backends):
    """Every error is {"error": "CODE PHRASE"}, with a reason where there is one."""
    a, b = backends("a"), backends("b")
    gh = gh_factory(conf(a, b, token="s3cret"))
    r = admin_request(gh, "GET", "/nope", token="s3cret")
    assert r.status == 404 and r.json() == {"error": "404 Not Found"}
    r = admin_request(gh, "POST", "/upstreams/nope/servers/127.0.0.1:1/drain", token="s3cret")
    assert r.json() == {"error": "404 Not Found", "reason": 'no upstream "nope"'}
    r = admin_request(gh, "DELETE", "/blacklist/10.0.0.0/8", token="s3cret")
    assert r.json() == {"error": "404 Not Found", "reason": "10.0.0.0/8 is not in the blacklist"}
    r = admin_request(gh, "PUT", "/blacklist", token="s3cret")
    assert r.status == 405 and r.json() == {"error": "405 Method Not Allowed"}
    r = admin_request(gh, "GET", "/status.json")
    assert r.status == 401 and r.json()["error"] == "401 Unauthorized" and "Bearer" in r.json()["reason"]
    # Announced, not sent: the answer comes at the head, so nothing is left unread.
    big = ghtest.send_raw(admin_port(gh), b"POST /blacklist HTTP/1.1\r\nHost: a\r\n"
                          b"Content-Length: 9000\r\n\r\n", method="POST")
    assert big.status == 413 and big.json() == {
        "error": "413 Content Too Large", "reason": "the request (head and body) is over 8 KB"}


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


def test_status_rates_and_latency(gh_factory, backends):
    """status.json: requests_per_s, errors_per_s and error_rate over the last 5 s (from
    the helper's samples, so they fall back once traffic stops), p50/p99 and buckets."""
    a, b = backends("a"), backends("b")
    gh = gh_factory(conf(a, b))
    addr = "127.0.0.1:%d" % a.port
    for _ in range(6):
        for path in ("/", "/status/503"):
            get(gh.port, path, headers=[("Connection", "close")])
        time.sleep(0.1)
    s = admin_status(gh)[("app", addr)]
    assert s["requests"] >= 1 and s["errors"] >= 1, s
    assert s["requests_per_s"] > 0 and s["errors_per_s"] > 0, s
    assert 0 < s["error_rate"] <= 1, s
    assert abs(s["error_rate"] - s["errors_per_s"] / s["requests_per_s"]) < 0.01, s
    assert s["p50_ms"] is not None and s["p50_ms"] <= s["p99_ms"], s
    assert sum(s["latency_buckets"]) == s["requests"], s
    ghtest.wait_for(lambda: admin_status(gh)[("app", addr)]["requests_per_s"] == 0, 8,
                    interval=0.25, what="the rate to fall to 0 after the traffic")
    s = admin_status(gh)[("app", addr)]
    assert s["errors_per_s"] == 0 and s["error_rate"] is None, s
