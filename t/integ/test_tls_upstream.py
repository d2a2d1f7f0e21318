"""TLS to upstreams (SPEC section 4, upstreams: tls = { enable; verify; sni; ca; }).

The backend is t/backends/backend.py serving HTTPS with a certificate from t/lib/pki.py
(--tls-cert/--tls-key); it logs, with each request, the SNI it was sent, whether the
session was resumed and the TLS version, and logs a failed handshake as a line with
"tls_error". Upstream connections are told apart by the peer address the backend logs
(the proxy's local port)."""

import base64
import os
import socket
import time

import pytest

import ghtest
from ghtest import HttpConn, make_config, upstream
from pki import Pki

NAME = "backend.test"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    p = Pki(os.path.join(d, "ca"))
    p.good = p.server(NAME, "other.test", ips=["127.0.0.1"])
    p.dns_only = p.server(NAME)                      # no IP SAN
    other = Pki(os.path.join(d, "other"), name="Another Root CA")
    p.foreign = other.server(NAME, ips=["127.0.0.1"])   # the right names, the wrong CA
    p.empty_pem = os.path.join(d, "empty.pem")
    with open(p.empty_pem, "w") as f:
        f.write("not a certificate\n")
    return p


def tls_backend(backends, cert, name="t", tls_max="1.3"):
    crt, key = cert
    return backends(name, args=["--tls-cert", crt, "--tls-key", key, "--tls-max", tls_max])


def tls_block(pki, enable=True, verify=True, sni=NAME, ca=None):
    ca = pki.ca_cert if ca is None else ca
    return 'tls = { enable = %s; verify = %s; sni = "%s"; ca = "%s"; };' % (
        "true" if enable else "false", "true" if verify else "false", sni, ca)


def requests_to(backend, prefix, n):
    return ghtest.wait_for(lambda: (lambda q: q if len(q) >= n else None)(
        [q for q in backend.requests() if q.get("target", "").startswith(prefix)]),
        what="%d requests %s* at the backend" % (n, prefix))


def start(gh_factory, backend, extra, workers=1):
    return gh_factory(make_config(workers=workers,
                                  upstreams=[upstream("app", [backend.port], extra)]))


def test_proxied_over_tls_verified_with_sni(gh_factory, backends, pki):
    b = tls_backend(backends, pki.good)
    gh = start(gh_factory, b, tls_block(pki))
    with HttpConn(gh.port) as c:
        r = c.request("GET", "/bytes/100000")
        assert r.status == 200, r
        assert r.body == ghtest.pattern(100000)
        r = c.request("POST", "/echo", body=b"x" * 70000)
        assert r.status == 200 and r.json()["body_len"] == 70000
    q = requests_to(b, "/bytes/", 1)[0]
    assert q["tls"]["sni"] == NAME
    assert q["tls"]["version"] in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("target", ["/bytes/%d" % (16 << 20), "/chunked/%d" % (16 << 20)])
def test_big_response_over_tls_does_not_stall(gh_factory, backends, pki, target):
    # Many records per read: a read that did not drain the socket must be followed by
    # another without a new edge (upstream_read 5s would cut a stalled transfer).
    b = tls_backend(backends, pki.good)
    gh = gh_factory(make_config(workers=1, upstreams=[upstream("app", [b.port], tls_block(pki))],
                                extra='timeouts = { upstream_read = "5s"; };'))
    n = 16 << 20
    with HttpConn(gh.port, timeout=30) as c:
        for _ in range(2):
            r = c.request("GET", target)
            assert r.status == 200 and len(r.body) == n, r
            assert ghtest.sha256(r.body) == ghtest.sha256(ghtest.pattern(n))


def test_big_upload_over_tls(gh_factory, backends, pki):
    b = tls_backend(backends, pki.good)
    gh = gh_factory(make_config(workers=1, upstreams=[upstream("app", [b.port], tls_block(pki))],
                                extra='limits = { max_body_size = "64M"; };'))
    body = os.urandom(1 << 20) * 12
    with HttpConn(gh.port, timeout=30) as c:
        for chunked in (False, True):
            r = c.request("POST", "/echo", body=body, chunked=chunked)
            assert r.status == 200, r
            doc = r.json()
            assert doc["body_len"] == len(body) and doc["body_sha256"] == ghtest.sha256(body)


def test_ip_literal_checks_ip_san_and_sends_no_sni(gh_factory, backends, pki):
    b = tls_backend(backends, pki.good)
    gh = start(gh_factory, b, tls_block(pki, sni=""))
    r = ghtest.get(gh.port, "/echo")
    assert r.status == 200, r
    assert requests_to(b, "/echo", 1)[0]["tls"]["sni"] is None
    # A certificate without 127.0.0.1 in its SAN fails the check.
    b2 = tls_backend(backends, pki.dns_only, name="dnsonly")
    gh2 = start(gh_factory, b2, tls_block(pki, sni=""))
    r = ghtest.get(gh2.port, "/echo")
    assert r.status == 502, r
    gh2.wait_log(r"TLS handshake with upstream 127\.0\.0\.1:\d+ failed: certificate verify "
                 r"failed: IP address mismatch")


@pytest.mark.parametrize("case", ["other_ca", "wrong_name"])
def test_bad_certificate_is_502_with_reason(gh_factory, backends, pki, case):
    if case == "other_ca":
        b = tls_backend(backends, pki.foreign)
        extra, reason = tls_block(pki), "unable to get local issuer certificate"
    else:
        b = tls_backend(backends, pki.good)
        extra, reason = tls_block(pki, sni="wrong.test"), "hostname mismatch"
    gh = start(gh_factory, b, extra)
    r = ghtest.get(gh.port, "/echo")
    assert r.status == 502, r
    gh.wait_log(r"\[error\] .*TLS handshake with upstream 127\.0\.0\.1:%d failed: certificate "
                r"verify failed: %s" % (b.port, reason))
    assert not [q for q in b.requests() if "method" in q], "the request reached the backend"


def test_verify_false_accepts_a_bad_certificate(gh_factory, backends, pki):
    b = tls_backend(backends, pki.foreign)
    gh = start(gh_factory, b, tls_block(pki, verify=False, sni="wrong.test"))
    r = ghtest.get(gh.port, "/echo")
    assert r.status == 200, r
    assert requests_to(b, "/echo", 1)[0]["tls"]["sni"] == "wrong.test"
    assert "tls.verify = false" in gh.stderr() + gh.error_log()


def test_verification_failure_counts_for_passive_health_and_retries(gh_factory, backends, pki):
    bad = tls_backend(backends, pki.foreign, name="bad")
    good = tls_backend(backends, pki.good, name="good")
    gh = gh_factory(make_config(workers=1, upstreams=[upstream(
        "app", [bad.port, good.port],
        "retries = 1; passive = { max_fails = 1; fail_timeout = \"60s\"; }; "
        + tls_block(pki))]))
    for i in range(4):
        r = ghtest.get(gh.port, "/echo?n=%d" % i)
        assert r.status == 200, r
    assert len(requests_to(good, "/echo?n=", 4)) == 4
    gh.wait_log(r"server 127\.0\.0\.1:%d marked down" % bad.port)
    # Marked down after its first failure: one handshake only reached it.
    fails = [q for q in bad.requests() if "tls_error" in q]
    assert len(fails) == 1, fails


@pytest.mark.parametrize("tls_max", ["1.2", "1.3"])
def test_keepalive_pool_reuses_tls_connections(gh_factory, backends, pki, tls_max):
    b = tls_backend(backends, pki.good, tls_max=tls_max)
    gh = start(gh_factory, b, tls_block(pki))
    with HttpConn(gh.port) as c:
        for i in range(20):
            r = c.request("GET", "/echo?ka=%d" % i)
            assert r.status == 200 and r.json()["target"] == "/echo?ka=%d" % i
    reqs = requests_to(b, "/echo?ka=", 20)
    peers = {q["peer"] for q in reqs}
    assert len(peers) == 1, "20 sequential requests used %d TLS connections" % len(peers)
    assert max(q["conn_requests"] for q in reqs) == 20
    assert reqs[0]["tls"]["version"] == "TLSv%s" % tls_max


def upstream_sockets(pid, port):
    """States (hex, /proc/net/tcp) of pid's TCP sockets to 127.0.0.1:port."""
    inodes = ghtest.socket_inodes(pid)
    out = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            rip, rport = fields[2].split(":")
            if rip == "0100007F" and int(rport, 16) == port and int(fields[9]) in inodes:
                out.append(fields[3])
    return out


@pytest.mark.parametrize("how", ["fin", "notify"])
def test_idle_tls_connection_closed_by_upstream_leaves_the_pool(gh_factory, backends, pki, how):
    b = tls_backend(backends, pki.good)
    gh = start(gh_factory, b, "keepalive_timeout = \"60s\"; " + tls_block(pki))
    worker = gh.worker_pids()[0]
    path = "/close-after/200" + ("/notify" if how == "notify" else "")
    r = ghtest.get(gh.port, path)
    assert r.status == 200 and r.body == b"closing soon\n", r
    # Pooled for 60 s, but the backend closes it: the worker must notice (FIN, or a
    # close_notify without a FIN) and close its side, not sit in CLOSE_WAIT.
    ghtest.wait_for(lambda: not [st for st in upstream_sockets(worker, b.port)
                                 if st in ("01", "08")],
                    what="the worker to close its idle TLS connection (%s)" % how)
    r = ghtest.get(gh.port, "/echo?after")
    assert r.status == 200, r
    first, = requests_to(b, "/close-after/", 1)
    after, = requests_to(b, "/echo?after", 1)
    assert after["peer"] != first["peer"]


@pytest.mark.parametrize("tls_max", ["1.2", "1.3"])
def test_new_connection_resumes_the_session(gh_factory, backends, pki, tls_max):
    b = tls_backend(backends, pki.good, tls_max=tls_max)
    gh = start(gh_factory, b, "keepalive = 0; " + tls_block(pki))
    for i in range(3):
        r = ghtest.get(gh.port, "/echo?s=%d" % i)
        assert r.status == 200, r
    reqs = requests_to(b, "/echo?s=", 3)
    assert len({q["peer"] for q in reqs}) == 3, "keepalive = 0 must connect each time"
    assert [q["tls"]["session_reused"] for q in reqs] == [False, True, True], reqs


def test_tls_config_errors(gh_factory, pki, conf_dir):
    missing = os.path.join(conf_dir, "missing-ca.pem")
    for ca, msg in ((missing, "cannot read tls.ca '%s'" % missing),
                    (pki.empty_pem, "no PEM certificate in tls.ca '%s'" % pki.empty_pem)):
        conf = make_config(upstreams=[upstream("app", [9], tls_block(pki, ca=ca))])
        gh = gh_factory(conf, start=False)
        r = gh.run("-t")
        assert r.returncode == 1, r
        line = ghtest.line_of(conf, "tls = {")
        assert "%s:%d: upstream 'app': %s" % (gh.conf_path, line, msg) in r.stderr, r.stderr
    # A unix socket has no name to check the certificate against.
    conf = make_config(upstreams=[upstream("app", ["unix:/nonexistent.sock"],
                                           tls_block(pki, sni=""))])
    r = gh_factory(conf, start=False).run("-t")
    assert r.returncode == 1 and "has no host name to verify" in r.stderr, r.stderr


def test_reload_keeps_old_contexts_on_a_bad_ca(gh_factory, backends, pki, conf_dir):
    b = tls_backend(backends, pki.good)
    gh = start(gh_factory, b, tls_block(pki))
    assert ghtest.get(gh.port, "/echo").status == 200
    bad = os.path.join(conf_dir, "gone.pem")
    gh.write_config(make_config(workers=1, upstreams=[upstream("app", [b.port],
                                                               tls_block(pki, ca=bad))]))
    gh.reload()
    gh.wait_log(r"reload failed; still serving")
    assert "cannot read tls.ca '%s'" % bad in gh.error_log()
    assert ghtest.get(gh.port, "/echo").status == 200


def test_handshake_bounded_by_upstream_connect(gh_factory, pki):
    # The kernel completes the TCP handshake into the backlog; nothing ever answers the
    # ClientHello.
    silent = ghtest.listening_socket()
    port = silent.getsockname()[1]
    try:
        gh = gh_factory(make_config(workers=1, upstreams=[upstream(
            "app", [port], "retries = 0; " + tls_block(pki))],
            extra='timeouts = { upstream_connect = "500ms"; };'))
        t0 = time.monotonic()
        r = ghtest.get(gh.port, "/echo", timeout=10)
        elapsed = time.monotonic() - t0
        assert r.status == 504, r
        assert elapsed < ghtest.scaled(3), "504 after %.2fs (upstream_connect 500ms)" % elapsed
        gh.wait_log(r"upstream 127\.0\.0\.1:%d timed out in the TLS handshake" % port)
    finally:
        silent.close()


def test_websocket_tunnel_over_tls(gh_factory, backends, pki):
    b = tls_backend(backends, pki.good)
    gh = start(gh_factory, b, tls_block(pki))
    key = base64.b64encode(os.urandom(16)).decode()
    with HttpConn(gh.port) as c:
        c.send(ghtest.websocket_request(key))
        r = c.read_response()
        assert r.status == 101, r
        c.sock.settimeout(ghtest.scaled(5))
        assert c.buf == b""
        for msg in (b"hello", os.urandom(1 << 20)):
            c.sock.sendall(msg)
            assert ghtest.recv_exact(c.sock, len(msg)) == msg
        c.sock.shutdown(socket.SHUT_WR)
        rest, how = ghtest.read_until_close(c.sock, 5)
        assert rest == b"" and how in ("eof", "reset"), (rest[:100], how)


def test_health_checks_speak_tls(gh_factory, backends, pki):
    good = tls_backend(backends, pki.good, name="good")
    bad = tls_backend(backends, pki.foreign, name="bad")
    health = ('health = { path = "/healthz"; interval = "200ms"; timeout = "1s"; rise = 1; '
              'fall = 2; };')
    gh = gh_factory(make_config(workers=1, upstreams=[ghtest.upstream_servers(
        "app", [good.port, bad.port], health + " " + tls_block(pki))]))
    probe = good.wait_request(lambda q: q.get("target") == "/healthz",
                              what="a health check over TLS")
    assert probe["tls"]["sni"] == NAME
    gh.wait_log(r"server 127\.0\.0\.1:%d is down after 2 failed health checks \(last: "
                r"certificate verify failed: unable to get local issuer certificate\)" % bad.port)
    ghtest.wait_server_state(gh, "app", "127.0.0.1:%d" % good.port, "up")
    for i in range(4):
        r = ghtest.get(gh.port, "/echo?h=%d" % i, headers=[("Connection", "close")])
        assert r.status == 200, r
