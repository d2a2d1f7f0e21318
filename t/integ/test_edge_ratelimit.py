"""Edge protection: rate limits wired on routes (429 + Retry-After, exactness
across 2 workers, Expect: 100-continue, key kinds), auto_ban, counters, and a
SIGKILLed worker during a storm."""

import json
import os
import signal
import socket
import threading
import time

import ghtest
from ghtest import make_config, route_return, wait_for
from test_edge_access import conn_from, get_from, admin


def rl_route(path, limit, body="ok\n"):
    return '{ path = "%s"; rate_limit = "%s"; return = { status = 200; body = %s; }; }' % (
        path, limit, json.dumps(body))


def conf(limits, extra="", workers=2):
    routes = [route_return("= /ping", 200, "pong\n"), rl_route("/rl", "lim"),
              rl_route("/hdr", "byhdr"), rl_route("/ck", "bycookie")]
    rl = ",\n".join(limits)
    return make_config(workers=workers, routes=routes,
                       extra="rate_limits = (\n%s\n);\n%s" % (rl, extra))


def lim(name, key, rate, burst):
    return '{ name = "%s"; key = "%s"; rate = %s; burst = %d; }' % (name, key, rate, burst)


BASE = [lim("byhdr", "$header_X_User", 1.0, 0), lim("bycookie", "$cookie_sid", 1.0, 0)]


def test_429_with_retry_after_and_counters(gh_factory):
    gh = gh_factory(conf([lim("lim", "$remote_addr", 0.2, 1)] + BASE))
    with conn_from(gh.port, "127.0.0.1") as c:
        assert c.request("GET", "/rl").status == 200
        assert c.request("GET", "/rl").status == 200       # burst 1
        r = c.request("GET", "/rl")
        assert r.status == 429, r
        ra = int(r.header("Retry-After"))
        assert 1 <= ra <= 5, ra
        # Not a connection error: the keep-alive connection goes on.
        assert c.request("GET", "/ping").status == 200
    # Another client has its own bucket.
    assert get_from(gh.port, "127.0.0.2", "/rl").status == 200
    st = admin(gh, "GET", "/status.json").json()
    assert {"name": "lim", "rejected": 1} in st["rate_limits"]
    m = admin(gh, "GET", "/metrics").text
    assert 'gatehouse_ratelimit_rejected_total{limit="lim"} 1' in m


def test_expect_100_refused_gets_429_without_100(gh_factory):
    gh = gh_factory(conf([lim("lim", "$remote_addr", 0.1, 0)] + BASE))
    assert get_from(gh.port, "127.0.0.1", "/rl").status == 200
    with conn_from(gh.port, "127.0.0.1") as c:
        c.send(b"POST /rl HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
               b"Expect: 100-continue\r\n\r\n")
        r = c.read_response("POST", interim=True)
        assert r.status == 429 and r.header("Retry-After") is not None, r
        assert r.wants_close()


def test_header_and_cookie_keys(gh_factory):
    gh = gh_factory(conf([lim("lim", "$remote_addr", 1.0, 0)] + BASE))
    # Without the header or cookie: not limited.
    for _ in range(4):
        assert get_from(gh.port, "127.0.0.1", "/hdr").status == 200
        assert get_from(gh.port, "127.0.0.1", "/ck").status == 200
    with conn_from(gh.port, "127.0.0.1") as c:
        assert c.request("GET", "/hdr", headers=[("X-User", "a")]).status == 200
        assert c.request("GET", "/hdr", headers=[("X-User", "a")]).status == 429
        assert c.request("GET", "/hdr", headers=[("X-User", "b")]).status == 200
        assert c.request("GET", "/ck", headers=[("Cookie", "x=1; sid=q")]).status == 200
        assert c.request("GET", "/ck", headers=[("Cookie", "sid=q")]).status == 429
        assert c.request("GET", "/ck", headers=[("Cookie", "sid=r")]).status == 200


def test_exact_across_workers_fresh_connections(gh_factory):
    rate, burst = 10.0, 5
    gh = gh_factory(conf([lim("lim", "$remote_addr", rate, burst)] + BASE))
    ok = [0]
    statuses = {}
    lock = threading.Lock()
    stop = time.monotonic() + 2.0
    start = time.monotonic()

    def hammer():
        while time.monotonic() < stop:
            r = get_from(gh.port, "127.0.0.1", "/rl")
            with lock:
                statuses[r.status] = statuses.get(r.status, 0) + 1
                if r.status == 200:
                    ok[0] += 1
    ts = [threading.Thread(target=hammer) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.monotonic() - start
    assert set(statuses) <= {200, 429}, statuses
    assert statuses.get(429, 0) > 0, statuses
    assert ok[0] <= 1 + burst + rate * elapsed, (ok[0], elapsed, statuses)
    assert ok[0] >= burst + 1, statuses


def test_auto_ban(gh_factory):
    gh = gh_factory(conf([lim("lim", "$remote_addr", 0.1, 0)] + BASE,
                         extra='access = { auto_ban = { violations = 3; window = "60s"; '
                               'duration = "10m"; }; };'))
    assert get_from(gh.port, "127.0.0.2", "/rl").status == 200
    for _ in range(3):
        assert get_from(gh.port, "127.0.0.2", "/rl").status == 429
    # Banned everywhere now, for every route.
    assert get_from(gh.port, "127.0.0.2", "/ping").status == 403
    assert get_from(gh.port, "127.0.0.1", "/ping").status == 200
    lst = admin(gh, "GET", "/blacklist").json()
    assert [e["cidr"] for e in lst] == ["127.0.0.2/32"]
    assert 590 < lst[0]["expires_in"] <= 600
    assert admin(gh, "GET", "/status.json").json()["edge"]["auto_bans"] == 1
    gh.wait_log(r"auto_ban: 127\.0\.0\.2/32 banned")


def test_sigkill_worker_during_storm(gh_factory):
    gh = gh_factory(conf([lim("lim", "$remote_addr", 5.0, 2)] + BASE))
    gh.allowed_alerts.append(r"signal 9|SIGKILL")
    stop = threading.Event()
    errors = []

    def storm(n):
        i = 0
        while not stop.is_set():
            i += 1
            try:
                with conn_from(gh.port, "127.0.0.1", timeout=3) as c:
                    for _ in range(20):
                        c.request("GET", "/hdr", headers=[("X-User", "u%d-%d" % (n, i % 50))])
            except (OSError, ghtest.ConnectionClosed, ValueError) as e:
                errors.append(e)
    ts = [threading.Thread(target=storm, args=(n,)) for n in range(4)]
    for t in ts:
        t.start()
    time.sleep(0.5)
    victim = gh.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    time.sleep(0.7)
    stop.set()
    for t in ts:
        t.join()
    gh.wait_workers(2, exclude=[victim])
    # Nobody is blocked: fresh keys are admitted promptly, in every worker.
    for k in range(10):
        t0 = time.monotonic()
        with conn_from(gh.port, "127.0.0.1") as c:
            r = c.request("GET", "/hdr", headers=[("X-User", "fresh%d" % k)])
        assert r.status == 200, r
        assert time.monotonic() - t0 < ghtest.scaled(1.0)


def test_rate_limit_after_reload(gh_factory):
    gh = gh_factory(conf([lim("lim", "$remote_addr", 0.1, 0)] + BASE))
    assert get_from(gh.port, "127.0.0.1", "/rl").status == 200
    old = gh.worker_pids()
    gh.write_config(conf([lim("lim", "$remote_addr", 0.1, 1)] + BASE))
    gh.reload()
    gh.wait_workers(2, exclude=old)
    wait_for(lambda: set(gh.worker_pids()).isdisjoint(old), timeout=10, what="old workers gone")
    # The bucket survived the reload (keyed by limit name and key): one more
    # request fits the new burst, the next does not.
    assert get_from(gh.port, "127.0.0.1", "/rl").status == 200
    r = get_from(gh.port, "127.0.0.1", "/rl")
    assert r.status == 429 and int(r.header("Retry-After")) >= 1
