"""HTTP/1.1 engine acceptance: WebSocket tunnels and other upgrades (SPEC section 5)."""

import base64
import hashlib
import os
import socket

import pytest

import ghtest
from ghtest import HttpConn, get, make_config, upstream

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@pytest.fixture
def gh(gh_factory, backend):
    return gh_factory(make_config(workers=1, upstreams=[upstream("app", [backend.port])]))


def hdrs(doc, name):
    return [v for k, v in doc["headers"] if k.lower() == name.lower()]


def test_websocket_tunnel_two_way(gh, backend):
    key = base64.b64encode(os.urandom(16)).decode()
    with HttpConn(gh.port) as c:
        c.send(ghtest.websocket_request(key))
        r = c.read_response()
        assert r.status == 101, "expected 101, got %r %r" % (r, r.body[:200])
        want = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        assert r.header("Sec-WebSocket-Accept") == want, r.headers
        assert (r.header("Upgrade") or "").lower() == "websocket", r.headers
        assert "upgrade" in (r.header("Connection") or "").lower(), r.headers
        c.sock.settimeout(ghtest.scaled(5))
        pending = c.buf
        c.buf = b""
        assert pending == b"", "bytes after the 101 head: %r" % pending[:100]
        for msg in (b"hello", b"\x81\x05world", os.urandom(1 << 20)):
            c.sock.sendall(msg)
            assert ghtest.recv_exact(c.sock, len(msg)) == msg
        # half-close from the client: the tunnel relays the EOF and closes
        c.sock.shutdown(socket.SHUT_WR)
        rest, how = ghtest.read_until_close(c.sock, 5)
        assert rest == b"" and how in ("eof", "reset"), (rest[:100], how)


def test_other_upgrade_not_forwarded(gh, backend):
    r = get(gh.port, "/echo", headers=[("Connection", "Upgrade"), ("Upgrade", "h2c"),
                                       ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")])
    assert r.status == 200, r
    doc = r.json()
    assert hdrs(doc, "Upgrade") == [], doc["headers"]
    assert all("upgrade" not in v.lower() for v in hdrs(doc, "Connection")), doc["headers"]


def test_unasked_101_is_502(gh, backend):
    r = get(gh.port, "/unasked-101")
    assert r.status == 502, "expected 502 for an unasked 101, got %r %r" % (r, r.body[:200])


def test_websocket_refused_by_backend_is_relayed(gh, backend):
    """A backend that does not switch answers normally, and the client sees that answer."""
    r = get(gh.port, "/echo", headers=[("Connection", "Upgrade"), ("Upgrade", "websocket"),
                                       ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                                       ("Sec-WebSocket-Version", "13")])
    assert r.status == 200, r
