"""TLS termination (issue 11): listeners with tls = true, certificates chosen by SNI,
RSA beside ECDSA, protocol and cipher refusals, resumption on every worker and after a
reload, mTLS, strict_sni, the access log's TLS fields, the handshake bound, and PROXY
protocol before TLS. Clients: openssl s_client, curl and Python's ssl module; the PKI
is made per test module by t/lib/pki.py."""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

import ghtest
from ghtest import make_config, route_return, route_upstream, upstream, wait_for
from pki import Pki


@pytest.fixture(scope="module")
def pki():
    d = tempfile.mkdtemp(prefix="gh-pki-")
    p = Pki(d)
    p.a_ec = p.server("a.example.com", "localhost", stem="a-ec")
    p.a_rsa = p.server("a.example.com", "localhost", kind="rsa", stem="a-rsa")
    p.wild = p.server("*.b.example.com", stem="wild-b")
    p.expired = p.server("old.example.com", expired=True, stem="expired")
    p.nonames = p.server(stem="nonames")
    p.alice = p.client("alice")
    other = Pki(os.path.join(d, "other"), name="Other CA")
    p.stranger = other.client("mallory")
    yield p
    if not ghtest.KEEP_TMP:
        shutil.rmtree(d, ignore_errors=True)


def certs_block(*pairs, extra=""):
    items = ", ".join('{ cert = "%s"; key = "%s"; }' % pair for pair in pairs)
    return "tls = { certificates = ( %s ); %s };" % (items, extra)


def tls_config(pki, backend=None, certs=None, tls_extra="", extra="", plain_too=False,
               workers=1, routes=None, names=("default",), server_extra="", **kw):
    ups = [upstream("app", [backend.port])] if backend is not None else []
    if routes is None:
        routes = [route_return("= /ping", 200, "pong\n")]
        if backend is not None:
            routes.append(route_upstream("/", "app"))
    listen = ("127.0.0.1:0", "127.0.0.1:0") if plain_too else ("127.0.0.1:0",)
    text = make_config(workers=workers, listen=listen, upstreams=ups, routes=routes,
                       extra=certs_block(*(certs or [pki.a_ec]), extra=tls_extra) + "\n" + extra,
                       names=names, server_extra=server_extra, **kw)
    # The first listener speaks TLS; the second (if any) plain HTTP.
    return text.replace('\n  { address = "127.0.0.1:0"; }',
                        '\n  { address = "127.0.0.1:0"; tls = true; }', 1)


def client_ctx(pki, cert=None, tls_max=None, tls_min=None, ciphers=None):
    ctx = ssl.create_default_context(cafile=pki.ca_cert)
    ctx.check_hostname = False
    if cert:
        ctx.load_cert_chain(*cert)
    if tls_max:
        ctx.maximum_version = tls_max
    if tls_min:
        ctx.minimum_version = tls_min
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def tls_conn(port, ctx, sni="a.example.com", timeout=5.0, session=None):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname=sni, session=session)
    except Exception:
        raw.close()
        raise


def read_response(s):
    """Status, headers (lower-case names) and body of one response on socket s."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError("connection closed before a response head: %r" % data)
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for l in lines[1:]:
        k, v = l.split(":", 1)
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    n = int(headers.get("content-length", ["0"])[0])
    while len(body) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def https_get(port, path="/ping", host="a.example.com", sni="a.example.com", ctx=None, pki=None,
              headers=()):
    s = tls_conn(port, ctx or client_ctx(pki), sni=sni)
    with s:
        extra = "".join("%s: %s\r\n" % h for h in headers)
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n"
                   % (path, host, extra)).encode())
        return read_response(s)


def s_client(port, *args, input_=b"", timeout=10):
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port] + list(args),
                       input=input_, capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode("latin-1") + r.stderr.decode("latin-1")


def peer_der(port, pki, sni, **kw):
    s = tls_conn(port, client_ctx(pki, **kw), sni=sni)
    with s:
        return s.getpeercert(binary_form=True)


def der_of(path):
    return ssl.PEM_cert_to_DER_cert(open(path).read())


# ---- serving ---------------------------------------------------------------------------

def test_curl_over_tls_and_forwarded_proto(gh_factory, backend, pki):
    gh = gh_factory(tls_config(pki, backend))
    r = subprocess.run(["curl", "-sS", "--cacert", pki.ca_cert, "--resolve",
                        "a.example.com:%d:127.0.0.1" % gh.port,
                        "https://a.example.com:%d/echo" % gh.port],
                       capture_output=True, timeout=20)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    h = {k.lower(): v for k, v in doc["headers"]}
    assert h["x-forwarded-proto"] == "https"
    assert h["forwarded"].endswith("proto=https"), h["forwarded"]


def test_large_bodies_both_ways(gh_factory, backend, pki):
    """Records of every size: a 5 MB download and a 3 MB upload, byte for byte."""
    gh = gh_factory(tls_config(pki, backend))
    n = 5 * 1024 * 1024
    r = subprocess.run(["curl", "-sS", "--cacert", pki.ca_cert, "--resolve",
                        "a.example.com:%d:127.0.0.1" % gh.port,
                        "https://a.example.com:%d/chunked/%d" % (gh.port, n)],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ghtest.pattern(n)
    body = os.urandom(3 * 1024 * 1024)
    r = subprocess.run(["curl", "-sS", "--cacert", pki.ca_cert, "--resolve",
                        "a.example.com:%d:127.0.0.1" % gh.port, "--data-binary", "@-",
                        "https://a.example.com:%d/echo" % gh.port],
                       input=body, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["body_len"] == len(body)
    assert doc["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_keepalive_and_pipelining(gh_factory, pki):
    gh = gh_factory(tls_config(pki))
    s = tls_conn(gh.port, client_ctx(pki))
    with s:
        s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
        got = b""
        deadline = time.monotonic() + 5
        while got.count(b"pong\n") < 3 and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        assert got.count(b"HTTP/1.1 200") == 3, got


# ---- certificates ------------------------------------------------------------------------

def test_sni_exact_wildcard_and_default(gh_factory, pki):
    gh = gh_factory(tls_config(pki, certs=[pki.a_ec, pki.wild]))
    assert peer_der(gh.port, pki, "a.example.com") == der_of(pki.a_ec[0])
    assert peer_der(gh.port, pki, "x.b.example.com") == der_of(pki.wild[0])
    assert peer_der(gh.port, pki, "X.B.Example.COM") == der_of(pki.wild[0])
    # a wildcard covers one label only; an unknown name gets the first certificate
    assert peer_der(gh.port, pki, "y.x.b.example.com") == der_of(pki.a_ec[0])
    assert peer_der(gh.port, pki, "unknown.test") == der_of(pki.a_ec[0])
    assert peer_der(gh.port, pki, None) == der_of(pki.a_ec[0])


def test_rsa_and_ecdsa_for_the_same_names(gh_factory, pki):
    gh = gh_factory(tls_config(pki, certs=[pki.a_rsa, pki.a_ec]))
    assert peer_der(gh.port, pki, "a.example.com") == der_of(pki.a_ec[0])
    rsa_only = peer_der(gh.port, pki, "a.example.com", tls_max=ssl.TLSVersion.TLSv1_2,
                        ciphers="ECDHE-RSA-AES128-GCM-SHA256")
    assert rsa_only == der_of(pki.a_rsa[0])
    rc, out = s_client(gh.port, "-servername", "a.example.com", "-sigalgs",
                       "rsa_pss_rsae_sha256", "-tls1_3")
    assert "Peer signature type: RSA-PSS" in out, out


# ---- refusals ------------------------------------------------------------------------------

def test_old_protocols_and_cbc_refused(gh_factory, pki):
    gh = gh_factory(tls_config(pki))
    rc, out = s_client(gh.port, "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0")
    assert "Cipher is (NONE)" in out or rc != 0, out
    rc, out = s_client(gh.port, "-tls1", "-cipher", "DEFAULT:@SECLEVEL=0")
    assert "Cipher is (NONE)" in out or rc != 0, out
    for cbc in ("ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "AES128-GCM-SHA256"):
        rc, out = s_client(gh.port, "-tls1_2", "-cipher", cbc)
        assert "Cipher is (NONE)" in out or "handshake failure" in out, (cbc, out)
    rc, out = s_client(gh.port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert "Cipher is ECDHE-ECDSA-AES128-GCM-SHA256" in out, out
    gh.wait_log(r"TLS handshake with 127\.0\.0\.1 failed: no shared cipher")


def test_protocols_setting(gh_factory, pki):
    gh = gh_factory(tls_config(pki, tls_extra='protocols = ["TLSv1.3"];'))
    rc, out = s_client(gh.port, "-tls1_2")
    assert "Cipher is (NONE)" in out, out
    rc, out = s_client(gh.port, "-tls1_3")
    assert "TLSv1.3" in out and "Cipher is (NONE)" not in out, out
    gh2 = gh_factory(tls_config(pki, tls_extra='protocols = ["TLSv1.2"];'))
    rc, out = s_client(gh2.port, "-tls1_3")
    assert "Cipher is (NONE)" in out, out


def test_alpn_unknown_protocol_refused(gh_factory, pki):
    gh = gh_factory(tls_config(pki))
    rc, out = s_client(gh.port, "-alpn", "spdy/3")
    assert "no application protocol" in out or "Cipher is (NONE)" in out, out
    rc, out = s_client(gh.port, "-alpn", "h2,http/1.1")
    assert "ALPN protocol: http/1.1" in out, out


# ---- resumption ----------------------------------------------------------------------------

def resumes(port, sess, *args, n=10):
    """How many of n new connections resumed the session in file sess."""
    got = 0
    for _ in range(n):
        rc, out = s_client(port, "-sess_in", sess, "-ign_eof", *args,
                           input_=b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        got += out.count("Reused, TLSv")
    return got


@pytest.mark.parametrize("mode", [["-tls1_3"], ["-tls1_2"], ["-tls1_2", "-no_ticket"]],
                         ids=["tls13-ticket", "tls12-ticket", "tls12-session-cache"])
def test_resumption_on_every_worker_and_after_reload(gh_factory, pki, mode):
    gh = gh_factory(tls_config(pki, workers=2))
    sess = gh.path("sess.pem")
    rc, out = s_client(gh.port, "-sess_out", sess, "-ign_eof", *mode,
                       input_=b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert "New, TLSv" in out, out
    # Connections land on both workers (SO_REUSEPORT): all of them resume.
    assert resumes(gh.port, sess, *mode) == 10
    old = set(gh.worker_pids())
    gh.reload()
    gh.wait_workers(2, exclude=old, timeout=10)
    wait_for(lambda: not (set(gh.worker_pids()) & old), 10, what="old workers gone")
    assert resumes(gh.port, sess, *mode, n=4) == 4


def test_tickets_off_still_resume_from_the_cache(gh_factory, pki):
    gh = gh_factory(tls_config(pki, workers=2, tls_extra="session_tickets = false;"))
    sess = gh.path("sess.pem")
    rc, out = s_client(gh.port, "-sess_out", sess, "-ign_eof", "-tls1_2",
                       input_=b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert "TLS session ticket:" not in out, out
    assert resumes(gh.port, sess, "-tls1_2") == 10


# ---- mTLS ------------------------------------------------------------------------------------

def test_client_certificates(gh_factory, backend, pki):
    gh = gh_factory(tls_config(pki, backend, tls_extra='client_ca = "%s";' % pki.ca_cert,
                               access_format="json"))
    # no certificate, or one from another CA: a handshake alert
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        https_get(gh.port, "/echo", pki=pki)
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        https_get(gh.port, "/echo", ctx=client_ctx(pki, cert=pki.stranger))
    st, h, body = https_get(gh.port, "/echo", ctx=client_ctx(pki, cert=pki.alice),
                            headers=[("X-Client-Cert-Subject", "CN=forged")])
    assert st == 200
    doc = json.loads(body)
    got = {}
    for k, v in doc["headers"]:
        got.setdefault(k.lower(), []).append(v)
    assert got["x-client-cert-subject"] == ["O=Test Clients,CN=alice"], got
    assert got["x-client-cert-issuer"] == ["CN=Test Root CA"]
    assert re.fullmatch(r"[0-9A-F]+", got["x-client-cert-serial"][0])
    assert got["x-client-cert-verify"] == ["SUCCESS"]
    line = json.loads(wait_for(lambda: [l for l in gh.access_lines() if "/echo" in l], 5)[-1])
    assert line["tls_client_subject"] == "O=Test Clients,CN=alice"
    assert line["tls_client_verify"] == "SUCCESS"


def test_forged_client_cert_headers_dropped_without_mtls(gh_factory, backend, pki):
    gh = gh_factory(tls_config(pki, backend))
    st, h, body = https_get(gh.port, "/echo", pki=pki,
                            headers=[("X-Client-Cert-Subject", "CN=admin"),
                                     ("X-Client-Cert-Verify", "SUCCESS")])
    names = [k.lower() for k, v in json.loads(body)["headers"]]
    assert not [n for n in names if n.startswith("x-client-cert-")], names


# ---- routing -----------------------------------------------------------------------------

def two_servers(strict):
    return """
servers = (
  { names = ["a.example.com"]; routes = ( { path = "/"; return = { status = 200; body = "A\\n"; }; } ); },
  { names = ["c.example.com"]; routes = ( { path = "/"; return = { status = 200; body = "C\\n"; }; } ); }
);""", 'strict_sni = %s;' % ("true" if strict else "false")


@pytest.mark.parametrize("strict", [False, True])
def test_host_against_sni(gh_factory, pki, strict):
    servers, tls_extra = two_servers(strict)
    text = tls_config(pki, tls_extra=tls_extra)
    text = re.sub(r"servers = \(.*?\n\);", servers.strip(), text, flags=re.S)
    gh = gh_factory(text)
    st, h, body = https_get(gh.port, "/", host="a.example.com", sni="a.example.com", pki=pki)
    assert (st, body) == (200, b"A\n")
    st, h, body = https_get(gh.port, "/", host="c.example.com", sni="a.example.com", pki=pki)
    if strict:
        assert st == 421, (st, body)
    else:
        assert (st, body) == (200, b"C\n"), "routed by Host, as nginx does"
    # HTTP/1.0 without Host: routed by SNI
    s = tls_conn(gh.port, client_ctx(pki), sni="c.example.com")
    with s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        st, h, body = read_response(s)
    assert (st, body) == (200, b"C\n")


def test_redirect_https_leaves_tls_alone(gh_factory, pki):
    gh = gh_factory(tls_config(pki, plain_too=True, server_extra="redirect_https = true;"))
    tls_port, plain_port = gh.ports
    r = ghtest.get(plain_port, "/ping", host="a.example.com")
    assert r.status == 301 and r.header("Location") == "https://a.example.com/ping"
    st, h, body = https_get(tls_port, "/ping", pki=pki)
    assert (st, body) == (200, b"pong\n")


# ---- logs and metrics ----------------------------------------------------------------------

def test_access_log_fields(gh_factory, pki):
    gh = gh_factory(tls_config(pki, plain_too=True))
    https_get(gh.ports[0], "/ping", pki=pki, ctx=client_ctx(pki, tls_max=ssl.TLSVersion.TLSv1_3))
    ghtest.get(gh.ports[1], "/ping")
    lines = wait_for(lambda: (lambda l: l if len(l) >= 2 else None)(gh.access_lines()), 5)
    tls_line = [l for l in lines if "TLSv1.3" in l]
    assert tls_line and tls_line[0].endswith(" TLSv1.3 TLS_AES_128_GCM_SHA256"), lines
    plain = [l for l in lines if "TLSv" not in l]
    assert plain, "a plain request's line has no TLS fields"


def test_access_log_json_fields(gh_factory, pki):
    gh = gh_factory(tls_config(pki, access_format="json"))
    https_get(gh.port, "/ping", pki=pki, ctx=client_ctx(pki, tls_max=ssl.TLSVersion.TLSv1_2))
    line = json.loads(wait_for(lambda: gh.access_lines(), 5)[0])
    assert line["tls_protocol"] == "TLSv1.2"
    assert line["tls_cipher"] == "ECDHE-ECDSA-AES128-GCM-SHA256"


def metric(gh, text, name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else None


def test_handshake_bound_and_counters(gh_factory, pki):
    gh = gh_factory(tls_config(pki, extra='timeouts = { client_header = "1s"; };'))
    silent = socket.create_connection(("127.0.0.1", gh.port), timeout=5)
    partial = socket.create_connection(("127.0.0.1", gh.port), timeout=5)
    partial.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")    # a ClientHello cut short
    t0 = time.monotonic()
    for s in (silent, partial):
        with s:
            assert s.recv(100) == b""
    assert time.monotonic() - t0 < 4
    https_get(gh.port, "/ping", pki=pki)
    with pytest.raises(ssl.SSLError):
        https_get(gh.port, "/ping", ctx=client_ctx(pki, tls_max=ssl.TLSVersion.TLSv1_2,
                                                   ciphers="ECDHE-RSA-AES128-GCM-SHA256"))
    admin = ghtest.admin_port(gh)
    def counts():
        text = ghtest.get(admin, "/metrics").text
        return {k: metric(gh, text, 'gatehouse_tls_handshakes_total{result="%s"}' % k)
                for k in ("full", "resumed", "failed", "timeout")}
    c = wait_for(lambda: (lambda c: c if c["timeout"] == 2 else None)(counts()), 5,
                 what="two handshake timeouts counted")
    assert c["full"] == 1 and c["failed"] == 1, c


# ---- PROXY protocol, then TLS --------------------------------------------------------------

def test_proxy_protocol_before_tls(gh_factory, backend, pki):
    text = tls_config(pki, backend, extra='real_ip = { from = ["127.0.0.1/32"]; };')
    text = text.replace("tls = true; }", "tls = true; proxy_protocol = true; }", 1)
    gh = gh_factory(text)
    raw = socket.create_connection(("127.0.0.1", gh.port), timeout=5)
    # the PROXY line and the ClientHello may come in one read: send the line, then TLS
    raw.sendall(b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 443\r\n")
    s = client_ctx(pki).wrap_socket(raw, server_hostname="a.example.com")
    with s:
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: a.example.com\r\nConnection: close\r\n\r\n")
        st, h, body = read_response(s)
    assert st == 200
    got = {k.lower(): v for k, v in json.loads(body)["headers"]}
    assert got["x-forwarded-for"] == "203.0.113.7"
    assert got["x-forwarded-proto"] == "https"


def test_proxy_header_and_client_hello_in_one_segment(gh_factory, pki):
    """The bytes after the PROXY header in the same read belong to the handshake."""
    text = tls_config(pki).replace("tls = true; }", "tls = true; proxy_protocol = true; }", 1)
    gh = gh_factory(text)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx(pki).wrap_bio(inc, out, server_hostname="a.example.com")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    raw = socket.create_connection(("127.0.0.1", gh.port), timeout=5)
    with raw:
        raw.sendall(b"PROXY TCP4 203.0.113.7 127.0.0.1 40000 443\r\n" + hello)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                if out.pending:
                    raw.sendall(out.read())
                data = raw.recv(65536)
                assert data, "closed during the handshake"
                inc.write(data)
        if out.pending:
            raw.sendall(out.read())
        obj.write(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw.sendall(out.read())
        got = b""
        while b"pong" not in got and time.monotonic() < deadline:
            data = raw.recv(65536)
            if not data:
                break
            inc.write(data)
            try:
                got += obj.read(65536)
            except ssl.SSLWantReadError:
                pass
    assert b"200 OK" in got and b"pong" in got, got


# ---- configuration ---------------------------------------------------------------------------

def check(conf_dir, text):
    path = os.path.join(conf_dir, "gatehouse.conf")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([ghtest.GATEHOUSE_BIN, "-t", "-c", path, "-p", conf_dir],
                       capture_output=True, text=True, timeout=20)
    return r.returncode, r.stdout + r.stderr, path


def test_config_errors(conf_dir, pki):
    base = tls_config(pki)
    line = ghtest.line_of(base, "certificates")
    cases = [
        ((pki.path("missing.crt"), pki.a_ec[1]), "cannot read certificate file"),
        ((pki.a_ec[0], pki.wild[1]), "does not match the certificate"),
        ((pki.nonames[0], pki.nonames[1]), "has no DNS name in its subjectAltName"),
        ((pki.a_ec[0], pki.path("missing.key")), "cannot read key file"),
        ((pki.ca_cert + ".none", pki.a_ec[1]), "cannot read certificate file"),
    ]
    for pair, msg in cases:
        rc, out, path = check(conf_dir, tls_config(pki, certs=[pair]))
        assert rc == 1, (pair, out)
        assert re.search(r"%s:%d: .*%s" % (re.escape(path), line, re.escape(msg)), out), out
    rc, out, path = check(conf_dir, tls_config(pki, certs=[pki.a_ec, pki.a_ec]))
    assert rc == 1 and "same names and key type" in out, out
    rc, out, path = check(conf_dir, tls_config(pki, tls_extra='client_ca = "/nonexistent";'))
    assert rc == 1 and "cannot load 'tls.client_ca'" in out, out
    # an expired certificate is a warning, not an error
    rc, out, path = check(conf_dir, tls_config(pki, certs=[pki.a_ec, pki.expired]))
    assert rc == 0, out
    assert re.search(r"%s:\d+: warning: .*has expired" % re.escape(path), out), out


def test_reload_with_a_bad_certificate_keeps_serving(gh_factory, pki):
    d = tempfile.mkdtemp(prefix="gh-tlsreload-")
    try:
        cert, key = os.path.join(d, "site.crt"), os.path.join(d, "site.key")
        shutil.copy(pki.a_ec[0], cert)
        shutil.copy(pki.a_ec[1], key)
        gh = gh_factory(tls_config(pki, certs=[(cert, key)]))
        assert https_get(gh.port, pki=pki)[0] == 200
        with open(cert, "w") as f:
            f.write("not a certificate\n")
        gh.reload()
        gh.wait_log(r"reload failed; still serving with the previous configuration")
        assert https_get(gh.port, pki=pki)[0] == 200
        assert peer_der(gh.port, pki, "a.example.com") == der_of(pki.a_ec[0])
        # a good new certificate is taken by the next reload
        shutil.copy(pki.wild[0], cert)
        shutil.copy(pki.wild[1], key)
        old = set(gh.worker_pids())
        gh.reload()
        gh.wait_workers(1, exclude=old, timeout=10)
        wait_for(lambda: peer_der(gh.port, pki, "x.b.example.com") == der_of(pki.wild[0]), 10,
                 what="the new certificate served")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_resumption_survives_a_binary_upgrade(gh_factory, pki):
    """USR2: the new binary takes over the segment, ticket keys and session cache with it."""
    import test_upgrade
    gh = gh_factory(tls_config(pki, workers=2))
    tickets, cache = gh.path("t.pem"), gh.path("c.pem")
    req = b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    s_client(gh.port, "-sess_out", tickets, "-ign_eof", "-tls1_3", input_=req)
    s_client(gh.port, "-sess_out", cache, "-ign_eof", "-tls1_2", "-no_ticket", input_=req)
    new = test_upgrade.upgrade(gh)
    test_upgrade.quit_old(gh, new)
    assert resumes(gh.port, tickets, "-tls1_3", n=4) == 4
    assert resumes(gh.port, cache, "-tls1_2", "-no_ticket", n=4) == 4
