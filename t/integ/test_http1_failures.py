"""HTTP/1.1 engine acceptance: upstream failures, timeouts, retries and client aborts
(SPEC section 5, timeouts and upstream settings of section 4).

Connect timeout on loopback: a listening socket with backlog 0 whose accept queue is filled
by connections the test never accepts; further SYNs are dropped, so a connect() hangs
until the proxy's upstream_connect timer fires (checked to work here, also under gVisor).
"""

import socket
import threading
import re
import time

import pytest

import ghtest
from ghtest import HttpConn, get, make_config, request, upstream

TIMEOUTS = 'timeouts = { upstream_read = "1s"; upstream_connect = "1s"; };'


@pytest.fixture
def gh(gh_factory, backend):
    return gh_factory(make_config(workers=1, upstreams=[upstream("app", [backend.port])],
                                  extra=TIMEOUTS + '\nlimits = { max_upstream_header_size = "4k"; };'))


def count(backends_, target, method=None):
    return sum(1 for b in backends_ for q in b.requests()
               if q["target"] == target and (method is None or q["method"] == method))


def test_backend_port_closed_502(gh_factory):
    gh = gh_factory(make_config(workers=1, upstreams=[upstream("app", [ghtest.free_port()])]))
    r = get(gh.port, "/x")
    assert r.status == 502, r
    assert get(gh.port, "/ping").status == 200


def test_backend_closes_without_answer_502(gh, backend):
    assert get(gh.port, "/close").status == 502


def test_backend_reset_502(gh, backend):
    r = get(gh.port, "/reset")
    assert r.status == 502, r
    assert get(gh.port, "/echo").status == 200


def test_backend_garbage_502(gh, backend):
    r = get(gh.port, "/garbage")
    assert r.status == 502, "%r %r" % (r, r.body[:200])
    assert b"SSH-2.0" not in r.body


def test_upstream_head_too_large_502(gh, backend):
    r = get(gh.port, "/bighead/1000")
    assert r.status == 200 and r.body == b"big head\n", "control request failed: %r" % r
    r = get(gh.port, "/bighead/8000")
    assert r.status == 502, "head of 8000+ bytes over max_upstream_header_size 4k: %r" % r


def test_read_timeout_504_not_retried(gh_factory, backends):
    a, b = backends("a"), backends("b")
    gh = gh_factory(make_config(workers=1, upstreams=[upstream("app", [a.port, b.port],
                                                               "retries = 1;")],
                                extra=TIMEOUTS))
    t0 = time.monotonic()
    r = request(gh.port, "GET", "/slow/3000", timeout=8)
    elapsed = time.monotonic() - t0
    assert r.status == 504, r
    assert elapsed < ghtest.scaled(2.5), "504 after %.2fs (upstream_read 1s)" % elapsed
    time.sleep(ghtest.scaled(0.3))
    n = count([a, b], "/slow/3000")
    assert n == 1, "the timed-out request reached the backends %d times (a=%d, b=%d)" % (
        n, count([a], "/slow/3000"), count([b], "/slow/3000"))


def test_connect_timeout_504(gh_factory):
    ls = socket.socket()
    held = []
    try:
        ls.bind(("127.0.0.1", 0))
        ls.listen(0)
        port = ls.getsockname()[1]
        for _ in range(4):          # fill the accept queue; later SYNs are dropped
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            held.append(s)
        time.sleep(0.1)
        probe = socket.socket()
        probe.settimeout(0.5)
        try:
            probe.connect(("127.0.0.1", port))
            pytest.skip("cannot make a connect hang on this loopback")
        except socket.timeout:
            pass
        finally:
            probe.close()
        gh = gh_factory(make_config(workers=1, upstreams=[upstream("app", [port], "retries = 0;")],
                                    extra=TIMEOUTS))
        t0 = time.monotonic()
        r = request(gh.port, "GET", "/x", timeout=8)
        elapsed = time.monotonic() - t0
        assert r.status == 504, "%r after %.2fs" % (r, elapsed)
        assert elapsed < ghtest.scaled(3), "504 after %.2fs (upstream_connect 1s)" % elapsed
    finally:
        for s in held:
            s.close()
        ls.close()


def test_retry_get_on_refused(gh_factory, backend):
    dead = ghtest.free_port()
    gh = gh_factory(make_config(workers=1, upstreams=[upstream("app", [dead, backend.port],
                                                               "retries = 1;")]))
    for i in range(4):
        r = get(gh.port, "/echo?g=%d" % i)
        assert r.status == 200, "GET #%d: %r %r" % (i, r, r.body[:200])


def test_retry_put_with_small_body_on_refused(gh_factory, backend):
    dead = ghtest.free_port()
    gh = gh_factory(make_config(workers=1, upstreams=[upstream("app", [dead, backend.port],
                                                               "retries = 1;")]))
    for i in range(4):
        r = request(gh.port, "PUT", "/echo?p=%d" % i, body=b"idempotent")
        assert r.status == 200, "PUT #%d: %r" % (i, r)
        assert r.json()["body_len"] == 10


def test_post_not_retried(gh_factory, backend):
    dead = ghtest.free_port()
    gh = gh_factory(make_config(workers=1, upstreams=[upstream("app", [dead, backend.port],
                                                               "retries = 1;")]))
    statuses = [request(gh.port, "POST", "/echo?post=%d" % i, body=b"not idempotent").status
                for i in range(2)]
    assert sorted(statuses) == [200, 502], "two POSTs over [refusing, good]: %s" % statuses
    time.sleep(ghtest.scaled(0.2))
    assert count([backend], "/echo?post=0") + count([backend], "/echo?post=1") == 1


def test_client_abort_releases_upstream(gh_factory, backend):
    """200 clients abandon requests to a slow backend: the worker closes the upstream
    connections promptly (its fd count returns near the baseline) and keeps serving."""
    gh = gh_factory(make_config(workers=1, upstreams=[upstream("app", [backend.port],
                                                               "keepalive = 0;")]))
    worker = gh.worker_pids()[0]
    assert get(gh.port, "/echo?warm").status == 200
    baseline = ghtest.fd_count(worker)
    total = 0
    for batch in range(4):
        conns = []
        for i in range(50):
            c = HttpConn(gh.port)
            c.send(b"GET /slow/8000?b=%d&i=%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % (batch, i))
            conns.append(c)
        total += 50
        ghtest.wait_for(lambda: sum(1 for q in backend.requests()
                                    if q["target"].startswith("/slow/8000")) >= total,
                        5, what="%d slow requests at the backend" % total)
        for c in conns:
            c.close()
    during = ghtest.fd_count(worker)
    try:
        ghtest.wait_for(lambda: ghtest.fd_count(worker) <= baseline + 10, 3,
                        what="worker fds back near baseline")
    except AssertionError:
        pytest.fail("worker fds: baseline %d, right after the aborts %d, 3s later %d "
                    "(upstream connections of aborted requests not released)" %
                    (baseline, during, ghtest.fd_count(worker)))
    assert get(gh.port, "/ping").status == 200
    assert get(gh.port, "/echo?after").status == 200
    assert gh.worker_pids() == [worker]


def _swallow_and_close(sock, stop):
    """A fake upstream: read a whole request (head + Content-Length body), then close
    without answering; repeat until stop."""
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            c, _ = sock.accept()
        except OSError:
            continue
        c.settimeout(5)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                data += c.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            m = re.search(rb"(?i)content-length:\s*(\d+)", head)
            need = int(m.group(1)) if m else 0
            while len(rest) < need:
                chunk = c.recv(65536)
                if not chunk:
                    break
                rest += chunk
        except OSError:
            pass
        c.close()


def test_retry_put_with_body_up_to_retry_buffer(gh_factory, backend):
    """A 40 KB PUT body (more than arrives with the head, less than retry_buffer = 64k)
    is held while it streams: the first server reads it all and closes without a byte,
    so the request is retried on the next one, which gets the whole body intact."""
    lsock = ghtest.listening_socket()
    stop = threading.Event()
    t = threading.Thread(target=_swallow_and_close, args=(lsock, stop), daemon=True)
    t.start()
    try:
        _retry_put_body(gh_factory, backend, lsock.getsockname()[1])
    finally:
        stop.set()
        t.join(2)
        lsock.close()


def _retry_put_body(gh_factory, backend, dead):
    gh = gh_factory(make_config(workers=1, upstreams=[upstream("app", [dead, backend.port],
                                                               "retries = 1;")]))
    body = bytes(range(256)) * 160          # 40,960 bytes
    for i in range(3):
        r = request(gh.port, "PUT", "/echo?big=%d" % i, body=body)
        assert r.status == 200, "PUT #%d: %r" % (i, r)
        doc = r.json()
        assert doc["body_len"] == len(body)
        assert doc["body_sha256"] == ghtest.sha256(body)


def test_body_over_retry_buffer_not_retried_after_send(gh_factory, backends):
    """retry_buffer = 16k and a 40 KB PUT to backends that reset without answering: the
    body is not held, so the request is not retried (502, one backend saw it)."""
    a, b = backends("a"), backends("b")
    gh = gh_factory(make_config(workers=1, upstreams=[upstream(
        "app", [a.port, b.port], 'retries = 1; retry_buffer = "16k";')]))
    r = request(gh.port, "PUT", "/reset?once", body=b"z" * 40960)
    assert r.status == 502, r
    time.sleep(ghtest.scaled(0.2))
    assert count([a, b], "/reset?once") == 1, "retried although the body was not held"
