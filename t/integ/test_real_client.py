"""The real client address: the PROXY protocol (v1 and v2) on listeners with
proxy_protocol = true, and real_ip (trusted proxies and their header). The
address found is the one used by access lists, connection limits, rate
limits, balancing, X-Forwarded-For/Forwarded and the access log. The test
client is always 127.0.0.1 (or ::1); the addresses it claims are from the
documentation ranges."""

import json
import socket
import struct
import time

import pytest

import ghtest
from ghtest import make_config, route_return, route_upstream, upstream, wait_for

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src, dst=None, sport=40000, dport=80, proto=None):
    proto = proto or ("TCP6" if ":" in src else "TCP4")
    dst = dst or ("::1" if ":" in src else "127.0.0.1")
    return ("PROXY %s %s %s %d %d\r\n" % (proto, src, dst, sport, dport)).encode()


def v2(src=None, dst=None, sport=40000, dport=80, cmd=1, tlvs=b""):
    """A v2 header: PROXY from src (IPv4 or IPv6), or LOCAL with cmd=0."""
    if src is None:
        return SIG + bytes([0x20 | cmd, 0x00]) + struct.pack(">H", len(tlvs)) + tlvs
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    dst = dst or ("::1" if fam == socket.AF_INET6 else "127.0.0.1")
    addr = socket.inet_pton(fam, src) + socket.inet_pton(fam, dst) + struct.pack(">HH", sport, dport)
    body = addr + tlvs
    return SIG + bytes([0x20 | cmd, 0x21 if fam == socket.AF_INET6 else 0x11]) \
        + struct.pack(">H", len(body)) + body


def req(target="/echo", headers=(), host="x"):
    lines = ["GET %s HTTP/1.1" % target, "Host: %s" % host]
    lines += ["%s: %s" % h for h in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def pp_conf(backend=None, extra="", workers=1, also_plain=False, routes=None):
    ups = [upstream("app", [backend.port])] if backend is not None else []
    if routes is None:
        routes = [route_return("= /ping", 200, "pong\n")]
        if backend is not None:
            routes.append(route_upstream("/", "app"))
    listen = ("127.0.0.1:0", "127.0.0.1:0") if also_plain else ("127.0.0.1:0",)
    text = make_config(workers=workers, listen=listen, upstreams=ups, routes=routes, extra=extra)
    # The first listener is behind a "balancer"; the second (if any) is not.
    return text.replace('\n  { address = "127.0.0.1:0"; }',
                        '\n  { address = "127.0.0.1:0"; proxy_protocol = true; }', 1)


def pp_conn(port, header, host="127.0.0.1", timeout=5.0):
    """An HttpConn that has sent `header` first."""
    c = ghtest.HttpConn(port, host, timeout)
    c.send(header)
    return c


def pp_request(port, header, target="/echo", headers=(), host="127.0.0.1"):
    with pp_conn(port, header, host) as c:
        c.send(req(target, headers))
        return c.read_response()


def xff(doc):
    return ", ".join(v for k, v in doc["headers"] if k.lower() == "x-forwarded-for")


def fwd(doc):
    return ", ".join(v for k, v in doc["headers"] if k.lower() == "forwarded")


def closed_silently(port, data, shut=False, host="127.0.0.1", timeout=5.0):
    """Send data (then FIN with shut): True when the server closes without a byte."""
    s = socket.create_connection((host, port), timeout=ghtest.scaled(timeout))
    try:
        try:
            s.sendall(data)
            if shut:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            return True
        got = b""
        try:
            while True:
                b = s.recv(4096)
                if not b:
                    break
                got += b
        except ConnectionResetError:
            pass
        return got == b""
    finally:
        s.close()


def proxy_rejected(gh):
    """The count of malformed or late PROXY headers (admin /status.json)."""
    r = ghtest.request(ghtest.admin_port(gh), "GET", "/status.json")
    return r.json()["edge"]["proxy_protocol_rejected"]


def access_line(gh, needle):
    return wait_for(lambda: next((l for l in gh.access_lines() if needle in l), None),
                    what="access log line with %r" % needle)


# --------------------------------------------------------------------------
# PROXY protocol


@pytest.mark.parametrize("header,client", [
    (v1("192.0.2.10"), "192.0.2.10"),
    (v1("2001:db8::10"), "2001:db8::10"),
    (v2("192.0.2.11", sport=1234), "192.0.2.11"),
    (v2("2001:db8::11"), "2001:db8::11"),
    (v2("192.0.2.12", tlvs=b"\x04\x00\x05hello\x05\x00\x02id"), "192.0.2.12"),   # TLVs skipped
], ids=["v1-tcp4", "v1-tcp6", "v2-ipv4", "v2-ipv6", "v2-tlvs"])
def test_proxy_address_is_the_client(gh_factory, backend, header, client):
    gh = gh_factory(pp_conf(backend))
    r = pp_request(gh.port, header, "/echo?pp", headers=[("X-Forwarded-For", "198.51.100.1")])
    assert r.status == 200, r
    doc = r.json()
    # Appended to what the client sent (real_ip is off: the header is not trusted).
    assert xff(doc) == "198.51.100.1, " + client, doc["headers"]
    want = 'for="[%s]"' % client if ":" in client else "for=%s" % client
    assert want in fwd(doc), fwd(doc)
    line = access_line(gh, "/echo?pp")
    assert line.startswith(client + " "), line


@pytest.mark.parametrize("header", [v2(cmd=0), v2(cmd=0, tlvs=b"\x04\x00\x01x"),
                                    b"PROXY UNKNOWN\r\n",
                                    b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n",
                                    SIG + b"\x21\x00\x00\x00"],
                         ids=["v2-local", "v2-local-tlv", "v1-unknown", "v1-unknown-addrs",
                              "v2-unspec"])
def test_local_and_unknown_keep_the_peer(gh_factory, backend, header):
    gh = gh_factory(pp_conf(backend))
    r = pp_request(gh.port, header)
    assert r.status == 200, r
    assert xff(r.json()) == "127.0.0.1"


def test_header_split_over_writes_and_pipelined_in_one_packet(gh_factory, backend):
    gh = gh_factory(pp_conf(backend))
    for header, client in ((v1("192.0.2.20"), "192.0.2.20"), (v2("192.0.2.21"), "192.0.2.21")):
        # A byte at a time, then the rest in pieces.
        with ghtest.HttpConn(gh.port) as c:
            for i in range(len(header)):
                c.send(header[i:i + 1])
                if i < 20:
                    time.sleep(0.005)
            c.send(req("/echo?split"))
            r = c.read_response()
            assert r.status == 200 and xff(r.json()) == client, r
            # Keep-alive: the next request on the connection is the same client.
            c.send(req("/echo?again"))
            assert xff(c.read_response().json()) == client
        # Header and two pipelined requests in one write.
        with ghtest.HttpConn(gh.port) as c:
            c.send(header + req("/echo?one") + req("/echo?two"))
            r1 = c.read_response()
            r2 = c.read_response()
            assert r1.json()["target"] == "/echo?one" and r2.json()["target"] == "/echo?two"
            assert xff(r1.json()) == client and xff(r2.json()) == client
        # Header and the start of a request in one write, the rest later.
        with ghtest.HttpConn(gh.port) as c:
            c.send(header + b"GET /echo?late HTT")
            time.sleep(0.05)
            c.send(b"P/1.1\r\nHost: x\r\n\r\n")
            r = c.read_response()
            assert r.status == 200 and xff(r.json()) == client, r


BAD = {
    "not-proxy": req("/ping"),
    "v1-lowercase": b"proxy TCP4 192.0.2.1 127.0.0.1 1 2\r\n" + req("/ping"),
    "v1-bad-address": b"PROXY TCP4 192.0.2.256 127.0.0.1 1 2\r\n" + req("/ping"),
    "v1-family-mismatch": b"PROXY TCP4 2001:db8::1 127.0.0.1 1 2\r\n" + req("/ping"),
    "v1-bad-port": b"PROXY TCP4 192.0.2.1 127.0.0.1 65536 2\r\n" + req("/ping"),
    "v1-missing-field": b"PROXY TCP4 192.0.2.1 127.0.0.1 1\r\n" + req("/ping"),
    "v1-bare-lf": b"PROXY TCP4 192.0.2.1 127.0.0.1 1 2\n" + req("/ping"),
    "v1-too-long": b"PROXY UNKNOWN " + b"A" * 200 + b"\r\n" + req("/ping"),
    "v2-bad-signature": SIG[:11] + b"X" + v2("192.0.2.1")[12:] + req("/ping"),
    "v2-bad-version": SIG + b"\x11\x11\x00\x0c" + bytes(12) + req("/ping"),
    "v2-bad-command": SIG + b"\x22\x11\x00\x0c" + bytes(12) + req("/ping"),
    "v2-short-address": SIG + b"\x21\x11\x00\x08" + bytes(8) + req("/ping"),
    "v2-udp": SIG + b"\x21\x12\x00\x0c" + bytes(12) + req("/ping"),
    "v2-too-long": SIG + b"\x21\x11\xff\xff" + bytes(64),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_malformed_header_closes_without_a_byte(gh_factory, name):
    gh = gh_factory(pp_conf())
    assert closed_silently(gh.port, BAD[name]), name
    # The worker goes on serving good clients.
    assert pp_request(gh.port, v1("192.0.2.30"), "/ping").status == 200
    assert proxy_rejected(gh) == 1


@pytest.mark.parametrize("data", [v1("192.0.2.1")[:20], v2("192.0.2.1")[:14],
                                  v2("192.0.2.1")[:20], b""], ids=["v1", "v2-sig", "v2-addr", "none"])
def test_truncated_then_eof_closes_without_a_byte(gh_factory, data):
    gh = gh_factory(pp_conf())
    assert closed_silently(gh.port, data, shut=True)
    assert pp_request(gh.port, v2("192.0.2.31"), "/ping").status == 200
    # Counted when cut short; a balancer's TCP check (no byte) is not an error.
    assert proxy_rejected(gh) == (1 if data else 0)


def test_header_timeout(gh_factory):
    gh = gh_factory(pp_conf(extra='timeouts = { client_header = "1s"; };'))
    t0 = time.monotonic()
    assert closed_silently(gh.port, b"PROXY TCP4 192.0.2.1 ", timeout=8)
    assert time.monotonic() - t0 < ghtest.scaled(6)
    gh.wait_log(r"PROXY protocol header from 127\.0\.0\.1 timed out")
    assert proxy_rejected(gh) == 1
    metrics = ghtest.request(ghtest.admin_port(gh), "GET", "/metrics").text
    assert "gatehouse_proxy_protocol_rejected_total 1\n" in metrics


def test_plain_listener_takes_proxy_line_as_a_bad_request(gh_factory):
    gh = gh_factory(pp_conf(also_plain=True))
    r = ghtest.send_raw(gh.ports[1], v1("192.0.2.1") + req("/ping"))
    assert r.status == 400, r
    # And the proxy_protocol listener refuses plain HTTP.
    assert closed_silently(gh.ports[0], req("/ping"))
    assert ghtest.get(gh.ports[1], "/ping").status == 200


def test_reload_keeps_each_port_zero_listener_its_own(gh_factory):
    """Two listeners written alike ("127.0.0.1:0"), one with proxy_protocol: a reload
    must give each its own socket back, not both the first one's port."""
    gh = gh_factory(pp_conf(also_plain=True))
    pp_port, plain_port = gh.ports[0], gh.ports[1]
    old = set(gh.worker_pids())
    gh.reload()
    gh.wait_workers(1, timeout=ghtest.scaled(10), exclude=old)
    for _ in range(20):             # both sockets of a shared port would split these
        assert ghtest.get(plain_port, "/ping").status == 200
        assert pp_request(pp_port, v1("192.0.2.9"), "/ping").status == 200


def test_access_lists_judge_the_proxy_address(gh_factory):
    gh = gh_factory(pp_conf(extra='access = { deny = ["192.0.2.66/32", "2001:db8::66"]; };'))
    assert pp_request(gh.port, v1("192.0.2.66"), "/ping").status == 403
    assert pp_request(gh.port, v2("2001:db8::66"), "/ping").status == 403
    # The balancer's own address (127.0.0.1) is not what is judged.
    assert pp_request(gh.port, v1("192.0.2.67"), "/ping").status == 200
    assert pp_request(gh.port, v2(cmd=0), "/ping").status == 200


def test_deny_close_and_allow_list_on_the_proxy_address(gh_factory):
    gh = gh_factory(pp_conf(extra='access = { allow = ["192.0.2.0/24"]; deny = ["192.0.2.66"]; '
                                  'deny_action = "close"; };'))
    # Closed once the header is read, before any HTTP byte is answered.
    assert closed_silently(gh.port, v1("192.0.2.66") + req("/ping"))
    assert closed_silently(gh.port, v1("198.51.100.7") + req("/ping"))
    # LOCAL: the balancer itself (127.0.0.1) is not in allow either.
    assert closed_silently(gh.port, v2(cmd=0) + req("/ping"))
    assert pp_request(gh.port, v1("192.0.2.67"), "/ping").status == 200


def test_max_conns_per_ip_counts_the_proxy_address(gh_factory):
    gh = gh_factory(pp_conf(extra="limits = { max_conns_per_ip = 1; };"))
    held = pp_conn(gh.port, v1("192.0.2.40"))
    held.send(req("/ping"))
    assert held.read_response().status == 200
    try:
        # Same client through the same balancer: over the limit.
        assert closed_silently(gh.port, v1("192.0.2.40", sport=40001) + req("/ping"))
        # Other clients through the same balancer (all 127.0.0.1): fine, several at once.
        others = [pp_conn(gh.port, v1("192.0.2.%d" % (41 + i))) for i in range(3)]
        for c in others:
            c.send(req("/ping"))
            assert c.read_response().status == 200
        for c in others:
            c.close()
    finally:
        held.close()
    # Released at close (once the worker has seen the FIN).
    def released():
        try:
            return pp_request(gh.port, v1("192.0.2.40"), "/ping").status == 200
        except (OSError, ghtest.ConnectionClosed):
            return False
    wait_for(released, what="the count of 192.0.2.40 released")


@pytest.mark.skipif(not ghtest.has_ipv6_loopback(), reason="no IPv6 loopback")
def test_proxy_listener_on_ipv6(gh_factory, backend):
    text = make_config(workers=1, listen=("[::1]:0",), upstreams=[upstream("app", [backend.port])])
    gh = gh_factory(text.replace('{ address = "[::1]:0"; }',
                                 '{ address = "[::1]:0"; proxy_protocol = true; }'))
    host, port = gh.addrs[0]
    r = pp_request(port, v1("192.0.2.50"), host="::1")
    assert xff(r.json()) == "192.0.2.50"
    r = pp_request(port, v2(cmd=0), host="::1")
    assert xff(r.json()) == "::1"


# --------------------------------------------------------------------------
# real_ip

TRUST = 'real_ip = { from = ["10.0.0.0/8", "127.0.0.1/32"]; };'


def test_real_ip_from_trusted_peer(gh_factory, backend):
    gh = gh_factory(make_config(workers=1, upstreams=[upstream("app", [backend.port])],
                                extra=TRUST))
    r = ghtest.get(gh.port, "/echo?rip", headers=[("X-Forwarded-For", "1.2.3.4, 10.0.0.5")])
    doc = r.json()
    assert xff(doc) == "1.2.3.4, 10.0.0.5, 1.2.3.4", doc["headers"]
    assert "for=1.2.3.4" in fwd(doc)
    assert access_line(gh, "/echo?rip").startswith("1.2.3.4 ")
    # Forged entries on the left are never used; several lines are one list.
    r = ghtest.get(gh.port, "/echo", headers=[("X-Forwarded-For", "6.6.6.6"),
                                              ("X-Forwarded-For", "5.5.5.5, 10.9.9.9")])
    assert xff(r.json()).endswith(", 5.5.5.5")
    # Garbage stops the walk: the last good address, never the garbage.
    r = ghtest.get(gh.port, "/echo?junk", headers=[("X-Forwarded-For", "1.2.3.4, <junk>")])
    assert xff(r.json()) == "1.2.3.4, <junk>, 127.0.0.1"
    r = ghtest.get(gh.port, "/echo", headers=[("X-Forwarded-For", "2001:db8::5, junk, 10.1.1.1")])
    assert xff(r.json()).endswith(", 10.1.1.1")
    # No header: the peer.
    assert xff(ghtest.get(gh.port, "/echo").json()) == "127.0.0.1"


def test_real_ip_trusted_peer_not_limited_per_ip(gh_factory):
    # 127.0.0.1 is a trusted proxy: its connections are not counted per IP
    # (127.0.0.2 is an ordinary client and is).
    gh = gh_factory(make_config(workers=1, extra='real_ip = { from = ["127.0.0.1"]; };\n'
                                                 'limits = { max_conns_per_ip = 1; };'))
    conns = [ghtest.HttpConn(gh.port) for _ in range(3)]
    try:
        for c in conns:
            assert c.request("GET", "/ping", headers=[("X-Forwarded-For", "1.2.3.4")]).status == 200
    finally:
        for c in conns:
            c.close()
    c = ghtest.HttpConn(gh.port, connect=False)
    c.sock = socket.create_connection(("127.0.0.1", gh.port), source_address=("127.0.0.2", 0))
    with c:
        assert c.request("GET", "/ping").status == 200
        s = socket.create_connection(("127.0.0.1", gh.port), source_address=("127.0.0.2", 0))
        s.settimeout(5)
        s.sendall(req("/ping"))
        try:
            assert s.recv(100) == b""
        except ConnectionResetError:
            pass
        s.close()


def test_real_ip_json_log_and_other_header(gh_factory, backend):
    text = make_config(workers=1, upstreams=[upstream("app", [backend.port])],
                       access_format="json",
                       extra='real_ip = { from = ["127.0.0.1"]; header = "X-Real-IP"; };')
    gh = gh_factory(text)
    r = ghtest.get(gh.port, "/echo?xri", headers=[("X-Real-IP", "[2001:db8::9]:443"),
                                                   ("X-Forwarded-For", "1.2.3.4")])
    assert xff(r.json()) == "1.2.3.4, 2001:db8::9"
    assert 'for="[2001:db8::9]"' in fwd(r.json())
    assert json.loads(access_line(gh, "/echo?xri"))["remote_addr"] == "2001:db8::9"


def test_real_ip_untrusted_peer_header_ignored(gh_factory, backend):
    gh = gh_factory(make_config(workers=1, upstreams=[upstream("app", [backend.port])],
                                routes=[route_return("= /ping", 200, "pong\n"),
                                        route_upstream("/", "app")],
                                extra='real_ip = { from = ["10.0.0.0/8"]; };\n'
                                      'access = { deny = ["1.2.3.4"]; };'))
    r = ghtest.get(gh.port, "/echo?untrusted", headers=[("X-Forwarded-For", "1.2.3.4")])
    assert r.status == 200
    assert xff(r.json()) == "1.2.3.4, 127.0.0.1"
    assert access_line(gh, "/echo?untrusted").startswith("127.0.0.1 ")


def test_real_ip_access_deny(gh_factory):
    gh = gh_factory(make_config(workers=2, extra=TRUST + '\naccess = { deny = ["1.2.3.4"]; };'))
    with ghtest.HttpConn(gh.port) as c:
        assert c.request("GET", "/ping", headers=[("X-Forwarded-For", "5.6.7.8")]).status == 200
        assert c.request("GET", "/ping", headers=[("X-Forwarded-For", "10.0.0.1")]).status == 200
        r = c.request("GET", "/ping", headers=[("X-Forwarded-For", "1.2.3.4, 10.0.0.5")])
        assert r.status == 403 and r.wants_close(), r
    assert ghtest.get(gh.port, "/ping").status == 200


def test_real_ip_rate_limit_per_forwarded_client(gh_factory):
    routes = [route_return("= /ping", 200, "pong\n"),
              '{ path = "/rl"; rate_limit = "lim"; return = { status = 200; body = "ok"; }; }']
    extra = (TRUST + '\nrate_limits = ( { name = "lim"; key = "$remote_addr"; rate = 0.01; '
             'burst = 0; } );')
    gh = gh_factory(make_config(workers=2, routes=routes, extra=extra))
    # One keep-alive connection from a CDN carrying two clients.
    with ghtest.HttpConn(gh.port) as c:
        a = [("X-Forwarded-For", "198.51.100.1")]
        b = [("X-Forwarded-For", "198.51.100.2, 10.0.0.9")]
        assert c.request("GET", "/rl", headers=a).status == 200
        assert c.request("GET", "/rl", headers=b).status == 200
        assert c.request("GET", "/rl", headers=a).status == 429
        assert c.request("GET", "/rl", headers=b).status == 429
        assert c.request("GET", "/rl", headers=[("X-Forwarded-For", "198.51.100.3")]).status == 200


def test_real_ip_auto_ban_bans_the_forwarded_client(gh_factory):
    routes = [route_return("= /ping", 200, "pong\n"),
              '{ path = "/rl"; rate_limit = "lim"; return = { status = 200; body = "ok"; }; }']
    extra = (TRUST + '\nrate_limits = ( { name = "lim"; key = "$remote_addr"; rate = 0.01; '
             'burst = 0; } );\naccess = { auto_ban = { violations = 2; window = "60s"; '
             'duration = "10m"; }; };')
    gh = gh_factory(make_config(workers=1, routes=routes, extra=extra))
    bad = [("X-Forwarded-For", "198.51.100.66")]
    statuses = []
    for _ in range(4):
        statuses.append(ghtest.get(gh.port, "/rl", headers=bad).status)
    assert statuses[0] == 200 and 403 in statuses, statuses
    assert ghtest.get(gh.port, "/ping", headers=bad).status == 403
    # The CDN's own address is not banned.
    assert ghtest.get(gh.port, "/ping").status == 200
    bl = ghtest.request(ghtest.admin_port(gh), "GET", "/blacklist").json()
    assert [e["cidr"] for e in bl] == ["198.51.100.66/32"], bl


def test_real_ip_never_auto_bans_the_trusted_proxy(gh_factory):
    """A request with no forwarded client is the proxy's own: over the limit it gets
    429s, but a ban would refuse every client behind it."""
    routes = [route_return("= /ping", 200, "pong\n"),
              '{ path = "/rl"; rate_limit = "lim"; return = { status = 200; body = "ok"; }; }']
    extra = (TRUST + '\nrate_limits = ( { name = "lim"; key = "$remote_addr"; rate = 0.01; '
             'burst = 0; } );\naccess = { auto_ban = { violations = 1; window = "60s"; '
             'duration = "10m"; }; };')
    gh = gh_factory(make_config(workers=1, routes=routes, extra=extra))
    statuses = [ghtest.get(gh.port, "/rl").status for _ in range(4)]
    assert statuses == [200, 429, 429, 429], statuses
    assert ghtest.get(gh.port, "/ping").status == 200
    assert ghtest.request(ghtest.admin_port(gh), "GET", "/blacklist").json() == []


def test_real_ip_denied_client_with_close_action_gets_403(gh_factory):
    """deny_action = "close" refuses a denied peer at accept; a denied client behind a
    trusted proxy gets a 403 instead, so the proxy's shared connection survives."""
    gh = gh_factory(make_config(workers=1, extra=TRUST + '\naccess = { deny = ["1.2.3.4"]; '
                                'deny_action = "close"; };'))
    with ghtest.HttpConn(gh.port) as c:
        r = c.request("GET", "/ping", headers=[("X-Forwarded-For", "1.2.3.4")])
        assert r.status == 403, r


def test_v2_ssl_tlv_means_https(gh_factory, backend):
    """A balancer that terminated TLS says so in PP2_TYPE_SSL: X-Forwarded-Proto and
    Forwarded say https, and redirect_https does not loop."""
    routes = [route_upstream("/", "app")]
    text = pp_conf(backend, routes=routes).replace(
        "    names = [", "    redirect_https = true;\n    names = [", 1)
    gh = gh_factory(text)
    ssl = b"\x20\x00\x05\x01\x00\x00\x00\x00"       # PP2_TYPE_SSL, client: PP2_CLIENT_SSL
    r = pp_request(gh.port, v2("192.0.2.30", tlvs=b"\x04\x00\x01x" + ssl))
    assert r.status == 200, r
    doc = r.json()
    assert [v for k, v in doc["headers"] if k.lower() == "x-forwarded-proto"] == ["https"]
    assert "proto=https" in fwd(doc), fwd(doc)
    # Without the TLV (or with the bit clear) the client spoke plain HTTP: redirected.
    for header in (v2("192.0.2.31"), v2("192.0.2.32", tlvs=b"\x20\x00\x05\x00\x00\x00\x00\x00")):
        r = pp_request(gh.port, header, "/a?b", host="127.0.0.1")
        assert r.status == 301 and r.header("Location") == "https://x/a?b", r


def test_v4_mapped_address_is_written_dotted(gh_factory, backend):
    """::ffff:192.0.2.40 and 192.0.2.40 are one client, written one way."""
    gh = gh_factory(pp_conf(backend))
    r = pp_request(gh.port, v1("::ffff:192.0.2.40"), "/echo?mapped")
    assert r.status == 200, r
    assert xff(r.json()) == "192.0.2.40"
    assert access_line(gh, "/echo?mapped").startswith("192.0.2.40 ")


def test_proxy_then_real_ip(gh_factory, backend):
    # A CDN (10.1.1.1) reaches us through an L4 balancer (127.0.0.1) speaking PROXY;
    # both are trusted.
    gh = gh_factory(pp_conf(backend, extra='real_ip = { from = ["10.0.0.0/8", "127.0.0.1"]; };'))
    r = pp_request(gh.port, v2("10.1.1.1"), "/echo?both",
                   headers=[("X-Forwarded-For", "203.0.113.5")])
    assert xff(r.json()) == "203.0.113.5, 203.0.113.5"
    assert access_line(gh, "/echo?both").startswith("203.0.113.5 ")
    # LOCAL keeps the balancer's own address, trusted: its header is believed.
    r = pp_request(gh.port, v2(cmd=0), headers=[("X-Forwarded-For", "203.0.113.6")])
    assert xff(r.json()) == "203.0.113.6, 203.0.113.6"
    # An untrusted client behind the balancer cannot forge its address with a header.
    r = pp_request(gh.port, v1("192.0.2.8"), headers=[("X-Forwarded-For", "203.0.113.5")])
    assert xff(r.json()) == "203.0.113.5, 192.0.2.8"


def test_proxy_header_from_an_untrusted_sender_names_no_one(gh_factory, backend):
    """With real_ip.from set, only a trusted peer's PROXY header names the client (nginx's
    set_real_ip_from): a client that reaches the listener directly cannot forge one."""
    gh = gh_factory(pp_conf(backend, extra='real_ip = { from = ["10.0.0.0/8"]; };'))
    ssl = b"\x20\x00\x05\x01\x00\x00\x00\x00"
    r = pp_request(gh.port, v2("10.1.1.1", tlvs=ssl), "/echo?forged",
                   headers=[("X-Forwarded-For", "203.0.113.5")])
    assert r.status == 200, r
    doc = r.json()
    assert xff(doc) == "203.0.113.5, 127.0.0.1"
    assert [v for k, v in doc["headers"] if k.lower() == "x-forwarded-proto"] == ["http"]
    assert access_line(gh, "/echo?forged").startswith("127.0.0.1 ")


def test_hashing_uses_the_real_client(gh_factory, backends):
    a, b = backends("a"), backends("b")
    ups = [upstream("h", [a.port, b.port], 'balance = "ip_hash";'),
           upstream("sa", [a.port]), upstream("sb", [b.port])]
    routes = [route_upstream("/ip/", "h"),
              '{ path = "/split/"; split = ( { upstream = "sa"; weight = 1; }, '
              '{ upstream = "sb"; weight = 1; } ); split_by = "$remote_addr"; }']
    gh = gh_factory(make_config(workers=2, upstreams=ups, routes=routes, extra=TRUST))
    seen = {"/ip/": set(), "/split/": set()}
    for i in range(16):
        hdr = [("X-Forwarded-For", "198.51.100.%d" % (i + 1))]
        for path in seen:
            names = {ghtest.get(gh.port, path + "x", headers=hdr).header("X-Backend")
                     for _ in range(3)}
            assert len(names) == 1, (path, i, names)    # stable per client
            seen[path] |= names
    # Different clients behind the one peer spread over both.
    assert seen["/ip/"] == {"a", "b"} and seen["/split/"] == {"a", "b"}, seen
