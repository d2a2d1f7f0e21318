"""HTTP/1.1 engine acceptance: header rewriting (SPEC section 5, and the request_headers /
response_headers settings of section 4)."""

import re

import pytest

import ghtest
from ghtest import HttpConn, get, make_config, request, route_upstream, upstream

RID_RE = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")


@pytest.fixture
def gh(gh_factory, backend):
    return gh_factory(make_config(workers=1, upstreams=[upstream("app", [backend.port])]))


def hdrs(doc, name):
    return [v for k, v in doc["headers"] if k.lower() == name.lower()]


def joined(doc, name):
    return ", ".join(hdrs(doc, name))


def test_x_forwarded_for_appended(gh, backend):
    doc = get(gh.port, "/echo", headers=[("X-Forwarded-For", "192.0.2.1, 10.1.2.3")]).json()
    assert re.fullmatch(r"192\.0\.2\.1,\s*10\.1\.2\.3,\s*127\.0\.0\.1", joined(doc, "X-Forwarded-For")), \
        hdrs(doc, "X-Forwarded-For")


def test_forwarded_appended_ipv4(gh, backend):
    doc = get(gh.port, "/echo", headers=[("Forwarded", "for=192.0.2.60;proto=https")]).json()
    fwd = joined(doc, "Forwarded")
    assert re.fullmatch(r'for=192\.0\.2\.60;proto=https,\s*.*for="?127\.0\.0\.1"?.*', fwd), fwd


@pytest.mark.skipif(not ghtest.has_ipv6_loopback(), reason="no IPv6 loopback")
def test_forwarded_ipv6_quoted(gh_factory, backend):
    gh = gh_factory(make_config(workers=1, listen=("[::1]:0",),
                                upstreams=[upstream("app", [backend.port])]))
    host, port = gh.addrs[0]
    assert host == "::1", gh.addrs
    r = request(port, "GET", "/echo", addr="::1", headers=[("Forwarded", "for=192.0.2.60")])
    assert r.status == 200
    doc = r.json()
    fwd = joined(doc, "Forwarded")
    assert re.fullmatch(r'for=192\.0\.2\.60,\s*(?:[^,]*;)?for="\[::1\]"(?:;[^,]*)?', fwd), fwd
    assert hdrs(doc, "X-Forwarded-For")[-1].split(",")[-1].strip() == "::1", hdrs(doc, "X-Forwarded-For")


def test_x_forwarded_proto_set_not_trusted(gh, backend):
    doc = get(gh.port, "/echo", headers=[("X-Forwarded-Proto", "https")]).json()
    assert hdrs(doc, "X-Forwarded-Proto") == ["http"], hdrs(doc, "X-Forwarded-Proto")


def test_x_forwarded_host(gh, backend):
    doc = get(gh.port, "/echo", host="site.example").json()
    assert hdrs(doc, "X-Forwarded-Host") == ["site.example"], hdrs(doc, "X-Forwarded-Host")


def test_via_request_and_response(gh, backend):
    r = get(gh.port, "/echo", headers=[("Via", "1.0 fred")])
    via = joined(r.json(), "Via")
    assert re.fullmatch(r"1\.0 fred,\s*1\.1 gatehouse", via), via
    rv = r.headers_all("Via")
    assert rv and rv[-1].split(",")[-1].strip() == "1.1 gatehouse", r.headers


def test_via_names_http10_for_10_client(gh, backend):
    with HttpConn(gh.port) as c:
        c.send(b"GET /echo HTTP/1.0\r\nHost: localhost\r\n\r\n")
        r = c.read_response()
    assert r.status == 200
    via = hdrs(r.json(), "Via")
    assert via and via[-1].split(",")[-1].strip() == "1.0 gatehouse", via


def test_request_id_sane_passed_and_returned(gh, backend):
    r = get(gh.port, "/echo", headers=[("X-Request-ID", "abc-123_x.y:z@w")])
    assert hdrs(r.json(), "X-Request-ID") == ["abc-123_x.y:z@w"]
    assert r.headers_all("X-Request-ID") == ["abc-123_x.y:z@w"]


@pytest.mark.parametrize("bad", ["bad id with spaces", "x" * 200], ids=["spaces", "200_chars"])
def test_request_id_insane_replaced_returned_logged(gh, backend, bad):
    r = get(gh.port, "/echo?rid", headers=[("X-Request-ID", bad)])
    got = hdrs(r.json(), "X-Request-ID")
    assert len(got) == 1 and got[0] != bad and RID_RE.match(got[0]), got
    assert r.headers_all("X-Request-ID") == got, r.headers
    line = ghtest.wait_for(lambda: [l for l in gh.access_lines() if "/echo?rid" in l],
                           what="access log line")[-1]
    assert line.rstrip().rstrip('"').endswith(got[0]), line
    assert bad not in line


def test_hop_by_hop_request_headers_removed(gh, backend):
    doc = get(gh.port, "/echo", headers=[("Connection", "X-Foo, keep-alive"), ("X-Foo", "1"),
                                         ("Keep-Alive", "timeout=5"), ("TE", "trailers"),
                                         ("Proxy-Connection", "keep-alive"),
                                         ("Upgrade", "h2c"), ("X-Kept", "yes")]).json()
    names = sorted({k.lower() for k, _ in doc["headers"]})
    for h in ("x-foo", "keep-alive", "te", "proxy-connection", "upgrade"):
        assert h not in names, "%s forwarded: %s" % (h, doc["headers"])
    assert all(v.lower() != "x-foo" for v in hdrs(doc, "Connection")), hdrs(doc, "Connection")
    assert hdrs(doc, "X-Kept") == ["yes"]


def test_hop_by_hop_response_headers_removed(gh, backend):
    r = get(gh.port, "/hop-response")
    assert r.status == 200 and r.body == b"hop\n"
    names = {k.lower() for k, _ in r.headers}
    for h in ("x-secret", "keep-alive", "proxy-connection", "upgrade"):
        assert h not in names, "%s relayed: %s" % (h, r.headers)
    assert "x-secret" not in (r.header("Connection") or "").lower()
    assert r.header("X-Kept") == "yes"


def test_server_and_powered_by_hidden(gh, backend):
    r = get(gh.port, "/echo")
    assert r.headers_all("Server") == ["gatehouse"], r.headers
    assert r.header("X-Powered-By") is None, r.headers


HEADERS_SRV = ('request_headers = { set = ( ["X-Env", "prod"] ); remove = ["X-Drop"]; };\n'
               '    response_headers = { set = ( ["X-Backend", "proxy"], ["X-Added", "1"] ); '
               'remove = ["Content-Type"]; };')


def test_server_level_request_and_response_headers(gh_factory, backend):
    gh = gh_factory(make_config(workers=1, upstreams=[upstream("app", [backend.port])],
                                server_extra=HEADERS_SRV))
    r = get(gh.port, "/echo", headers=[("X-Env", "dev"), ("X-Drop", "x"), ("X-Keep", "k")])
    assert r.status == 200, r
    doc = r.json()
    assert hdrs(doc, "X-Env") == ["prod"], doc["headers"]
    assert hdrs(doc, "X-Drop") == [], doc["headers"]
    assert hdrs(doc, "X-Keep") == ["k"]
    assert r.headers_all("X-Backend") == ["proxy"], r.headers
    assert r.headers_all("X-Added") == ["1"], r.headers
    assert r.header("Content-Type") is None, r.headers


def test_route_level_request_and_response_headers(gh_factory, backend):
    route_extra = ('request_headers = { set = ( ["X-Route", "r1"] ); remove = ["X-Drop"]; }; '
                   'response_headers = { set = ( ["X-Route-Resp", "yes"] ); remove = ["X-Backend"]; };')
    gh = gh_factory(make_config(
        workers=1, upstreams=[upstream("app", [backend.port])],
        routes=[route_upstream("/r/", "app", route_extra), route_upstream("/", "app")]))
    r = get(gh.port, "/r/echo", headers=[("X-Route", "client"), ("X-Drop", "x")])
    assert r.status == 200
    got = backend.wait_request(lambda q: q["target"] == "/r/echo")
    assert hdrs(got, "X-Route") == ["r1"], got["headers"]
    assert hdrs(got, "X-Drop") == [], got["headers"]
    assert r.headers_all("X-Route-Resp") == ["yes"], r.headers
    assert r.header("X-Backend") is None, r.headers
    # another route is untouched
    r = get(gh.port, "/echo", headers=[("X-Drop", "x")])
    assert hdrs(r.json(), "X-Drop") == ["x"] and hdrs(r.json(), "X-Route") == []
    assert r.header("X-Backend") == "a" and r.header("X-Route-Resp") is None
