"""HTTP/2 to clients (issue 12): ALPN h2 on TLS listeners with http2 = true, h2c with prior
knowledge on plain ones, every stream through the pipeline and proxied as HTTP/1.1 (bodies
intact both ways, many streams on one connection, a large download in bounded memory, the
access log's HTTP/2.0), answers made here, RFC 9113 8.3 violations sent as raw frames
(HPACK from the hpack package, frames packed by hand here; the server never hand-writes
either), flow control that holds a client behind a slow upstream, limits, GOAWAY on QUIT
and the rapid-reset bound. Clients: curl --http2 / --http2-prior-knowledge, nghttp, h2load
(nghttp2-client) and the raw frames below."""

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time

import hpack
import pytest

import ghtest
from ghtest import make_config, route_return, route_upstream, upstream, wait_for
from pki import Pki

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
NO_ERROR, PROTOCOL_ERROR, REFUSED_STREAM, CANCEL = 0, 1, 7, 8
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def need(tool):
    if shutil.which(tool) is None:
        pytest.skip("%s is not installed (t/deps.sh installs it)" % tool)


@pytest.fixture(scope="module")
def pki():
    d = tempfile.mkdtemp(prefix="gh-pki-")
    p = Pki(d)
    p.a = p.server("a.example.com", "localhost", stem="a-ec")
    yield p
    if not ghtest.KEEP_TMP:
        shutil.rmtree(d, ignore_errors=True)


def h2_config(backend=None, tls=None, http2=True, routes=None, extra="", workers=1, **kw):
    """One listener: TLS with http2 (tls = the Pki) or plain h2c; then a plain HTTP/1 one."""
    ups = [upstream("app", [backend.port])] if backend is not None else []
    if routes is None:
        routes = [route_return("= /ping", 200, "pong\n"),
                  route_return("= /moved", 301, location="https://example.com/new")]
        if backend is not None:
            routes.append(route_upstream("/", "app"))
    if tls is not None:
        extra = 'tls = { certificates = ( { cert = "%s"; key = "%s"; } ); };\n%s' % (
            tls.a[0], tls.a[1], extra)
    text = make_config(workers=workers, listen=("127.0.0.1:0", "127.0.0.1:0"), upstreams=ups,
                       routes=routes, extra=extra, **kw)
    opts = ("tls = true; " if tls is not None else "") + ("http2 = true; " if http2 else "")
    return text.replace('\n  { address = "127.0.0.1:0"; }',
                        '\n  { address = "127.0.0.1:0"; %s}' % opts, 1)


def curl(*args, input_=None, timeout=60):
    r = subprocess.run(["curl", "-sS"] + list(args), input=input_, capture_output=True,
                       timeout=timeout)
    assert r.returncode == 0, r.stderr
    return r.stdout


def tls_args(pki, port):
    return ["--cacert", pki.ca_cert, "--resolve", "a.example.com:%d:127.0.0.1" % port]


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", ftype, flags, sid) + payload


class Raw:
    """An HTTP/2 client over a socket, one frame at a time."""

    def __init__(self, port, pki=None, timeout=5.0, settings=b""):
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if pki is not None:
            ctx = ssl.create_default_context(cafile=pki.ca_cert)
            ctx.set_alpn_protocols(["h2"])
            s = ctx.wrap_socket(s, server_hostname="a.example.com")
            assert s.selected_alpn_protocol() == "h2"
        self.s = s
        self.enc, self.dec = hpack.Encoder(), hpack.Decoder()
        self.buf = b""
        self.settings = {}
        self.s.sendall(PREFACE + frame(SETTINGS, 0, 0, settings))

    def close(self):
        self.s.close()

    def send(self, data):
        self.s.sendall(data)

    def headers(self, sid, fields, end_stream=True):
        block = self.enc.encode(fields)
        self.send(frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), sid, block))

    def get(self, sid, path="/ping", extra=()):
        self.headers(sid, [(":method", "GET"), (":scheme", "http"), (":path", path),
                           (":authority", "localhost")] + list(extra))

    def data(self, sid, payload, end_stream=True):
        self.send(frame(DATA, END_STREAM if end_stream else 0, sid, payload))

    def read_frame(self):
        """(type, flags, stream, payload), or None on EOF."""
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
            try:
                chunk = self.s.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk
        n = int.from_bytes(self.buf[:3], "big")
        ftype, flags, sid = struct.unpack(">BBI", self.buf[3:9])
        payload, self.buf = self.buf[9:9 + n], self.buf[9 + n:]
        sid &= 0x7fffffff
        if ftype == SETTINGS and not flags & ACK:
            for i in range(0, len(payload), 6):
                k, v = struct.unpack(">HI", payload[i:i + 6])
                self.settings[k] = v
            self.send(frame(SETTINGS, ACK, 0))
        return ftype, flags, sid, payload

    def goaway_then_close(self):
        """Read until the server closes; (last stream id, error code) of its GOAWAY."""
        goaway = None
        while True:
            f = self.read_frame()
            if f is None:
                return goaway
            if f[0] == GOAWAY:
                goaway = struct.unpack(">II", f[3][:8])

    def response(self, sid, timeout=5.0):
        """{status, headers, body, rst, goaway} of stream sid."""
        out = {"status": None, "headers": [], "body": b"", "rst": None, "goaway": None}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            f = self.read_frame()
            if f is None:
                out["eof"] = True
                return out
            ftype, flags, fsid, payload = f
            if ftype == HEADERS:
                hs = self.dec.decode(payload)
                if fsid == sid:
                    st = int(dict(hs)[":status"])
                    if st >= 200:
                        out["status"] = st
                        out["headers"] = hs
            elif ftype == DATA and fsid == sid:
                out["body"] += payload
                if payload:  # keep the windows open
                    self.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", len(payload)))
                              + frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", len(payload))))
            elif ftype == RST_STREAM and fsid == sid:
                out["rst"] = struct.unpack(">I", payload)[0]
                return out
            elif ftype == GOAWAY:
                out["goaway"] = struct.unpack(">II", payload[:8])
                if fsid == 0 and out["goaway"][0] < sid:
                    return out
            if fsid == sid and flags & END_STREAM and ftype in (DATA, HEADERS):
                if out["status"] is not None:
                    return out
        raise AssertionError("no end of stream %d: %r" % (sid, out))


# ---- clients: ALPN, h2c, bodies ---------------------------------------------------------

def test_curl_alpn_h2_over_tls(gh_factory, backend, pki):
    gh = gh_factory(h2_config(backend, tls=pki))
    port = gh.ports[0]
    out = curl("--http2", *tls_args(pki, port), "-w", "\n%{http_version}",
               "https://a.example.com:%d/echo" % port)
    body, version = out.rsplit(b"\n", 1)
    assert version == b"2"
    doc = json.loads(body)
    h = {k.lower(): v for k, v in doc["headers"]}
    assert doc["version"] == "HTTP/1.1"          # HTTP/1.1 upstream
    assert h["host"] == "a.example.com:%d" % port
    assert h["via"] == "2.0 gatehouse"
    assert h["x-forwarded-proto"] == "https"
    # the plain listener of the same gatehouse is HTTP/1 only
    out = curl("--http2", "-w", "\n%{http_version}", "http://127.0.0.1:%d/ping" % gh.ports[1])
    assert out == b"pong\n\n1.1"


def test_alpn_without_http2_is_http1(gh_factory, pki):
    gh = gh_factory(h2_config(tls=pki, http2=False))
    port = gh.ports[0]
    out = curl("--http2", *tls_args(pki, port), "-w", "\n%{http_version}",
               "https://a.example.com:%d/ping" % port)
    assert out == b"pong\n\n1.1"


def test_h2c_prior_knowledge_beside_http1(gh_factory, backend):
    gh = gh_factory(h2_config(backend))
    port = gh.port
    out = curl("--http2-prior-knowledge", "-w", "\n%{http_version}",
               "http://127.0.0.1:%d/ping" % port)
    assert out == b"pong\n\n2"
    r = ghtest.get(port, "/ping")              # HTTP/1.1 on the same listener
    assert r.status == 200 and r.body == b"pong\n"
    # the preface split across reads
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    for piece in (PREFACE[:5], PREFACE[5:20], PREFACE[20:]):
        s.sendall(piece)
        time.sleep(0.05)
    raw = Raw.__new__(Raw)
    raw.s, raw.enc, raw.dec, raw.buf, raw.settings = s, hpack.Encoder(), hpack.Decoder(), b"", {}
    raw.send(frame(SETTINGS, 0, 0))
    raw.get(1)
    r = raw.response(1)
    assert r["status"] == 200 and r["body"] == b"pong\n"
    raw.close()


def test_bodies_both_ways(gh_factory, backend, pki):
    """A 5 MB chunked download and a 3 MB upload, byte for byte, on TLS and h2c."""
    gh = gh_factory(h2_config(backend, tls=pki))
    tls_port = gh.ports[0]
    n = 5 * 1024 * 1024
    out = curl("--http2", *tls_args(pki, tls_port), "https://a.example.com:%d/chunked/%d"
               % (tls_port, n))
    assert out == ghtest.pattern(n)
    body = os.urandom(3 * 1024 * 1024)
    doc = json.loads(curl("--http2", *tls_args(pki, tls_port), "--data-binary", "@-",
                          "https://a.example.com:%d/echo" % tls_port, input_=body))
    assert doc["body_len"] == len(body)
    assert doc["body_sha256"] == hashlib.sha256(body).hexdigest()
    gh2 = gh_factory(h2_config(backend))
    doc = json.loads(curl("--http2-prior-knowledge", "--data-binary", "@-",
                          "http://127.0.0.1:%d/echo" % gh2.port, input_=body))
    assert doc["body_sha256"] == hashlib.sha256(body).hexdigest()
    # unknown length (no content-length): chunked upstream
    doc = json.loads(curl("--http2-prior-knowledge", "-H", "Transfer-Encoding: chunked",
                          "--data-binary", "@-", "http://127.0.0.1:%d/echo" % gh2.port,
                          input_=body))
    assert doc["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_nghttp_many_streams_one_connection(gh_factory, backend):
    need("nghttp")
    gh = gh_factory(h2_config(backend))
    urls = ["http://127.0.0.1:%d/bytes/%d" % (gh.port, 1000 + i) for i in range(60)]
    r = subprocess.run(["nghttp", "-n", "-s", "-m", "1"] + urls, capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    # -s prints one line per stream: "id  responseEnd ... status ... path"
    assert r.stdout.decode().count(" 200 ") >= 60 or len(backend.requests()) >= 60
    reqs = wait_for(lambda: (lambda q: q if len(q) >= 60 else None)(backend.requests()), 5)
    assert len({q["peer"] for q in reqs}) <= 60


def test_concurrent_streams_each_get_their_answer(gh_factory, backend):
    """100 streams open at once on one connection, each answered with its own target."""
    gh = gh_factory(h2_config(backend))
    raw = Raw(gh.port)
    sids = list(range(1, 201, 2))
    for sid in sids:
        raw.get(sid, "/echo?i=%d" % sid)
    got = {}
    deadline = time.monotonic() + 20
    bodies = {sid: b"" for sid in sids}
    while len(got) < len(sids) and time.monotonic() < deadline:
        f = raw.read_frame()
        assert f is not None
        ftype, flags, sid, payload = f
        if ftype == HEADERS:
            raw.dec.decode(payload)
        if ftype == DATA:
            bodies[sid] += payload
            raw.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", len(payload) or 1)))
        if ftype in (DATA, HEADERS) and flags & END_STREAM:
            got[sid] = json.loads(bodies[sid])
        assert ftype != RST_STREAM, (sid, payload)
    raw.close()
    assert len(got) == len(sids)
    for sid, doc in got.items():
        assert doc["target"] == "/echo?i=%d" % sid


def test_h2load_many_streams(gh_factory, backend):
    need("h2load")
    gh = gh_factory(h2_config(backend))
    for path, n in (("/ping", 20000), ("/echo", 2000)):
        r = subprocess.run(["h2load", "-n", str(n), "-c", "4", "-m", "50",
                            "http://127.0.0.1:%d%s" % (gh.port, path)],
                           capture_output=True, timeout=120)
        out = r.stdout.decode()
        assert "%d succeeded, 0 failed, 0 errored" % n in out, out
        assert "%d 2xx" % n in out, out


def test_large_download_constant_memory(gh_factory, backend):
    """20 MB to a client reading at 4 MB/s: the worker's memory stays flat."""
    gh = gh_factory(h2_config(backend))
    n = 20 * 1000 * 1000
    worker = gh.worker_pids()[0]
    sampler = ghtest.RssSampler([worker]).start()
    base = sampler.samples[0]
    out = curl("--http2-prior-knowledge", "--limit-rate", "4M",
               "http://127.0.0.1:%d/bytes/%d" % (gh.port, n), timeout=60)
    sampler.stop()
    assert hashlib.sha256(out).digest() == hashlib.sha256(ghtest.pattern(n)).digest()
    assert sampler.peak() - base < 8 * 1024, (base, sampler.peak())


def test_access_log_says_http2(gh_factory, backend):
    gh = gh_factory(h2_config(backend))
    curl("--http2-prior-knowledge", "http://127.0.0.1:%d/echo" % gh.port)
    curl("--http2-prior-knowledge", "http://127.0.0.1:%d/ping" % gh.port)
    lines = wait_for(lambda: (lambda l: l if len(l) >= 2 else None)(gh.access_lines()), 5)
    assert '"GET /echo HTTP/2.0" 200' in lines[0], lines
    assert '"GET /ping HTTP/2.0" 200 5' in lines[1], lines


def test_answers_made_here(gh_factory, pki):
    gh = gh_factory(h2_config(tls=pki, routes=[route_return("= /ping", 200, "pong\n"),
                                               route_return("= /moved", 301,
                                                            location="https://example.com/new")]))
    raw = Raw(gh.ports[0], pki=pki)
    raw.get(1, "/moved")
    r = raw.response(1)
    h = dict(r["headers"])
    assert r["status"] == 301 and h["location"] == "https://example.com/new"
    raw.get(3, "/nowhere")
    assert raw.response(3)["status"] == 404
    raw.headers(5, [(":method", "TRACE"), (":scheme", "https"), (":path", "/ping"),
                    (":authority", "a.example.com")])
    assert raw.response(5)["status"] == 405
    raw.headers(7, [(":method", "HEAD"), (":scheme", "https"), (":path", "/ping"),
                    (":authority", "a.example.com")])
    r = raw.response(7)
    assert r["status"] == 200 and r["body"] == b""
    raw.close()


# ---- RFC 9113 8.3: malformed requests are stream errors, never forwarded ----------------

BAD_REQUESTS = {
    "missing :path": [(":method", "GET"), (":scheme", "http"), (":authority", "x")],
    "missing :method": [(":scheme", "http"), (":path", "/echo"), (":authority", "x")],
    "duplicate :path": [(":method", "GET"), (":scheme", "http"), (":path", "/echo"),
                        (":path", "/echo"), (":authority", "x")],
    "unknown pseudo-header": [(":method", "GET"), (":scheme", "http"), (":path", "/echo"),
                              (":authority", "x"), (":foo", "bar")],
    "pseudo-header after a field": [(":method", "GET"), (":scheme", "http"),
                                    (":authority", "x"), ("accept", "*/*"), (":path", "/echo")],
    "uppercase name": [(":method", "GET"), (":scheme", "http"), (":path", "/echo"),
                       (":authority", "x"), ("X-Upper", "1")],
    "connection": [(":method", "GET"), (":scheme", "http"), (":path", "/echo"),
                   (":authority", "x"), ("connection", "keep-alive")],
    "transfer-encoding": [(":method", "GET"), (":scheme", "http"), (":path", "/echo"),
                          (":authority", "x"), ("transfer-encoding", "chunked")],
    "te other than trailers": [(":method", "GET"), (":scheme", "http"), (":path", "/echo"),
                               (":authority", "x"), ("te", "gzip")],
    "authority and host differ": [(":method", "GET"), (":scheme", "http"), (":path", "/echo"),
                                  (":authority", "a.example"), ("host", "b.example")],
    "fragment in :path": [(":method", "GET"), (":scheme", "http"), (":path", "/echo#x"),
                          (":authority", "x")],
    "empty :path": [(":method", "GET"), (":scheme", "http"), (":path", ""),
                    (":authority", "x")],
}


def test_malformed_requests_are_stream_errors(gh_factory, backend):
    gh = gh_factory(h2_config(backend))
    raw = Raw(gh.port)
    sid = 1
    for what, fields in BAD_REQUESTS.items():
        raw.headers(sid, fields)
        r = raw.response(sid)
        assert r["rst"] == PROTOCOL_ERROR, (what, r)
        sid += 2
    # the connection is still good, and nothing reached the backend
    raw.get(sid, "/echo", [("te", "trailers")])
    r = raw.response(sid)
    assert r["status"] == 200, r
    raw.close()
    reqs = backend.requests()
    assert len(reqs) == 1 and reqs[0]["target"] == "/echo", reqs


def test_content_length_must_match_data(gh_factory, backend):
    gh = gh_factory(h2_config(backend))
    raw = Raw(gh.port)
    post = [(":method", "POST"), (":scheme", "http"), (":path", "/echo"), (":authority", "x")]
    raw.headers(1, post + [("content-length", "10")], end_stream=False)
    raw.data(1, b"short")                       # 5 bytes, END_STREAM
    assert raw.response(1)["rst"] == PROTOCOL_ERROR
    raw.headers(3, post + [("content-length", "4")], end_stream=False)
    raw.data(3, b"too long")
    assert raw.response(3)["rst"] == PROTOCOL_ERROR
    raw.headers(5, post + [("content-length", "4")], end_stream=False)
    raw.data(5, b"good")
    r = raw.response(5)
    assert r["status"] == 200 and json.loads(r["body"])["body_len"] == 4
    raw.close()


def test_cookie_crumbs_joined(gh_factory, backend):
    gh = gh_factory(h2_config(backend))
    raw = Raw(gh.port)
    raw.get(1, "/echo", [("cookie", "a=1"), ("user-agent", "raw"), ("cookie", "b=2")])
    r = raw.response(1)
    raw.close()
    h = [(k.lower(), v) for k, v in json.loads(r["body"])["headers"]]
    assert [v for k, v in h if k == "cookie"] == ["a=1; b=2"]
    assert ("user-agent", "raw") in h


def test_header_list_too_large(gh_factory, backend):
    gh = gh_factory(h2_config(backend, extra='limits = { max_header_size = "4k"; };'))
    raw = Raw(gh.port)
    assert raw.read_frame()[0] == SETTINGS
    assert raw.settings.get(6) == 4096           # SETTINGS_MAX_HEADER_LIST_SIZE
    raw.get(1, "/echo", [("x-big", "v" * 5000)])
    assert raw.response(1)["status"] == 431
    raw.get(3, "/" + "p" * 9000)
    assert raw.response(3)["status"] in (414, 431)
    raw.close()
    assert backend.requests() == []


# ---- limits and flow control ------------------------------------------------------------

def test_max_concurrent_streams(gh_factory, backend):
    gh = gh_factory(h2_config(backend, extra="http2 = { max_concurrent_streams = 2; };"))
    raw = Raw(gh.port)
    assert raw.read_frame()[0] == SETTINGS
    assert raw.settings.get(3) == 2              # SETTINGS_MAX_CONCURRENT_STREAMS
    time.sleep(0.2)
    raw.get(1, "/slow/800")
    raw.get(3, "/slow/800")
    raw.get(5, "/slow/800")
    r5 = raw.response(5)
    # nghttp2 refuses the stream (REFUSED_STREAM) while our SETTINGS is not
    # acknowledged, and once it is treats the excess as a connection error
    # (GOAWAY PROTOCOL_ERROR naming stream 3)
    assert r5["rst"] == REFUSED_STREAM or r5["goaway"] == (3, PROTOCOL_ERROR), r5
    raw.close()
    out = curl("--http2-prior-knowledge", "http://127.0.0.1:%d/ping" % gh.port)
    assert out == b"pong\n"


class Upload:
    """A request body sent as the client's windows allow."""

    def __init__(self, raw, sid, total):
        self.raw, self.sid, self.total = raw, sid, total
        self.window = self.conn_window = 65535
        self.sent = 0

    def take(self, f):
        if f and f[0] == WINDOW_UPDATE:
            inc = struct.unpack(">I", f[3])[0]
            if f[2] == 0:
                self.conn_window += inc
            else:
                self.window += inc

    def send_what_fits(self):
        while self.sent < self.total and min(self.window, self.conn_window) > 0:
            k = min(16384, self.window, self.conn_window, self.total - self.sent)
            self.raw.data(self.sid, b"u" * k, end_stream=(self.sent + k == self.total))
            self.sent += k
            self.window -= k
            self.conn_window -= k


def test_slow_upstream_holds_the_client(gh_factory):
    """An upstream that does not read: the client's upload stops at its window (plus
    the socket buffers), and completes once the upstream reads."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    port = ls.getsockname()[1]
    gh = gh_factory(h2_config(extra="", routes=[route_upstream("/", "app")]).replace(
        "upstreams = (\n", "upstreams = (\n  " + upstream("app", [port]) + "\n", 1))
    raw = Raw(gh.port)
    total = 8 * 1024 * 1024                     # under max_body_size
    ls.settimeout(5)
    raw.headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/up"),
                    (":authority", "x"), ("content-length", str(total))], end_stream=False)
    conn, _ = ls.accept()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    up = Upload(raw, 1, total)
    raw.s.settimeout(0.5)
    stalled_at = None
    while up.sent < total:
        up.send_what_fits()
        if up.sent == total:
            break
        try:
            up.take(raw.read_frame())
        except socket.timeout:
            stalled_at = up.sent                # no WINDOW_UPDATE for half a second
            break
    assert stalled_at is not None and stalled_at < 4 * 1024 * 1024, stalled_at
    # the upstream reads now: the client's window opens again and the upload ends
    got = 0
    conn.settimeout(0.05)
    raw.s.settimeout(0.05)
    deadline = time.monotonic() + 60
    while got < total and time.monotonic() < deadline:
        try:
            got += len(conn.recv(1 << 20))
        except socket.timeout:
            pass
        try:
            up.take(raw.read_frame())
        except socket.timeout:
            pass
        up.send_what_fits()
    sent = up.sent
    assert sent == total
    assert got > total                          # the head and the whole body
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
    raw.s.settimeout(5)
    r = raw.response(1)
    assert r["status"] == 200 and r["body"] == b"ok\n"
    raw.close()
    conn.close()
    ls.close()


# ---- lifecycle and attacks --------------------------------------------------------------

def goaway_and_answer(raw, sid):
    """Read until the server closes: its GOAWAY and the status and body of stream sid."""
    goaway, status, body = None, None, b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        f = raw.read_frame()
        if f is None:
            break
        ftype, flags, fsid, payload = f
        if ftype == GOAWAY:
            goaway = struct.unpack(">II", payload[:8])
        elif ftype == HEADERS and fsid == sid:
            status = int(dict(raw.dec.decode(payload))[":status"])
        elif ftype == DATA and fsid == sid:
            body += payload
    return goaway, status, body


@pytest.mark.parametrize("sig", [signal.SIGQUIT, signal.SIGHUP])
def test_quit_and_reload_send_goaway_and_finish_streams(gh_factory, backend, sig):
    gh = gh_factory(h2_config(backend))
    raw = Raw(gh.port)
    raw.get(1, "/slow/700")
    time.sleep(0.2)
    gh.signal(sig)
    goaway, status, body = goaway_and_answer(raw, 1)
    raw.close()
    assert goaway is not None and goaway[1] == NO_ERROR and goaway[0] >= 1, goaway
    assert status == 200 and body == b"slept 700\n"
    if sig == signal.SIGQUIT:
        gh.wait_exit(10)
    else:                                       # the new worker serves h2 at once
        out = curl("--http2-prior-knowledge", "http://127.0.0.1:%d/ping" % gh.port)
        assert out == b"pong\n"


def test_rapid_reset_is_cut(gh_factory, backend):
    """CVE-2023-44487: streams opened and reset at once, by the thousand: GOAWAY and
    close, the upstream requests abandoned, and the worker still serves."""
    gh = gh_factory(h2_config(backend))
    raw = Raw(gh.port)
    burst = b""
    for i in range(2000):
        sid = 1 + 2 * i
        block = raw.enc.encode([(":method", "GET"), (":scheme", "http"),
                                (":path", "/slow/300"), (":authority", "x")])
        burst += frame(HEADERS, END_HEADERS | END_STREAM, sid, block)
        burst += frame(RST_STREAM, 0, sid, struct.pack(">I", CANCEL))
    try:
        raw.send(burst)
    except (BrokenPipeError, ConnectionResetError):
        pass
    goaway = raw.goaway_then_close()
    raw.close()
    assert goaway is not None and goaway[1] != NO_ERROR, goaway
    out = curl("--http2-prior-knowledge", "http://127.0.0.1:%d/ping" % gh.port)
    assert out == b"pong\n"
    time.sleep(0.5)
    assert len(backend.requests()) < 1000


def test_idle_connection_gets_goaway(gh_factory):
    gh = gh_factory(h2_config(extra='timeouts = { keepalive = "1s"; };'))
    raw = Raw(gh.port, timeout=5)
    raw.get(1)
    assert raw.response(1)["status"] == 200
    t0 = time.monotonic()
    goaway = raw.goaway_then_close()
    assert goaway == (1, NO_ERROR)
    assert 0.5 < time.monotonic() - t0 < 4
    raw.close()


def test_metrics_count_sessions_streams_and_resets(gh_factory, backend):
    gh = gh_factory(h2_config(backend))
    raw = Raw(gh.port)
    raw.get(1, "/ping")
    assert raw.response(1)["status"] == 200
    raw.headers(3, BAD_REQUESTS["fragment in :path"])
    assert raw.response(3)["rst"] == PROTOCOL_ERROR
    raw.close()
    curl("--http2-prior-knowledge", "http://127.0.0.1:%d/ping" % gh.port)

    def metrics():
        text = ghtest.admin_request(gh, "GET", "/metrics").body.decode()
        got = {}
        for line in text.splitlines():
            if line.startswith("gatehouse_http2_"):
                k, v = line.split()
                got[k] = int(v)
        return got if got.get("gatehouse_http2_streams_total", 0) >= 2 else None
    m = wait_for(metrics, 5)
    assert m["gatehouse_http2_sessions_total"] == 2
    assert m["gatehouse_http2_streams_total"] == 2
    assert m["gatehouse_http2_streams_reset_total"] == 1
    assert m["gatehouse_http2_session_errors_total"] == 0
    doc = ghtest.admin_request(gh, "GET", "/status.json").json()
    assert doc["edge"]["http2_sessions"] == 2


def test_open_sessions_and_streams_gauges(gh_factory):
    """gatehouse_http2_open_sessions / _open_streams (and the same in /status.json) count
    what is open now: three sessions, one stream held by an upstream that does not answer;
    both go back to 0 when the clients leave."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    gh = gh_factory(h2_config(extra="", routes=[route_upstream("/", "app")]).replace(
        "upstreams = (\n", "upstreams = (\n  " + upstream("app", [ls.getsockname()[1]]) + "\n", 1))

    def gauges(want):
        def probe():
            text = ghtest.admin_request(gh, "GET", "/metrics").body.decode()
            got = {}
            for line in text.splitlines():
                if line.startswith("gatehouse_http2_open_"):
                    k, v = line.split()
                    got[k[len("gatehouse_http2_open_"):]] = int(v)
            return got if got == want else None
        got = wait_for(probe, 10)
        assert got == want
        edge = ghtest.admin_request(gh, "GET", "/status.json").json()["edge"]
        assert (edge["http2_open_sessions"], edge["http2_open_streams"]) == (
            want["sessions"], want["streams"])

    raws = [Raw(gh.port) for _ in range(3)]
    raws[0].get(1, "/held")
    ls.settimeout(5)
    conn, _ = ls.accept()                       # the stream is upstream, unanswered
    gauges({"sessions": 3, "streams": 1})
    for r in raws:
        r.close()
    conn.close()
    ls.close()
    gauges({"sessions": 0, "streams": 0})


def flood(raw, unit, seconds=2.0):
    """Send unit over and over for a while without reading; bytes sent."""
    raw.s.setblocking(False)
    sent, deadline, chunk = 0, time.monotonic() + seconds, unit * max(1, 65536 // len(unit))
    while time.monotonic() < deadline:
        try:
            sent += raw.s.send(chunk)
        except BlockingIOError:
            time.sleep(0.01)
        except (BrokenPipeError, ConnectionResetError):
            break
    raw.s.setblocking(True)
    raw.s.settimeout(5)
    return sent


def still_serves(gh):
    t0 = time.monotonic()
    assert curl("--http2-prior-knowledge", "http://127.0.0.1:%d/ping" % gh.port,
                timeout=10) == b"pong\n"
    return time.monotonic() - t0


@pytest.mark.parametrize("what", ["ping", "settings", "empty-data", "continuation"])
def test_floods_are_bounded(gh_factory, backend, what):
    """Frames that cost the client nothing, by the thousand: the session is ended (or
    held by its unread output), the worker's memory stays bounded and it serves on."""
    gh = gh_factory(h2_config(backend))
    worker = gh.worker_pids()[0]
    base = ghtest.proc_status_kb(worker)
    raw = Raw(gh.port)
    if what == "ping":
        unit = frame(PING, 0, 0, b"12345678")
    elif what == "settings":
        unit = frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 65535))
    elif what == "empty-data":
        raw.headers(1, [(":method", "POST"), (":scheme", "http"), (":path", "/slow/5000"),
                        (":authority", "x")], end_stream=False)
        unit = frame(DATA, 0, 1)
    else:
        block = raw.enc.encode([(":method", "GET"), (":scheme", "http"), (":path", "/ping"),
                                (":authority", "x")])
        raw.send(frame(HEADERS, 0, 1, block[:1]))
        unit = frame(CONTINUATION, 0, 1, b"")
    flood(raw, unit)
    rss = ghtest.proc_status_kb(worker)
    assert rss - base < 16 * 1024, (base, rss)
    assert still_serves(gh) < 2
    raw.close()


def test_zero_window_client_is_cut(gh_factory, backend):
    """A client that never opens its window: the stream is reset after timeouts.send,
    like an HTTP/1 client that does not read, and the upstream let go."""
    gh = gh_factory(h2_config(backend, extra='timeouts = { send = "1s"; };'))
    raw = Raw(gh.port, settings=struct.pack(">HI", 4, 0))   # INITIAL_WINDOW_SIZE 0
    raw.get(1, "/bytes/1000000")
    t0 = time.monotonic()
    rst = None
    while time.monotonic() - t0 < 10:
        f = raw.read_frame()
        assert f is not None
        if f[0] == RST_STREAM and f[2] == 1:
            rst = struct.unpack(">I", f[3])[0]
            break
        if f[0] == HEADERS:
            raw.dec.decode(f[3])
    assert rst is not None and 0.5 < time.monotonic() - t0 < 5
    raw.get(3, "/ping")                         # an answer made here: reset the same way
    t0 = time.monotonic()
    r = raw.response(3)
    assert r["rst"] is not None and 0.5 < time.monotonic() - t0 < 5, r
    raw.get(5, "/ping")                         # the connection still serves
    raw.send(frame(WINDOW_UPDATE, 0, 5, struct.pack(">I", 100)))
    r = raw.response(5)
    assert r["status"] == 200 and r["body"] == b"pong\n"
    raw.close()


def test_expect_continue_and_early_answer(gh_factory, backend):
    gh = gh_factory(h2_config(backend))
    raw = Raw(gh.port)
    post = [(":method", "POST"), (":scheme", "http"), (":authority", "x")]
    # 100-continue is forwarded and the interim answer relayed as HEADERS
    raw.headers(1, post + [(":path", "/echo"), ("content-length", "3"),
                           ("expect", "100-continue")], end_stream=False)
    statuses = []
    while not statuses or statuses[-1] < 100:
        f = raw.read_frame()
        if f[0] == HEADERS and f[2] == 1:
            statuses.append(int(dict(raw.dec.decode(f[3]))[":status"]))
            break
    assert statuses == [100], statuses
    raw.data(1, b"abc")
    r = raw.response(1)
    assert r["status"] == 200 and json.loads(r["body"])["body_len"] == 3
    # an upstream that answers before reading the body: the answer, then RST NO_ERROR
    raw.headers(3, post + [(":path", "/reject-early/403"), ("content-length", "1000000")],
                end_stream=False)
    raw.data(3, b"x" * 16384, end_stream=False)
    r = raw.response(3)
    assert r["status"] == 403, r
    f = raw.read_frame()
    while f is not None and not (f[0] == RST_STREAM and f[2] == 3):
        f = raw.read_frame()
    assert f is not None and struct.unpack(">I", f[3])[0] == NO_ERROR
    raw.get(5, "/ping")
    assert raw.response(5)["status"] == 200
    raw.close()


def test_hpack_table_size_over_settings(gh_factory, backend):
    """A header block that grows HPACK's dynamic table past the 4,096 bytes our
    SETTINGS allow: a connection error (COMPRESSION_ERROR), nothing forwarded."""
    gh = gh_factory(h2_config(backend))
    raw = Raw(gh.port)
    block = b"\x3f\xe1\xff\x03" + hpack.Encoder().encode(
        [(":method", "GET"), (":scheme", "http"), (":path", "/echo"), (":authority", "x")])
    raw.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
    assert raw.goaway_then_close()[1] == 9      # COMPRESSION_ERROR
    raw.close()
    assert still_serves(gh) < 2
    assert backend.requests() == []
