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
  /healthz         200 "ok"
  / (and anything else)  200 "backend NAME\\n"

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
        if te is not None:
            if te.lower().split(",")[-1].strip() != "chunked":
                raise BadRequest("transfer-encoding")
            while True:
                size_line = self.conn.read_line().split(b";", 1)[0].strip()
                size = int(size_line, 16)
                if size == 0:
                    while self.conn.read_line() != b"":  # trailers
                        pass
                    break
                self.conn.read_exact(size, sink)
                if self.conn.read_line() != b"":
                    raise BadRequest("chunk end")
        elif cl is not None:
            self.conn.read_exact(int(cl), sink)

        self.server.log_request({
            "time": time.time(), "method": method, "target": target,
            "version": version, "headers": headers, "body_len": total[0],
            "body_sha256": digest.hexdigest(), "peer": self.peer,
            "conn_requests": self.nreq,
        })
        head_only = method == "HEAD"
        return self.dispatch(method, target, version, path, headers, total[0],
                             digest.hexdigest(), keep, head_only)

    def dispatch(self, method, target, version, path, headers, body_len, sha, keep, head_only):
        seg = path.strip("/").split("/")
        name = self.server.name
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
        elif seg[0] == "drip" and len(seg) == 3:
            n, ms = int(seg[1]), int(seg[2])
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
        else:
            self.respond(200, ("backend %s\n" % name).encode(), head=head_only, keep=keep)
        return keep


class Server:
    def __init__(self, name, log_path):
        self.name = name
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
    args = ap.parse_args()

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    ls = socket.socket(family, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.host, args.port))
    ls.listen(512)
    port = ls.getsockname()[1]
    server = Server(args.name, args.log)

    def on_term(signum, frame):
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    sys.stdout.write("backend %s listening on %s:%d\n" % (args.name, args.host, port))
    sys.stdout.flush()

    while True:
        try:
            sock, peer = ls.accept()
        except InterruptedError:
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        h = Handler(server, sock, peer[:2])
        t = threading.Thread(target=h.run, daemon=True)
        t.start()


if __name__ == "__main__":
    main()
