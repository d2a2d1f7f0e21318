#!/usr/bin/env python3
"""A small HTTP/1.1 origin server for the gatehouse integration tests.

Standard library only. One thread per connection, keep-alive, request bodies
framed by Content-Length or chunked, answers "100 Continue" to
"Expect: 100-continue". The behaviour is chosen per request by the path, so
one backend serves every mode:

  /echo            200 JSON {method, target, version, headers: [[name, value], ...],
                   body_len, body_sha256, peer, conn_requests, backend}
  /bytes/N         N bytes of the deterministic pattern, with Content-Length
  /chunked/N       N bytes of the pattern, chunked
  /slow/MS         sleeps MS milliseconds, then answers 200 "slept MS\\n"
  /status/CODE     that status (no body for 1xx, 204, 304 or HEAD)
  /close           closes the connection without answering
  /drip/N/MS       N bytes of the pattern with Content-Length, one byte every MS ms
  /drip/N/MS/WAIT  the same after sleeping WAIT ms before the head
  /healthz         200 "ok"
  / (and anything else)  200 "backend NAME\\n"

Modes added for the HTTP/1.1 engine tests (t/integ/test_http1_*.py):

  /early-hints     103 Early Hints (Link) then 200 "hinted\\n"
  /ws              with "Upgrade: websocket" and Sec-WebSocket-Key: 101 with
                   Sec-WebSocket-Accept, then echoes raw bytes until EOF;
                   without them 400 "no upgrade\\n"
  /unasked-101     101 Switching Protocols although nothing asked for it
  /reject-early/CODE  answers CODE (Connection: close) right after the head,
                   without reading the body, then drains for at most 10 s
  /reset           closes with SO_LINGER 0 (a TCP reset) without answering
  /garbage         sends bytes that are not HTTP, then closes
  /bighead/N       200 with a response head padded by one header of N bytes
  /hop-response    200 with hop-by-hop headers (Connection: X-Secret, X-Secret,
                   Keep-Alive, Upgrade, Proxy-Connection) and X-Kept
  /slowhead/MS     sleeps MS ms before the head (like /slow, for timeouts)
  /close-after/MS[/notify]  200 with keep-alive, then closes the connection MS ms
                   later (with TLS and /notify: close_notify first)
  /cache/ANY?h=Name:Value&status=CODE&len=N&chunked=1&wait=MS&drip=MS
                   for the cache tests: "fetch K of TARGET" (K counts the answers to
                   that target), padded to N bytes, with the given headers; wait:
                   sleep MS ms before the head; drip: the body in 5000-byte parts
                   MS ms apart; etag=T sends ETag: "T" and answers an If-None-Match
                   naming it with 304, lm=DATE sends Last-Modified: DATE and answers
                   an If-Modified-Since equal to it with 304 (K does not count
                   304s); h304=Name:Value adds a header to 304s only; wait304=MS
                   sleeps MS ms before a 304;
                   fail_after=N: from the (N+1)th answer on, a plain 500 "failing"
                   without the h headers (fail_status=S: S instead of 500); hang_after=N: from the (N+1)th answer on,
                   sleep 3 s before the head

Mode added for the compression tests (t/integ/test_compression.py):

  /typed/N?type=T&framing=F&status=S&h=NAME:VALUE...
                   N bytes of the pattern as Content-Type T (default
                   text/plain; "none" sends no Content-Type), framed by F:
                   length (default), chunked or close; status S (default 200;
                   no body for 1xx, 204, 304); each h adds a response header;
                   data=random: N bytes of random_bytes(N) instead (incompressible);
                   pause=MS: sleep MS ms after the first N/2 bytes of the body

A request that carried trailers is logged with "trailers": [[name, value]].
--unix PATH listens on a unix socket instead of TCP (port file gets 0).
--tls-cert F --tls-key F serve HTTPS (TLS 1.2 and 1.3, session tickets on;
--tls-max 1.2 caps the version); each request is then logged with "tls":
{sni, session_reused, version}, and a handshake that fails is logged as
{"tls_error": reason, "peer": ...} (no "method").

Every response carries "X-Backend: NAME", "Server: backend.py" and
"X-Powered-By: python" (so tests can check the proxy hides the last two).
Every complete request received is appended as one JSON line to --log:
{time, method, target, version, headers, body_len, peer, conn_requests}.

Usage: backend.py --port 0 --port-file F [--log F] [--name NAME] [--host 127.0.0.1]
The port file is written (atomically) once the socket listens.
"""

import argparse
import hashlib
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time

PATTERN = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"  # 64 bytes
BLOCK = PATTERN * 1024  # 64 KiB, a whole number of periods


def pattern(offset, n):
    """n bytes of the repeating pattern, starting at absolute offset."""
    start = offset % len(PATTERN)
    reps = (start + n) // len(PATTERN) + 1
    return (PATTERN * reps)[start:start + n]


def random_bytes(n):
    """Yield n pseudo-random (incompressible, reproducible) bytes in 64 KiB blocks."""
    import random
    rng = random.Random(n)
    while n > 0:
        k = min(n, 65536)
        yield rng.randbytes(k)
        n -= k


def words_bytes(n):
    """Yield n bytes of reproducible text of pseudo-random words, in 64 KiB blocks:
    compressible, but not so regular that every compression level finds the same."""
    import random
    rng = random.Random(n)
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
             for _ in range(400)]
    text = bytearray()
    while len(text) < n:
        text += rng.choice(vocab).encode() + (b".\n" if rng.random() < 0.08 else b" ")
    for i in range(0, n, 65536):
        yield bytes(text[i:min(n, i + 65536)])


def pattern_chunks(n):
    """Yield the pattern of length n in blocks of at most 64 KiB."""
    left = n
    while left > 0:
        k = min(left, len(BLOCK))
        yield BLOCK[:k]
        left -= k


REASONS = {
    100: "Continue", 101: "Switching Protocols", 103: "Early Hints",
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
    206: "Partial Content", 301: "Moved Permanently", 302: "Found",
    304: "Not Modified", 307: "Temporary Redirect", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 413: "Content Too Large",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}

MAX_HEAD = 64 * 1024


class BadRequest(Exception):
    pass


class Conn:
    """Buffered reader over a client socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError()
        self.buf += data

    def read_head(self):
        """Bytes up to and including the blank line; None on clean EOF before any byte."""
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head, self.buf = self.buf[:i + 4], self.buf[i + 4:]
                return head
            if len(self.buf) > MAX_HEAD:
                raise BadRequest("head too large")
            try:
                self._fill()
            except EOFError:
                if self.buf.strip(b"\r\n"):
                    raise BadRequest("EOF inside head")
                return None

    def read_line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            if len(self.buf) > MAX_HEAD:
                raise BadRequest("line too long")
            self._fill()

    def read_exact(self, n, sink):
        """Read n bytes, passing them to sink(bytes)."""
        while n > 0:
            if not self.buf:
                self._fill()
            part = self.buf[:n]
            self.buf = self.buf[len(part):]
            n -= len(part)
            sink(part)


class Handler:
    def __init__(self, server, sock, peer):
        self.server = server
        self.sock = sock
        self.peer = "%s:%d" % (peer[0], peer[1])
        self.conn = Conn(sock)
        self.nreq = 0
        self.tls = None

    def start_tls(self):
        """The TLS handshake (--tls-cert); False when it failed (logged)."""
        srv = self.server
        try:
            self.sock.settimeout(10)
            self.sock = srv.tls.wrap_socket(self.sock, server_side=True)
            self.sock.settimeout(None)
        except (OSError, ssl.SSLError) as e:
            srv.log_request({"time": time.time(), "tls_error": str(e), "peer": self.peer})
            return False
        with srv.log_lock:
            sni = srv.sni.pop(id(self.sock), None)
        self.tls = {"sni": sni, "session_reused": self.sock.session_reused,
                    "version": self.sock.version()}
        self.conn = Conn(self.sock)
        return True

    # -- output ----------------------------------------------------------
    def send_head(self, status, headers, version="HTTP/1.1"):
        reason = REASONS.get(status, "Status")
        lines = ["%s %d %s" % (version, status, reason)]
        lines.append("Server: backend.py")
        lines.append("X-Powered-By: python")
        lines.append("X-Backend: %s" % self.server.name)
        for k, v in headers:
            lines.append("%s: %s" % (k, v))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def respond(self, status, body=b"", ctype="text/plain", extra=(), head=False, keep=True):
        headers = list(extra)
        if ctype and body is not None:
            headers.append(("Content-Type", ctype))
        nobody = status < 200 or status in (204, 304)
        if not nobody:
            headers.append(("Content-Length", str(len(body))))
        if not keep:
            headers.append(("Connection", "close"))
        self.send_head(status, headers)
        if body and not head and not nobody:
            self.sock.sendall(body)

    # -- the loop ----------------------------------------------------------
    def run(self):
        if self.server.tls is not None and not self.start_tls():
            self.sock.close()
            return
        try:
            while self.one():
                pass
        except (BadRequest, ValueError) as e:
            try:
                self.respond(400, ("bad request: %s\n" % e).encode(), keep=False)
            except OSError:
                pass
        except (EOFError, OSError):
            pass
        finally:
            try:
                self.sock.close()
            except OSError:
                pass

    def one(self):
        head = self.conn.read_head()
        if head is None:
            return False
        lines = head[:-4].split(b"\r\n")
        while lines and lines[0] == b"":  # tolerate stray CRLF between requests
            lines.pop(0)
        if not lines:
            return True
        parts = lines[0].decode("latin-1").split(" ")
        if len(parts) != 3:
            raise BadRequest("request line")
        method, target, version = parts
        headers = []
        for raw in lines[1:]:
            if b":" not in raw:
                raise BadRequest("header line")
            k, v = raw.split(b":", 1)
            headers.append([k.decode("latin-1"), v.decode("latin-1").strip(" \t")])
        self.nreq += 1

        def hget(name):
            name = name.lower()
            for k, v in headers:
                if k.lower() == name:
                    return v
            return None

        conn_tokens = [t.strip().lower() for t in (hget("connection") or "").split(",")]
        if version == "HTTP/1.1":
            keep = "close" not in conn_tokens
        else:
            keep = "keep-alive" in conn_tokens

        path = target.split("?", 1)[0]
        if path.startswith("http://") or path.startswith("https://"):
            path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"

        # The body.
        if (hget("expect") or "").lower() == "100-continue" and version == "HTTP/1.1":
            if not path.startswith("/status/"):
                self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        digest = hashlib.sha256()
        total = [0]

        def sink(b):
            total[0] += len(b)
            digest.update(b)

        te = hget("transfer-encoding")
        cl = hget("content-length")
        trailers = []
        if path.startswith("/reject-early/"):
            return self.reject_early(method, target, version, path, headers)
        if te is not None:
            if te.lower().split(",")[-1].strip() != "chunked":
                raise BadRequest("transfer-encoding")
            while True:
                size_line = self.conn.read_line().split(b";", 1)[0].strip()
                size = int(size_line, 16)
                if size == 0:
                    while True:  # trailers
                        tl = self.conn.read_line()
                        if tl == b"":
                            break
                        tk, _, tv = tl.decode("latin-1").partition(":")
                        trailers.append([tk, tv.strip(" \t")])
                    break
                self.conn.read_exact(size, sink)
                if self.conn.read_line() != b"":
                    raise BadRequest("chunk end")
        elif cl is not None:
            self.conn.read_exact(int(cl), sink)

        doc = {
            "time": time.time(), "method": method, "target": target,
            "version": version, "headers": headers, "body_len": total[0],
            "body_sha256": digest.hexdigest(), "peer": self.peer,
            "conn_requests": self.nreq,
        }
        if trailers:
            doc["trailers"] = trailers
        if self.tls is not None:
            doc["tls"] = self.tls
        self.server.log_request(doc)
        head_only = method == "HEAD"
        return self.dispatch(method, target, version, path, headers, total[0],
                             digest.hexdigest(), keep, head_only)

    def reject_early(self, method, target, version, path, headers):
        """Answer at once without reading the body; then drain (bounded) and close."""
        code = int(path.strip("/").split("/")[1])
        self.server.log_request({
            "time": time.time(), "method": method, "target": target,
            "version": version, "headers": headers, "body_len": -1,
            "body_sha256": "", "peer": self.peer, "conn_requests": self.nreq,
            "early": True})
        self.respond(code, ("early %d\n" % code).encode(), keep=False)
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.sock.settimeout(1.0)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if not self.sock.recv(65536):
                    break
            except socket.timeout:
                continue
            except OSError:
                break
        return False

    def dispatch_extra(self, method, target, version, path, headers, keep, head_only):
        """The modes added for the HTTP/1.1 engine tests; None when path is none of them."""
        seg = path.strip("/").split("/")

        def hget(name):
            for k, v in headers:
                if k.lower() == name:
                    return v
            return None
        if path == "/early-hints":
            self.sock.sendall(b"HTTP/1.1 103 Early Hints\r\n"
                              b"Link: </style.css>; rel=preload; as=style\r\n\r\n")
            time.sleep(0.05)
            self.respond(200, b"hinted\n", head=head_only, keep=keep)
            return keep
        if path == "/ws":
            key = hget("sec-websocket-key")
            if (hget("upgrade") or "").lower() != "websocket" or not key:
                self.respond(400, b"no upgrade\n", keep=keep)
                return keep
            import base64
            accept = base64.b64encode(hashlib.sha1(
                (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
            self.send_head(101, [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                 ("Sec-WebSocket-Accept", accept)])
            if self.conn.buf:
                self.sock.sendall(self.conn.buf)
                self.conn.buf = b""
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                self.sock.sendall(data)
            return False
        if path == "/unasked-101":
            self.send_head(101, [("Upgrade", "websocket"), ("Connection", "Upgrade")])
            time.sleep(0.5)
            return False
        if path == "/reset":
            import struct
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if path == "/garbage":
            self.sock.sendall(b"SSH-2.0-OpenSSH_9.0 this is not http\r\n\x00\x01\x02\r\n\r\n")
            return False
        if seg[0] == "bighead" and len(seg) == 2:
            n = int(seg[1])
            self.respond(200, b"big head\n", extra=[("X-Big", "b" * n)], head=head_only, keep=keep)
            return keep
        if path == "/hop-response":
            self.respond(200, b"hop\n", extra=[("Connection", "X-Secret"), ("X-Secret", "1"),
                                               ("Keep-Alive", "timeout=5"),
                                               ("Proxy-Connection", "keep-alive"),
                                               ("Upgrade", "foo"), ("X-Kept", "yes")],
                         head=head_only, keep=keep)
            return keep
        if seg[0] == "close-after" and len(seg) in (2, 3):
            # Answer with keep-alive, then close the idle connection MS ms later
            # (with TLS and /notify: a close_notify first, waiting at most 5 s for the
            # peer's).
            self.respond(200, b"closing soon\n", head=head_only, keep=True)
            time.sleep(int(seg[1]) / 1000.0)
            if len(seg) == 3 and seg[2] == "notify" and self.tls is not None:
                self.sock.settimeout(5)
                try:
                    self.sock = self.sock.unwrap()
                except (OSError, ssl.SSLError):
                    pass
            return False
        if seg[0] == "typed" and len(seg) == 2:
            return self.typed(int(seg[1]), target, version, keep, head_only)
        if seg[0] == "slowhead" and len(seg) == 2:
            time.sleep(int(seg[1]) / 1000.0)
            self.respond(200, b"slow head\n", head=head_only, keep=keep)
            return keep
        return None

    def typed(self, n, target, version, keep, head_only):
        from urllib.parse import parse_qs, urlsplit
        q = parse_qs(urlsplit(target).query)
        ctype = q.get("type", ["text/plain"])[0]
        framing = q.get("framing", ["length"])[0]
        status = int(q.get("status", ["200"])[0])
        ext = [] if ctype == "none" else [("Content-Type", ctype)]
        for h in q.get("h", []):
            k, _, v = h.partition(":")
            ext.append((k.strip(), v.strip()))
        nobody = status < 200 or status in (204, 304)
        if framing == "chunked" and version == "HTTP/1.1" and not nobody:
            ext.append(("Transfer-Encoding", "chunked"))
        elif framing == "close" or (framing == "chunked" and not nobody):
            keep = False
        elif not nobody:
            ext.append(("Content-Length", str(n)))
        if not keep:
            ext.append(("Connection", "close"))
        self.send_head(status, ext)
        if head_only or nobody:
            return keep
        data = q.get("data", [""])[0]
        blocks = random_bytes(n) if data == "random" else words_bytes(n) if data == "words" \
            else pattern_chunks(n)
        pause = int(q.get("pause", ["0"])[0])
        if pause:
            body = b"".join(blocks)
            blocks = [body[:n // 2], None, body[n // 2:]]
        for block in blocks:
            if block is None:
                time.sleep(pause / 1000.0)
                continue
            if framing == "chunked" and version == "HTTP/1.1":
                block = b"%x\r\n" % len(block) + block + b"\r\n"
            self.sock.sendall(block)
        if framing == "chunked" and version == "HTTP/1.1":
            self.sock.sendall(b"0\r\n\r\n")
        return keep

    def dispatch(self, method, target, version, path, headers, body_len, sha, keep, head_only):
        seg = path.strip("/").split("/")
        name = self.server.name
        extra = self.dispatch_extra(method, target, version, path, headers, keep, head_only)
        if extra is not None:
            return extra
        if path == "/echo" or path.startswith("/echo/"):
            doc = {"method": method, "target": target, "version": version,
                   "headers": headers, "body_len": body_len, "body_sha256": sha,
                   "peer": self.peer, "conn_requests": self.nreq, "backend": name}
            body = (json.dumps(doc) + "\n").encode()
            self.respond(200, body, "application/json", head=head_only, keep=keep)
        elif seg[0] == "bytes" and len(seg) == 2:
            n = int(seg[1])
            ext = [("Content-Type", "application/octet-stream"), ("Content-Length", str(n))]
            if not keep:
                ext.append(("Connection", "close"))
            self.send_head(200, ext)
            if not head_only:
                for block in pattern_chunks(n):
                    self.sock.sendall(block)
        elif seg[0] == "chunked" and len(seg) == 2:
            n = int(seg[1])
            if version != "HTTP/1.1":
                # HTTP/1.0 cannot receive chunked: close-delimited instead.
                self.send_head(200, [("Content-Type", "application/octet-stream"),
                                     ("Connection", "close")], version="HTTP/1.1")
                if not head_only:
                    for block in pattern_chunks(n):
                        self.sock.sendall(block)
                return False
            ext = [("Content-Type", "application/octet-stream"), ("Transfer-Encoding", "chunked")]
            if not keep:
                ext.append(("Connection", "close"))
            self.send_head(200, ext)
            if not head_only:
                for block in pattern_chunks(n):
                    self.sock.sendall(b"%x\r\n" % len(block) + block + b"\r\n")
                self.sock.sendall(b"0\r\n\r\n")
        elif seg[0] == "slow" and len(seg) == 2:
            ms = int(seg[1])
            time.sleep(ms / 1000.0)
            self.respond(200, ("slept %d\n" % ms).encode(), head=head_only, keep=keep)
        elif seg[0] == "status" and len(seg) == 2:
            code = int(seg[1])
            self.respond(code, ("status %d\n" % code).encode(), head=head_only, keep=keep)
        elif path == "/close":
            return False
        elif seg[0] == "drip" and len(seg) in (3, 4):
            n, ms = int(seg[1]), int(seg[2])
            if len(seg) == 4:
                time.sleep(int(seg[3]) / 1000.0)
            ext = [("Content-Type", "application/octet-stream"), ("Content-Length", str(n))]
            if not keep:
                ext.append(("Connection", "close"))
            self.send_head(200, ext)
            if not head_only:
                data = pattern(0, n)
                for i in range(n):
                    if i:
                        time.sleep(ms / 1000.0)
                    self.sock.sendall(data[i:i + 1])
        elif path == "/healthz":
            self.respond(200, b"ok", head=head_only, keep=keep)
        elif seg[0] == "cache":
            return self.cache_mode(target, head_only, keep, headers)
        else:
            self.respond(200, ("backend %s\n" % name).encode(), head=head_only, keep=keep)
        return keep


def _cache_params(target):
    from urllib.parse import parse_qsl
    query = target.split("?", 1)[1] if "?" in target else ""
    return parse_qsl(query, keep_blank_values=True)


_cache_count = {}
_cache_lock = threading.Lock()


def _cache_not_modified(params, headers):
    """The 304 _cache_mode answers, or None: etag=T against If-None-Match (weak
    comparison), lm=DATE against an equal If-Modified-Since."""
    got = {}
    for k, v in headers or []:
        got.setdefault(k.lower(), []).append(v)
    etag = lm = None
    ext, ext304 = [], []
    for name, value in params:
        if name == "etag":
            etag = '"%s"' % value
        elif name == "lm":
            lm = value
        elif name == "h304":
            hn, _, hv = value.partition(":")
            ext304.append((hn, hv.strip()))
    if etag:
        ext.append(("ETag", etag))
    if lm:
        ext.append(("Last-Modified", lm))
    inm = ",".join(got.get("if-none-match", []))
    tags = [t.strip() for t in inm.split(",") if t.strip()]
    if tags:
        hit = etag is not None and any(t == "*" or t.replace("W/", "", 1) == etag for t in tags)
    else:
        hit = lm is not None and lm in got.get("if-modified-since", [])
    return ext, (ext + ext304 if hit else None)


def _cache_mode(self, target, head_only, keep, headers=None):
    """/cache/ANY?h=Name:Value&status=CODE&len=N&chunked=1: for the cache tests. The body
    is "fetch K of TARGET\n" (K counts this backend's answers to that target) padded
    with the pattern to N bytes; h adds a header (repeatable); etag, lm and h304 as the
    module's docstring says."""
    params = _cache_params(target)
    validators, not_modified = _cache_not_modified(params, headers)
    if not_modified is not None:
        # the h headers too, but those h304 replaces
        names304 = {k.lower() for k, _ in not_modified}
        ext = []
        for name, value in params:
            hn, _, hv = value.partition(":")
            if name == "h" and hn.lower() not in names304:
                ext.append((hn, hv.strip()))
        if not keep:
            not_modified.append(("Connection", "close"))
        for name, value in params:
            if name == "wait304":
                time.sleep(int(value) / 1000.0)
        self.send_head(304, ext + not_modified)
        return keep
    with _cache_lock:
        _cache_count[target] = _cache_count.get(target, 0) + 1
        k = _cache_count[target]
    status, n, chunked, ext, wait, drip, failing = 200, None, False, [], 0, 0, False
    fail_status = 500
    for name, value in params:
        if name == "h":
            hn, _, hv = value.partition(":")
            ext.append((hn, hv.strip()))
        elif name == "status":
            status = int(value)
        elif name == "len":
            n = int(value)
        elif name == "chunked":
            chunked = True
        elif name == "wait":
            wait = int(value)
        elif name == "drip":
            drip = int(value)
        elif name == "fail_after" and k > int(value):
            failing = True
        elif name == "fail_status":
            fail_status = int(value)
        elif name == "hang_after" and k > int(value):
            wait = 3000
    if failing:
        body = b"failing\n"
        self.send_head(fail_status, [("Content-Type", "text/plain"),
                             ("Content-Length", str(len(body)))]
                       + ([] if keep else [("Connection", "close")]))
        if not head_only:
            self.sock.sendall(body)
        return keep
    if wait:
        time.sleep(wait / 1000.0)
    ext += validators
    body = ("fetch %d of %s\n" % (k, target)).encode()
    if n is not None:
        body = (body + pattern(0, max(0, n - len(body))))[:n]
    if status in (204, 304):
        body = b""
    ext.append(("Content-Type", "text/plain"))
    if chunked and status not in (204, 304):
        ext.append(("Transfer-Encoding", "chunked"))
    else:
        ext.append(("Content-Length", str(len(body))))
    if not keep:
        ext.append(("Connection", "close"))
    self.send_head(status, ext)
    if not head_only and body:
        if chunked:
            for i in range(0, len(body), 5000):
                part = body[i:i + 5000]
                self.sock.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
                if drip:
                    time.sleep(drip / 1000.0)
            self.sock.sendall(b"0\r\n\r\n")
        elif drip:
            for i in range(0, len(body), 5000):
                self.sock.sendall(body[i:i + 5000])
                time.sleep(drip / 1000.0)
        else:
            self.sock.sendall(body)
    return keep


Handler.cache_mode = _cache_mode


class Server:
    def __init__(self, name, log_path):
        self.name = name
        self.tls = None                 # an ssl.SSLContext with --tls-cert
        self.sni = {}                   # id(SSLSocket) -> the name it asked for
        self.log_lock = threading.Lock()
        self.log_file = open(log_path, "a", buffering=1) if log_path else None

    def log_request(self, doc):
        if not self.log_file:
            return
        line = json.dumps(doc) + "\n"
        with self.log_lock:
            self.log_file.write(line)
            self.log_file.flush()


def main():
    ap = argparse.ArgumentParser(description="gatehouse test origin server")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--name", default="a")
    ap.add_argument("--unix", help="listen on this unix socket path instead of TCP")
    ap.add_argument("--tls-cert", help="serve TLS with this certificate (PEM, with its chain)")
    ap.add_argument("--tls-key", help="the key of --tls-cert")
    ap.add_argument("--tls-max", choices=("1.2", "1.3"), default="1.3")
    args = ap.parse_args()

    if args.unix:
        if os.path.exists(args.unix):
            os.unlink(args.unix)
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ls.bind(args.unix)
        ls.listen(512)
        port = 0
    else:
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        ls = socket.socket(family, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((args.host, args.port))
        ls.listen(512)
        port = ls.getsockname()[1]
    server = Server(args.name, args.log)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if args.tls_max == "1.2":
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(args.tls_cert, args.tls_key)

        def on_sni(sock, name, _ctx):
            with server.log_lock:
                server.sni[id(sock)] = name
        ctx.sni_callback = on_sni
        server.tls = ctx

    def on_term(signum, frame):
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    sys.stdout.write("backend %s listening on %s\n" % (
        args.name, "unix:" + args.unix if args.unix else "%s:%d" % (args.host, port)))
    sys.stdout.flush()

    while True:
        try:
            sock, peer = ls.accept()
        except InterruptedError:
            continue
        if args.unix:
            peer = ("unix", len(server.__dict__.setdefault("unix_conns", [])) + 1)
            server.unix_conns.append(1)
        else:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        h = Handler(server, sock, peer[:2])
        t = threading.Thread(target=h.run, daemon=True)
        t.start()


if __name__ == "__main__":
    main()
