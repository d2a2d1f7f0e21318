"""Active and passive health (issue 4): the helper process flips a server down after
`fall` failed checks and up after `rise` good ones, every worker follows at once, all
servers down is an immediate 503, and the state survives a reload."""

import os
import signal
import time

import ghtest
from ghtest import (admin_block, admin_request, admin_status, backend_of, get, is_helper,
                    make_config, upstream_servers, wait_for, wait_server_state)

HEALTH = ('health = { path = "/healthz"; interval = "200ms"; timeout = "150ms"; '
          'rise = 2; fall = 2; };')


def conf_two(a, b, extra=""):
    return make_config(upstreams=[upstream_servers("app", [a.port, b.port],
                                                   HEALTH + " " + extra)],
                       extra=admin_block())


def test_helper_process(gh_factory, backends):
    a, b = backends("a"), backends("b")
    gh = gh_factory(conf_two(a, b))
    helpers = wait_for(lambda: [p for p in gh.children() if is_helper(p)], 5, what="helper")
    assert len(helpers) == 1
    assert len(gh.worker_pids()) == 2
    # Probes reach the backends with the server's address as Host.
    r = a.wait_request(lambda r: r["target"] == "/healthz")
    assert dict((k.lower(), v) for k, v in r["headers"])["host"] == a.address
    # Killed, it is respawned, and the admin API answers again.
    os.kill(helpers[0], signal.SIGKILL)
    wait_for(lambda: [p for p in gh.children() if is_helper(p) and p != helpers[0]], 5,
             what="a new helper")
    assert admin_request(gh, "GET", "/status.json").status == 200


def test_health_flip_down_and_up(gh_factory, backends):
    a, b = backends("a"), backends("b")
    gh = gh_factory(conf_two(a, b))
    addr = "127.0.0.1:%d" % a.port
    wait_for(lambda: a.requests(), 3, what="first probe")
    os.kill(a.proc.pid, signal.SIGSTOP)          # no answer: probes time out
    try:
        t0 = time.monotonic()
        # interval x fall + timeout, plus slack
        wait_server_state(gh, "app", addr, "down", timeout=0.2 * 2 + 0.15 + 1.0)
        took = time.monotonic() - t0
        # Every worker follows at once: no request goes to a (it would hang).
        for _ in range(10):
            r = get(gh.port, "/", headers=[("Connection", "close")], timeout=2)
            assert r.status == 200 and backend_of(r) == "b"
    finally:
        os.kill(a.proc.pid, signal.SIGCONT)
    t0 = time.monotonic()
    wait_server_state(gh, "app", addr, "up", timeout=0.2 * 2 + 0.15 + 1.0)
    seen = {backend_of(get(gh.port, "/", headers=[("Connection", "close")])) for _ in range(10)}
    assert seen == {"a", "b"}
    gh.wait_log(r"server %s is down after 2 failed health checks" % addr)
    gh.wait_log(r"server %s is up" % addr)
    assert took < 2.0


def test_all_down_is_503_at_once(gh_factory, backends):
    a, b = backends("a"), backends("b")
    gh = gh_factory(conf_two(a, b, 'passive = { max_fails = 0; };'))
    os.kill(a.proc.pid, signal.SIGSTOP)
    os.kill(b.proc.pid, signal.SIGSTOP)
    try:
        wait_server_state(gh, "app", "127.0.0.1:%d" % a.port, "down", 3)
        wait_server_state(gh, "app", "127.0.0.1:%d" % b.port, "down", 3)
        for _ in range(6):
            t0 = time.monotonic()
            r = get(gh.port, "/", headers=[("Connection", "close")], timeout=3)
            assert r.status == 503
            assert time.monotonic() - t0 < 0.5
    finally:
        os.kill(a.proc.pid, signal.SIGCONT)
        os.kill(b.proc.pid, signal.SIGCONT)
    wait_server_state(gh, "app", "127.0.0.1:%d" % a.port, "up", 3)
    assert get(gh.port, "/").status == 200


def test_passive_failures_across_workers(gh_factory, backends):
    a = backends("a")
    dead = ghtest.free_port()
    gh = gh_factory(make_config(upstreams=[upstream_servers(
        "app", [a.port, dead], 'passive = { max_fails = 2; fail_timeout = "10s"; }; retries = 1;')],
        extra=admin_block()))
    # Failures counted by both workers together mark the dead server down; no
    # request fails meanwhile (retried on a).
    for _ in range(20):
        r = get(gh.port, "/", headers=[("Connection", "close")])
        assert r.status == 200 and backend_of(r) == "a"
    st = admin_status(gh)[("app", "127.0.0.1:%d" % dead)]
    assert st["state"] == "down" and st["passive"] == "down", st
    assert st["errors"] == 2, st        # then no more tries: it is skipped
    assert gh.error_log().count("marked down") == 1


def test_state_survives_hup(gh_factory, backends):
    a, b, c = backends("a"), backends("b"), backends("c")
    gh = gh_factory(conf_two(a, b))
    addr_a, addr_b = "127.0.0.1:%d" % a.port, "127.0.0.1:%d" % b.port
    assert admin_request(gh, "POST", "/upstreams/app/servers/%s/drain" % addr_a).status == 200
    for _ in range(5):
        get(gh.port, "/")
    before = admin_status(gh)[("app", addr_b)]["requests"]
    assert before >= 5
    old = gh.worker_pids()
    # Reload with a third server: a stays drained, b keeps its counters.
    gh.write_config(make_config(upstreams=[upstream_servers(
        "app", [a.port, b.port, c.port], HEALTH)], extra=admin_block()))
    gh.reload()
    gh.wait_workers(2, exclude=old)
    st = admin_status(gh)
    assert st[("app", addr_a)]["state"] == "drained"
    assert st[("app", addr_b)]["requests"] >= before
    assert st[("app", "127.0.0.1:%d" % c.port)]["state"] == "up"
    seen = {backend_of(get(gh.port, "/", headers=[("Connection", "close")])) for _ in range(12)}
    assert seen == {"b", "c"}
