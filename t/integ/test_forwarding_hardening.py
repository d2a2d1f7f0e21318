"""What the proxy writes upstream cannot be bent by the client (bugs found by
t/fuzz/fuzz_fwd_headers.c; each test fails without its fix):

- a client's Forwarded or Via value that leaves a quoted string (or a Via comment) open
  would swallow the element gatehouse appends: upstream would read the client's forged
  element as the last one. Such values are dropped;
- strip_prefix on a prefix without a trailing slash ("/api" also matches "/apix") sent
  "GET x HTTP/1.1", a target that is not origin-form;
- a Content-Length of 19 digits was formatted into a 32-byte array with snprintf and
  the untruncated length copied: bytes of the stack went upstream."""

import time

import ghtest
from ghtest import HttpConn, make_config, route_upstream, upstream
from test_http1_chunk_guard import RawUpstream


def hdrs(doc, name):
    return [v for k, v in doc["headers"] if k.lower() == name.lower()]


def test_unclosed_quote_in_forwarded_is_dropped(gh_factory, backend):
    gh = gh_factory(make_config(workers=1, upstreams=[upstream("app", [backend.port])]))
    r = ghtest.get(gh.port, "/echo", headers=[("Forwarded", 'for="1.2.3.4'),
                                              ("Forwarded", "for=5.6.7.8"),
                                              ("Via", "1.1 proxy (unclosed")])
    doc = r.json()
    fwd = hdrs(doc, "Forwarded")
    assert fwd == ['for=5.6.7.8, for=127.0.0.1;host="localhost";proto=http'], fwd
    via = hdrs(doc, "Via")
    assert via == ["1.1 gatehouse"], via
    # well-formed values are kept in front of ours
    r = ghtest.get(gh.port, "/echo", headers=[("Forwarded", 'for="[2001:db8::1]";proto=https'),
                                              ("Via", "1.1 edge (cdn, v1)")])
    doc = r.json()
    assert hdrs(doc, "Forwarded")[0].startswith('for="[2001:db8::1]";proto=https, for=127.0.0.1')
    assert hdrs(doc, "Via") == ["1.1 edge (cdn, v1), 1.1 gatehouse"]


def test_strip_prefix_without_trailing_slash_keeps_origin_form(gh_factory, backend):
    routes = [route_upstream("/api", "app", "strip_prefix = true;")]
    gh = gh_factory(make_config(workers=1, upstreams=[upstream("app", [backend.port])],
                                routes=routes))
    for target, want in (("/apix", "/x"), ("/api/echo", "/echo"), ("/api", "/"),
                         ("/api(q?a=1", "/(q?a=1")):
        r = ghtest.get(gh.port, target)
        assert r.status in (200, 404), (target, r.status)
        got = backend.wait_request(lambda q, t=want: q["target"] == t,
                                   what="%s forwarded as %s" % (target, want))
        assert got["target"] == want


def test_long_content_length_forwarded_exactly(gh_factory):
    u = RawUpstream()
    try:
        gh = gh_factory(make_config(workers=1, upstreams=[upstream("app", [u.port])],
                                    extra='limits = { max_body_size = "0"; };'))
        c = HttpConn(gh.port, timeout=5)
        try:
            c.send(b"POST /x HTTP/1.1\r\nHost: localhost\r\n"
                   b"Content-Length: 6672888093818748928\r\n\r\nabc")
            ghtest.wait_for(lambda: any(b"\r\n\r\n" in d for d in u.received()),
                            ghtest.scaled(5), what="the head upstream")
        finally:
            c.close()
        head = u.received()[0].partition(b"\r\n\r\n")[0]
        lines = head.split(b"\r\n")
        assert b"Content-Length: 6672888093818748928" in lines, head
        assert all(32 <= b < 127 for ln in lines for b in ln), head
    finally:
        u.close()
