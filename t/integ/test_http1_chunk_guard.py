"""A chunked message whose first chunk is bad is refused before any of it is forwarded
(issue 9; SPEC section 5: "400, and the request is never forwarded"), in both directions.

The upstream here is a raw listening socket that records every byte it receives, so
"never forwarded" means not one byte, not only "no complete request" as backend.py
would tell."""

import socket
import threading
import time

import pytest

import ghtest
from ghtest import HttpConn, make_config, read_until_close, upstream

H = b"Host: localhost\r\n"
HEAD = b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"


class RawUpstream:
    """Accepts connections and records what each one received and whether it was closed
    by gatehouse; answers with `reply` (bytes) once it has seen a request head."""

    def __init__(self, reply=None):
        self.sock = ghtest.listening_socket()
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        self.conns = []                     # [{"data": bytearray, "eof": bool}]
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            rec = {"data": bytearray(), "eof": False}
            with self.lock:
                self.conns.append(rec)
            t = threading.Thread(target=self._serve, args=(c, rec), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, c, rec):
        c.settimeout(0.1)
        replied = False
        deadline = time.monotonic() + ghtest.scaled(10)
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                d = c.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                rec["eof"] = True
                break
            if not d:
                rec["eof"] = True
                break
            with self.lock:
                rec["data"] += d
            if self.reply is not None and not replied and b"\r\n\r\n" in rec["data"]:
                replied = True
                c.sendall(self.reply)
        c.close()

    def received(self):
        with self.lock:
            return [bytes(r["data"]) for r in self.conns]

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(2)
        self.sock.close()


@pytest.fixture
def raw_upstream():
    u = RawUpstream()
    yield u
    u.close()


def start(gh_factory, port, extra=""):
    return gh_factory(make_config(workers=1, upstreams=[upstream("app", [port])],
                                  extra='limits = { max_body_size = "1M"; };' + extra))


def answer(port, raw):
    c = HttpConn(port, timeout=5)
    try:
        c.send(raw)
        r = c.read_response()
        rest, how = read_until_close(c.sock, 3.0)
        return r, how
    finally:
        c.close()


@pytest.mark.parametrize("body", [
    b"zz\r\n",                               # not a hex digit
    b"10000000000000000\r\n",                # 17 digits: more than 64 bits
    b"FFFFFFFFFFFFFFFFF\r\n" + b"x" * 10,    # overflows 64 bits
    b"4000000000000001\r\n",                 # over the 2^62 bound
    b"5\r\nhelloXX",                         # data not followed by CRLF
    b"5\r\nhello\r\nzz\r\n",                 # a later chunk in the same segment
    b"5 x\r\nhello\r\n0\r\n\r\n",            # whitespace then junk after the size
], ids=["zz", "17digits", "overflow", "over2^62", "no-crlf", "second-bad", "ws-junk"])
def test_bad_chunk_with_the_head_never_forwarded(gh_factory, raw_upstream, body):
    gh = start(gh_factory, raw_upstream.port)
    r, how = answer(gh.port, HEAD + body)
    assert r.status == 400, r
    assert how in ("eof", "reset")
    time.sleep(ghtest.scaled(0.3))
    assert raw_upstream.received() == [], "forwarded: %r" % raw_upstream.received()


def test_chunked_over_max_body_with_the_head_never_forwarded(gh_factory, raw_upstream):
    gh = gh_factory(make_config(workers=1, upstreams=[upstream("app", [raw_upstream.port])],
                                extra='limits = { max_body_size = "100"; };'))
    r, how = answer(gh.port, HEAD + b"C8\r\n" + b"y" * 200 + b"\r\n0\r\n\r\n")
    assert r.status == 413, r
    time.sleep(ghtest.scaled(0.3))
    assert raw_upstream.received() == []


def test_good_chunks_with_the_head_still_forwarded(gh_factory, backend):
    gh = start(gh_factory, backend.port)
    r, _ = answer(gh.port, HEAD.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
                  + b"5;a=b\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n")
    assert r.status == 200
    assert r.json()["body_len"] == 11


def test_bad_chunk_later_closes_the_upstream_connection(gh_factory, raw_upstream):
    """The head and a good chunk went upstream; the bad chunk that follows gets the client
    a 400 and the upstream connection is closed, never put back in the pool."""
    gh = start(gh_factory, raw_upstream.port)
    c = HttpConn(gh.port, timeout=5)
    try:
        c.send(HEAD + b"5\r\nhello\r\n")
        ghtest.wait_for(lambda: any(b"hello" in d for d in raw_upstream.received()),
                        ghtest.scaled(5), what="the first chunk upstream")
        c.send(b"zz\r\n")
        r = c.read_response()
        assert r.status == 400
    finally:
        c.close()
    ghtest.wait_for(lambda: all(rec["eof"] for rec in raw_upstream.conns), ghtest.scaled(5),
                    what="the upstream connection closed")
    assert len(raw_upstream.conns) == 1


def test_bad_response_chunk_with_the_head_is_a_502(gh_factory):
    """The upstream's head and a malformed first chunk in one segment: the client gets a
    502, not a 200 head and then a cut connection."""
    u = RawUpstream(reply=b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    try:
        gh = start(gh_factory, u.port)
        r, how = answer(gh.port, b"GET /x HTTP/1.1\r\n" + H + b"\r\n")
        assert r.status == 502, r
    finally:
        u.close()
