"""Edge protection: 2,000 slowloris connections (heads that never finish)
while a normal client keeps its latency; the client_header timeout then
answers them 408 and closes them."""

import resource
import socket
import time

import pytest

import ghtest
from ghtest import make_config, route_return


def test_slowloris_2000_connections(gh_factory):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 2300:
        pytest.skip("needs 2,300 descriptors")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    gh = gh_factory(make_config(workers=2, routes=[route_return("= /ping", 200, "pong\n")],
                                extra='timeouts = { client_header = "4s"; };'))
    slow = []
    try:
        for i in range(2000):
            s = socket.socket()
            s.setblocking(True)
            s.connect(("127.0.0.1", gh.port))
            s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            slow.append(s)
        # Drip a byte into some of them; a normal client keeps its latency.
        worst = 0.0
        with ghtest.HttpConn(gh.port) as c:
            for k in range(50):
                slow[k * 37 % len(slow)].send(b"a")
                t0 = time.monotonic()
                assert c.request("GET", "/ping").status == 200
                worst = max(worst, time.monotonic() - t0)
        for _ in range(20):
            t0 = time.monotonic()
            assert ghtest.get(gh.port, "/ping").status == 200
            worst = max(worst, time.monotonic() - t0)
        assert worst < ghtest.scaled(0.25), worst
        # The header timeout (from the first byte, not reset by dripping) ends them.
        deadline = time.monotonic() + ghtest.scaled(10)
        s = slow[0]
        s.settimeout(max(0.1, deadline - time.monotonic()))
        data = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
        assert data.startswith(b"HTTP/1.1 408"), data[:40]
    finally:
        for s in slow:
            s.close()
