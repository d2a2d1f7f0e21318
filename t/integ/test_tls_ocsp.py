"""OCSP stapling (tls.ocsp_stapling, tls.ocsp_file; SPEC section 4): the helper fetches each
certificate's status from the responder named in its AIA, workers staple it; a file
given instead is stapled as it is; a responder that is down, refuses or lies costs the
staple, never the handshake; configuration errors are FILE:LINE.

The responder is OpenSSL's (`openssl ocsp -index ... -rsigner ... -CA ...`, once per
request with -reqin/-respout, so it sees revocations made during a test) behind a small
HTTP server bound to 127.0.0.1 on a port of its own: `openssl ocsp -port` takes only a
port number and listens on every interface."""

import calendar
import http.server
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time

import pytest

import ghtest
from ghtest import GATEHOUSE_BIN, route_return, scaled, wait_for
from pki import Pki


# --------------------------------------------------------------------------
# the PKI and the responder


@pytest.fixture
def pki():
    d = tempfile.mkdtemp(prefix="gh-pki-")
    yield Pki(d)
    if not ghtest.KEEP_TMP:
        shutil.rmtree(d, ignore_errors=True)


def openssl(*args, cwd=None):
    r = subprocess.run(["openssl"] + list(args), capture_output=True, text=True, cwd=cwd,
                       timeout=scaled(30), stdin=subprocess.DEVNULL)
    assert r.returncode == 0, "openssl %s: %s" % (" ".join(args), r.stderr)
    return r.stdout


def serial_of(cert):
    return openssl("x509", "-in", cert, "-noout", "-serial").strip().split("=")[1].upper()


def revoke(pki, cert):
    openssl("ca", "-config", pki.conf, "-revoke", cert, "-keyfile", pki.ca_key, "-cert",
            pki.ca_cert)


def make_response(pki, cert, out, nmin=60, signer=None):
    """A DER OCSP response about cert, from OpenSSL's responder, written to out."""
    rsigner, rkey = signer or pki.ocsp_files
    req = out + ".req"
    openssl("ocsp", "-issuer", pki.ca_cert, "-cert", cert, "-no_nonce", "-reqout", req)
    openssl("ocsp", "-index", pki.path("index.txt"), "-CA", pki.ca_cert, "-rsigner", rsigner,
            "-rkey", rkey, "-reqin", req, "-respout", out, "-nmin", str(nmin))
    return out


class Responder:
    """OpenSSL's OCSP responder for pki on 127.0.0.1:port. mode: "ok" (answer), "500" (an
    HTTP error), "garbage" (200 with bytes that are not OCSP), "foreign" (signed by a
    responder of another CA)."""

    def __init__(self, pki, nmin=5, foreign=None):
        self.pki = pki
        self.nmin = nmin
        self.mode = "ok"
        self.requests = 0
        self.foreign = foreign
        self.lock = threading.Lock()
        pki.ocsp_files = getattr(pki, "ocsp_files", None) or pki.ocsp_signer()
        responder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                code, ctype, out = responder.answer(body)
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, body):
        with self.lock:
            self.requests += 1
            mode = self.mode
            if mode == "500":
                return 500, "text/plain", b"down for maintenance\n"
            if mode == "garbage":
                return 200, "application/ocsp-response", b"\x30\x03not ocsp"
            d = tempfile.mkdtemp(prefix="gh-ocsp-req-")
            try:
                req, resp = os.path.join(d, "req.der"), os.path.join(d, "resp.der")
                with open(req, "wb") as f:
                    f.write(body)
                rsigner, rkey = self.foreign if mode == "foreign" else self.pki.ocsp_files
                r = subprocess.run(["openssl", "ocsp", "-index", self.pki.path("index.txt"),
                                    "-CA", self.pki.ca_cert, "-rsigner", rsigner, "-rkey", rkey,
                                    "-reqin", req, "-respout", resp, "-nmin", str(self.nmin)],
                                   capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
                if r.returncode != 0:
                    return 500, "text/plain", r.stderr
                with open(resp, "rb") as f:
                    return 200, "application/ocsp-response", f.read()
            finally:
                shutil.rmtree(d, ignore_errors=True)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def responders():
    made = []

    def start(pki, **kw):
        r = Responder(pki, **kw)
        made.append(r)
        return r

    yield start
    for r in made:
        r.stop()


# --------------------------------------------------------------------------
# gatehouse and the client


def tls_conf(certs, tls_extra="", workers=1):
    """A configuration with one TLS listener and certs [(cert, key)]."""
    lines = [
        "workers = %d;" % workers,
        'pid_file = "gatehouse.pid";',
        'error_log = { path = "error.log"; level = "info"; };',
        'access_log = { path = "access.log"; format = "combined"; };',
        'admin = { address = "127.0.0.1:0"; };',
        'listen = ( { address = "127.0.0.1:0"; tls = true; } );',
        "tls = {",
        "  ocsp_stapling = true;",
    ]
    if tls_extra:
        lines.append("  " + tls_extra)
    lines.append("  certificates = (")
    lines.append(",\n".join('    { cert = "%s"; key = "%s"; }' % c for c in certs))
    lines += [
        "  );",
        "};",
        "upstreams = ( );",
        'servers = ( { names = ["default"]; routes = ( %s ); } );'
        % route_return("= /ping", 200, "pong\n"),
    ]
    return "\n".join(lines) + "\n"


def s_client(pki, port, name, *extra):
    """openssl s_client -status: its output; the handshake must verify against the CA."""
    r = subprocess.run(["openssl", "s_client", "-status", "-servername", name, "-connect",
                        "127.0.0.1:%d" % port, "-CAfile", pki.ca_cert, "-verify_return_error"]
                       + list(extra),
                       capture_output=True, text=True, timeout=scaled(10),
                       stdin=subprocess.DEVNULL)
    assert "Verify return code: 0 (ok)" in r.stdout, r.stdout + r.stderr
    return r.stdout


def staple(pki, port, name, *extra):
    """The stapled response as s_client prints it, or None when none was sent."""
    out = s_client(pki, port, name, *extra)
    if "OCSP response: no response sent" in out:
        return None
    m = re.search(r"OCSP response: \n=+\n(.*?)\n=+\n", out, re.S)
    assert m, out
    return m.group(1)


def wait_staple(pki, port, name, *extra, status="good", timeout=10):
    def got():
        s = staple(pki, port, name, *extra)
        return s if s and "Cert Status: %s" % status in s else None
    return wait_for(got, timeout, interval=0.2, what="a staple saying %s for %s" % (status, name))


def https_get(pki, port, name, path="/ping"):
    ctx = ssl.create_default_context(cafile=pki.ca_cert)
    with socket.create_connection(("127.0.0.1", port), timeout=scaled(5)) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as s:
            s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                       % (path, name)).encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    return data.decode("latin-1")


# --------------------------------------------------------------------------
# fetched responses


def test_each_certificate_gets_its_own_good_staple(gh_factory, pki, responders):
    r = responders(pki)
    www, www_key = pki.server("www.example.com", ocsp_url=r.url)
    api, api_key = pki.server("api.example.com", kind="rsa", ocsp_url=r.url)
    gh = gh_factory(tls_conf([(pki.chain(www), www_key), (pki.chain(api), api_key)]))
    for name, cert in (("www.example.com", www), ("api.example.com", api)):
        s = wait_staple(pki, gh.port, name)
        assert "Serial Number: %s" % serial_of(cert) in s, s
        assert "Next Update:" in s
    gh.wait_log(r'OCSP stapling: certificate in \'[^\']*%s\.chain\' \(www\.example\.com\) is '
                r'"good" according to http://127\.0\.0\.1:%d' % (os.path.basename(www), r.port))
    assert r.requests == 2, r.requests                # once each, not once per handshake
    assert "pong" in https_get(pki, gh.port, "www.example.com")
    text = ghtest.get(ghtest.admin_port(gh), "/metrics").text
    assert re.search(r'^gatehouse_tls_ocsp_fetches_total\{result="good"\} 2$', text, re.M), text
    staples = int(re.search(r"^gatehouse_tls_ocsp_staples_total (\d+)$", text, re.M).group(1))
    assert staples >= 2, text


def test_rsa_and_ecdsa_of_one_site_each_get_theirs(gh_factory, pki, responders):
    """One context holds both; the callback staples the response of the one OpenSSL chose."""
    r = responders(pki)
    ec, ec_key = pki.server("www.example.com", ocsp_url=r.url)
    rsa, rsa_key = pki.server("www.example.com", kind="rsa", ocsp_url=r.url)
    gh = gh_factory(tls_conf([(pki.chain(ec), ec_key), (pki.chain(rsa), rsa_key)]))
    for sigalgs, cert in (("ECDSA+SHA256", ec), ("RSA-PSS+SHA256", rsa)):
        s = wait_staple(pki, gh.port, "www.example.com", "-sigalgs", sigalgs)
        assert "Serial Number: %s" % serial_of(cert) in s, (sigalgs, s)


def test_revoked_certificate_is_not_stapled(gh_factory, pki, responders):
    """As nginx does: a verified response that says "revoked" is logged and not stapled."""
    r = responders(pki)
    cert, key = pki.server("www.example.com", ocsp_url=r.url)
    revoke(pki, cert)
    gh = gh_factory(tls_conf([(pki.chain(cert), key)]))
    gh.wait_log(r'\[error\] .*OCSP stapling: no response for the certificate in \'[^\']*\' '
                r'\(www\.example\.com\) from http://127\.0\.0\.1:%d: certificate status '
                r'"revoked"; retrying in 5 s' % r.port, timeout=10)
    assert staple(pki, gh.port, "www.example.com") is None
    assert "pong" in https_get(pki, gh.port, "www.example.com")


def test_responder_down_handshake_still_works(gh_factory, pki):
    port = ghtest.free_port()                          # bound, never listening: refused
    cert, key = pki.server("www.example.com", ocsp_url="http://127.0.0.1:%d/ocsp" % port)
    gh = gh_factory(tls_conf([(pki.chain(cert), key)]))
    gh.wait_log(r"\[error\] .*OCSP stapling: no response for the certificate in '[^']*' "
                r"\(www\.example\.com\) from http://127\.0\.0\.1:%d/ocsp: connect\(\): "
                r"Connection refused; retrying in 5 s" % port, timeout=10)
    assert staple(pki, gh.port, "www.example.com") is None
    assert "pong" in https_get(pki, gh.port, "www.example.com")


@pytest.mark.parametrize("mode,why", [
    ("500", r"the responder answered HTTP 500"),
    ("garbage", r"the answer is not a DER OCSP response"),
    ("foreign", r"the response does not verify"),
])
def test_bad_answers_are_not_stapled(gh_factory, pki, responders, mode, why):
    other = Pki(pki.path("other"))
    r = responders(pki, foreign=other.ocsp_signer())
    r.mode = mode
    cert, key = pki.server("www.example.com", ocsp_url=r.url)
    gh = gh_factory(tls_conf([(pki.chain(cert), key)]))
    gh.wait_log(r"\[error\] .*OCSP stapling: no response for the certificate .*: %s" % why,
                timeout=10)
    assert staple(pki, gh.port, "www.example.com") is None
    assert "pong" in https_get(pki, gh.port, "www.example.com")


def test_reload_keeps_the_fetched_staple(gh_factory, pki, responders):
    r = responders(pki)
    cert, key = pki.server("www.example.com", ocsp_url=r.url)
    gh = gh_factory(tls_conf([(pki.chain(cert), key)]))
    first = wait_staple(pki, gh.port, "www.example.com")
    assert r.requests == 1
    gh.reload()
    gh.wait_log(r"reload done: generation 2")
    wait_for(lambda: len(re.findall(r"helper \d+ running", gh.error_log())) >= 2, 10,
             what="the new helper")
    # The new generation staples at once what the old helper stored; the new
    # helper does not ask again before the refresh is due.
    assert staple(pki, gh.port, "www.example.com") == first
    time.sleep(scaled(0.5))
    assert r.requests == 1, r.requests


def test_last_good_response_kept_until_it_expires(gh_factory, pki, responders):
    """nextUpdate 1 minute ahead: the refresh at half of it fails, the last good response
    is still stapled; once its nextUpdate has passed nothing is (about 65 s)."""
    r = responders(pki, nmin=1)
    cert, key = pki.server("www.example.com", ocsp_url=r.url)
    gh = gh_factory(tls_conf([(pki.chain(cert), key)]))
    first = wait_staple(pki, gh.port, "www.example.com")
    gh.wait_log(r"next fetch in 3\d s")
    r.mode = "500"
    gh.wait_log(r"no response for the certificate .*answered HTTP 500", timeout=45)
    assert staple(pki, gh.port, "www.example.com") == first
    m = re.search(r"Next Update: (\w+ +\d+ \d+:\d+:\d+ \d+) GMT", first)
    next_update = calendar.timegm(time.strptime(m.group(1), "%b %d %H:%M:%S %Y"))
    assert next_update - time.time() < 60
    wait_for(lambda: time.time() > next_update + 1, 70, interval=0.5, what="nextUpdate")
    assert staple(pki, gh.port, "www.example.com") is None


# --------------------------------------------------------------------------
# tls.ocsp_file


def test_ocsp_file_is_stapled_as_it_is(gh_factory, pki):
    """No issuer in the certificate file and no responder URL: with ocsp_file neither is
    needed, and nothing is fetched."""
    cert, key = pki.server("www.example.com")
    pki.ocsp_files = pki.ocsp_signer()
    der = make_response(pki, cert, pki.path("www.ocsp.der"))
    gh = gh_factory(tls_conf([(cert, key)], tls_extra='ocsp_file = "%s";' % der))
    s = wait_staple(pki, gh.port, "www.example.com", timeout=5)
    assert "Serial Number: %s" % serial_of(cert) in s
    assert "OCSP fetches off" in gh.error_log()
    assert "no response for the certificate" not in gh.error_log()


# --------------------------------------------------------------------------
# configuration errors (-t)


def run_t(pki, text):
    path = pki.path("gatehouse.conf")
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([GATEHOUSE_BIN, "-c", path, "-p", pki.dir, "-t"], capture_output=True,
                       text=True, timeout=scaled(10), stdin=subprocess.DEVNULL)
    return path, p


def assert_error_at(p, path, line, *words):
    assert p.returncode == 1, "exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr)
    m = re.search(r"^%s:%d: (.*)$" % (re.escape(path), line), p.stderr, re.M)
    assert m, "no %s:%d: in\n%s" % (path, line, p.stderr)
    for w in words:
        assert re.search(w, m.group(1)), "%r not in %r" % (w, m.group(1))


def line_with(text, needle):
    return ghtest.line_of(text, needle)


def test_config_no_issuer_in_the_file(pki):
    cert, key = pki.server("www.example.com", ocsp_url="http://127.0.0.1:9/")
    path, p = run_t(pki, tls_conf([(pki.chain(cert), key)]))       # the issuer follows: ok
    assert p.returncode == 0 and "configuration ok" in p.stdout, p.stderr
    text = tls_conf([(cert, key)])
    path, p = run_t(pki, text)
    assert_error_at(p, path, line_with(text, cert), r"has no issuer certificate after the "
                    r"server's \(www\.example\.com\)", r"ocsp_file")


def test_config_no_responder_url(pki):
    cert, key = pki.server("www.example.com")
    text = tls_conf([(pki.chain(cert), key)])
    path, p = run_t(pki, text)
    assert_error_at(p, path, line_with(text, cert), r"names no OCSP responder",
                    r"Authority Information Access")


def test_config_https_responder_url(pki):
    cert, key = pki.server("www.example.com", ocsp_url="https://127.0.0.1:9/")
    text = tls_conf([(pki.chain(cert), key)])
    path, p = run_t(pki, text)
    assert_error_at(p, path, line_with(text, cert), r"is not an http:// URL")


def test_config_ocsp_file_unreadable(pki):
    cert, key = pki.server("www.example.com")
    text = tls_conf([(cert, key)], tls_extra='ocsp_file = "missing.der";')
    path, p = run_t(pki, text)
    assert_error_at(p, path, line_with(text, "tls = {"), r"cannot read tls\.ocsp_file "
                    r"'[^']*missing\.der' \(No such file or directory\)")


def test_config_ocsp_file_not_ocsp(pki):
    cert, key = pki.server("www.example.com")
    text = tls_conf([(cert, key)], tls_extra='ocsp_file = "%s";' % cert)   # PEM, not OCSP
    path, p = run_t(pki, text)
    assert_error_at(p, path, line_with(text, "tls = {"), r"is not a DER OCSP response")


def test_config_ocsp_file_for_another_certificate(pki):
    cert, key = pki.server("www.example.com")
    other, _ = pki.server("other.example.com")
    pki.ocsp_files = pki.ocsp_signer()
    der = make_response(pki, other, pki.path("other.ocsp.der"))
    text = tls_conf([(cert, key)], tls_extra='ocsp_file = "%s";' % der)
    path, p = run_t(pki, text)
    assert_error_at(p, path, line_with(text, "tls = {"), r"has no status for any of the "
                    r"certificates")
