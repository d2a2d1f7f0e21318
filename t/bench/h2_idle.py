#!/usr/bin/python3
"""t/bench/h2_idle.py: hold N idle HTTP/2 connections to 127.0.0.1:PORT for the memory figure of
t/bench/h2.sh. Each connection sends the preface and SETTINGS, one GET / (END_STREAM), reads
until that stream has ended and answers the server's SETTINGS and PINGs, then stays open and
quiet. Prints "ready OK open OPEN" once all are done, then waits (at most -t seconds) for
SIGUSR1 or SIGTERM and prints "open OPEN" (connections the proxy has not closed) before it exits.

    h2_idle.py -p PORT -n N [--tls CAFILE] [-t SECS]
"""
import argparse
import selectors
import signal
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events


def one(port, ctx, deadline):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if ctx is not None:
        s = ctx.wrap_socket(s, server_hostname="localhost")
        if s.selected_alpn_protocol() != "h2":
            raise RuntimeError("ALPN did not select h2: %r" % s.selected_alpn_protocol())
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    c.initiate_connection()
    c.send_headers(1, [(":method", "GET"), (":path", "/"), (":scheme", "https" if ctx else "http"),
                       (":authority", "localhost")], end_stream=True)
    s.sendall(c.data_to_send())
    status = None
    while time.monotonic() < deadline:
        data = s.recv(65536)
        if not data:
            raise RuntimeError("closed by the proxy")
        for ev in c.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                status = dict(ev.headers).get(b":status")
            elif isinstance(ev, h2.events.DataReceived):
                c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                s.sendall(c.data_to_send())
                if status != b"200":
                    raise RuntimeError("status %r" % status)
                return s, c
        s.sendall(c.data_to_send())
    raise RuntimeError("no answer in time")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-p", type=int, required=True)
    ap.add_argument("-n", type=int, required=True)
    ap.add_argument("--tls", metavar="CAFILE")
    ap.add_argument("-t", type=float, default=300)
    a = ap.parse_args()
    ctx = None
    if a.tls:
        ctx = ssl.create_default_context(cafile=a.tls)
        ctx.set_alpn_protocols(["h2"])
    deadline = time.monotonic() + a.t
    conns, errors = [], 0
    for _ in range(a.n):
        if time.monotonic() >= deadline:
            break
        try:
            conns.append(one(a.p, ctx, deadline))
        except (OSError, RuntimeError, h2.exceptions.ProtocolError) as e:
            errors += 1
            if errors <= 3:
                print("error: %s" % e, file=sys.stderr)
    print("ready %d open %d errors %d" % (len(conns), len(conns), errors), flush=True)
    stop = []
    signal.signal(signal.SIGUSR1, lambda *_: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    sel = selectors.DefaultSelector()
    for s, c in conns:
        sel.register(s, selectors.EVENT_READ, c)
    left = len(conns)
    while not stop and time.monotonic() < deadline and left > 0:
        try:
            ready = sel.select(0.5)
        except InterruptedError:
            continue
        for key, _ in ready:
            s, c = key.fileobj, key.data
            try:
                data = s.recv(65536)
                if data:
                    c.receive_data(data)
                    s.sendall(c.data_to_send())
            except (OSError, ssl.SSLError, h2.exceptions.ProtocolError):
                data = b""
            if not data:
                sel.unregister(s)
                left -= 1
    print("open %d" % left, flush=True)


if __name__ == "__main__":
    main()
