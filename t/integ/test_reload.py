"""HUP: reload without losing a request (SPEC section 3)."""

import threading
import time

import pytest

import ghtest
from ghtest import HttpConn, Load, get, make_config, pattern, route_return, route_upstream, \
    upstream, wait_for


def conf(body="one\n", backend_port=None, workers=2, extra_top=""):
    routes = [route_return("= /ping", 200, body)]
    ups = []
    if backend_port:
        ups = [upstream("app", [backend_port])]
        routes.append(route_upstream("/", "app"))
    return make_config(workers=workers, upstreams=ups, routes=routes) + extra_top


def test_hup_changes_return_body(gh_factory):
    gh = gh_factory(conf("one\n"))
    assert get(gh.port, "/ping").body == b"one\n"
    old = gh.worker_pids()
    gh.write_config(conf("two\n"))
    gh.reload()
    wait_for(lambda: get(gh.port, "/ping").body == b"two\n", 10, what="new body after HUP")
    new = gh.wait_workers(2, exclude=old)  # exactly 2 workers, none old: the old ones exited
    assert not set(new) & set(old), "worker pids should change on reload"
    # once the old generation is gone, every new connection gets the new config
    for _ in range(20):
        assert get(gh.port, "/ping").body == b"two\n"
    assert gh.running()


@pytest.mark.parametrize("kind", ["return", "proxy"])
def test_hup_under_load_loses_nothing(gh_factory, backend, kind):
    """8 threads (keep-alive and new connections) for 3 s while the config is reloaded
    several times: not one request fails."""
    gh = gh_factory(conf("one\n", backend.port))
    first = gh.worker_pids()
    if kind == "return":
        targets = ["/ping"]

        def check(r):
            if r.status != 200:
                return "status %d" % r.status
            if r.body not in (b"one\n", b"two\n"):
                return "body %r" % r.body[:40]
    else:
        targets = ["/bytes/2000", "/echo"]

        def check(r):
            if r.status != 200:
                return "status %d" % r.status
            if r.header("X-Backend") != "a":
                return "no X-Backend"
            if r.body[:1] != b"{" and r.body != pattern(2000):
                return "bad body (%d bytes)" % len(r.body)
    load = Load(gh.port, threads=8, duration=3.0, targets=targets,
                modes=["keepalive", "new"], check=check).start()
    bodies = ["two\n", "one\n"]
    hups = 0
    t_end = load.t0 + 2.6
    while time.monotonic() < t_end and hups < 10:
        time.sleep(0.5)
        gh.write_config(conf(bodies[hups % 2], backend.port))
        gh.reload()
        hups += 1
    load.join()
    assert hups >= 4
    assert load.ok > 100, load.report()
    assert not load.failures, load.report()
    assert gh.running()
    gh.wait_workers(2, exclude=first, timeout=15)


def test_invalid_config_on_hup_keeps_old(gh_factory):
    gh = gh_factory(conf("one\n"))
    old = gh.worker_pids()
    bad = conf("two\n").replace("workers = 2;\n", "workers = 2;\nno_such_setting = 1;\n")
    gh.write_config(bad)
    line = ghtest.line_of(bad, "no_such_setting")
    gh.reload()
    gh.wait_log(r"gatehouse\.conf:%d: .*no_such_setting" % line,
                what="the config error in the error log")
    assert gh.running()
    for _ in range(10):
        assert get(gh.port, "/ping").body == b"one\n"
    assert sorted(gh.worker_pids()) == sorted(old), "a failed reload must keep the workers"
    # and a good config afterwards still reloads
    gh.write_config(conf("three\n"))
    gh.reload()
    wait_for(lambda: get(gh.port, "/ping").body == b"three\n", 10, what="reload after a bad one")


def test_syntax_error_on_hup_keeps_old(gh_factory):
    gh = gh_factory(conf("one\n"))
    bad = conf("two\n").replace("workers = 2;", "workers = = 2;")
    gh.write_config(bad)
    gh.reload()
    gh.wait_log(r"gatehouse\.conf:%d: " % ghtest.line_of(bad, "workers = ="),
                what="the syntax error in the error log")
    assert get(gh.port, "/ping").body == b"one\n"
    assert gh.running()


def test_idle_keepalive_connection_closed_by_old_worker(gh_factory):
    """An idle keep-alive connection to an old worker is half-closed after about 1 s,
    so the old generation goes away although the client never closes."""
    gh = gh_factory(conf("one\n"))
    old = gh.worker_pids()
    c = HttpConn(gh.port)
    try:
        assert c.request("GET", "/ping").body == b"one\n"
        gh.write_config(conf("two\n"))
        gh.reload()
        gh.wait_workers(2, exclude=old)
        for pid in old:
            wait_for(lambda: not ghtest.pid_alive(pid), 8, what="old worker %d to exit" % pid)
        c.sock.settimeout(ghtest.scaled(5))
        assert c.sock.recv(100) == b"", "the idle connection should have been closed"
    finally:
        c.close()


def test_busy_keepalive_connection_gets_close(gh_factory):
    """A keep-alive client that keeps sending through a reload: every request succeeds, and
    the old worker ends the connection with Connection: close on a response."""
    gh = gh_factory(conf("one\n"))
    with HttpConn(gh.port) as c:
        assert c.request("GET", "/ping").status == 200
        gh.write_config(conf("two\n"))
        gh.reload()
        deadline = time.monotonic() + ghtest.scaled(10)
        n = 0
        while True:
            r = c.request("GET", "/ping")
            n += 1
            assert r.status == 200 and r.body in (b"one\n", b"two\n")
            if r.wants_close():
                break
            assert time.monotonic() < deadline, "no Connection: close after %d requests" % n
            time.sleep(0.05)
        c.sock.settimeout(ghtest.scaled(5))
        assert c.sock.recv(100) == b""
    wait_for(lambda: get(gh.port, "/ping").body == b"two\n", 10, what="new body after HUP")


def test_inflight_request_survives_reload(gh_factory, backend):
    gh = gh_factory(conf("one\n", backend.port))
    old = gh.worker_pids()
    result = {}

    def slow():
        try:
            result["r"] = get(gh.port, "/slow/1500", timeout=15)
        except Exception as e:
            result["e"] = e
    t = threading.Thread(target=slow, daemon=True)
    t.start()
    backend.wait_request(lambda r: r["target"] == "/slow/1500")
    gh.write_config(conf("two\n", backend.port))
    gh.reload()
    t.join(ghtest.scaled(15))
    assert "e" not in result, result.get("e")
    assert result["r"].status == 200 and result["r"].body == b"slept 1500\n"
    for pid in old:
        wait_for(lambda: not ghtest.pid_alive(pid), 10, what="old worker %d to exit" % pid)


def test_many_quick_reloads_settle(gh_factory):
    """More HUPs than generations allowed to drain at once: the oldest stop fast, and the
    daemon settles with exactly the configured workers on the last config."""
    gh = gh_factory(conf("v0\n"))
    first = gh.worker_pids()
    # keep an idle connection on the first generation to make it linger
    c = HttpConn(gh.port)
    try:
        c.request("GET", "/ping")
        for i in range(1, 6):
            gh.write_config(conf("v%d\n" % i))
            gh.reload()
            time.sleep(0.1)
        wait_for(lambda: get(gh.port, "/ping").body == b"v5\n", 10, what="last config")
        # exactly 2 workers, none of the first generation: every old one has exited
        gh.wait_workers(2, exclude=first, timeout=15)
    finally:
        c.close()
    assert gh.running()
