"""Starting, serving, stopping and signalling the daemon (SPEC sections 2 and 3)."""

import os
import signal
import threading
import time

import pytest

import ghtest
from ghtest import get, make_config, route_return, upstream, wait_for


def ping_conf(body="pong\n", workers=2, **kw):
    return make_config(workers=workers, routes=[route_return("= /ping", 200, body)], **kw)


def test_ping_via_curl(gh_factory):
    gh = gh_factory(ping_conf())
    p = ghtest.curl("-i", "http://127.0.0.1:%d/ping" % gh.port)
    assert p.returncode == 0, p.stderr
    status, headers, body = ghtest.parse_curl_head(p.stdout)
    assert status == 200
    assert body == b"pong\n"
    assert [v for k, v in headers if k.lower() == "server"] == ["gatehouse"], headers


def test_server_header_and_framing(gh_factory):
    gh = gh_factory(ping_conf())
    r = get(gh.port, "/ping")
    assert r.status == 200 and r.body == b"pong\n"
    assert r.header("Server") == "gatehouse"
    assert r.header("Content-Length") == "5"
    assert r.header("Date"), "responses carry a Date header"


def test_ping_keepalive_many(gh_factory):
    gh = gh_factory(ping_conf())
    with ghtest.HttpConn(gh.port) as c:
        for _ in range(50):
            r = c.request("GET", "/ping")
            assert r.status == 200 and r.body == b"pong\n"
            assert not r.wants_close()


def test_unmatched_route_404(gh_factory):
    gh = gh_factory(ping_conf())
    assert get(gh.port, "/nothing-here").status == 404


def test_pid_file_holds_master_pid(gh_factory):
    gh = gh_factory(ping_conf())
    assert wait_for(gh.read_pid_file, 5, what="pid file") == gh.pid


def test_quit_exits_0_and_keeps_files(gh_factory):
    gh = gh_factory(ping_conf())
    assert get(gh.port, "/ping").status == 200
    conf_before = gh.read("gatehouse.conf")
    before = set(os.listdir(gh.prefix))
    workers = gh.worker_pids()
    gh.signal(signal.SIGQUIT)
    assert gh.wait_exit(10) == 0
    after = set(os.listdir(gh.prefix))
    missing = before - after - {"gatehouse.pid"}
    assert not missing, "QUIT removed %s" % sorted(missing)
    assert gh.read("gatehouse.conf") == conf_before
    for w in workers:
        wait_for(lambda: not ghtest.pid_alive(w), 5, what="worker %d gone" % w)
    assert not ghtest.can_connect(gh.port), "still listening after exit"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_fast_shutdown_does_not_wait(gh_factory, backend, sig):
    """TERM/INT: fast shutdown, even with a request in flight."""
    gh = gh_factory(make_config(upstreams=[upstream("app", [backend.port])]))
    workers = gh.worker_pids()
    result = {}

    def slow():
        try:
            result["r"] = get(gh.port, "/slow/8000", timeout=15)
        except Exception as e:  # the connection is expected to be cut
            result["e"] = e
    t = threading.Thread(target=slow, daemon=True)
    t.start()
    backend.wait_request(lambda r: r["target"] == "/slow/8000", what="slow request at backend")
    t0 = time.monotonic()
    gh.signal(sig)
    rc = gh.wait_exit(5)
    took = time.monotonic() - t0
    assert rc == 0, gh.describe_exit()
    assert took < ghtest.scaled(3), "fast shutdown took %.1fs" % took
    for w in workers:
        wait_for(lambda: not ghtest.pid_alive(w), 3, what="worker %d gone" % w)
    t.join(ghtest.scaled(10))


def test_s_quit_signals_running_master(gh_factory):
    gh = gh_factory(ping_conf())
    p = gh.run("-s", "quit")
    assert p.returncode == 0, p.stderr
    assert gh.wait_exit(10) == 0


def test_s_stop_signals_running_master(gh_factory):
    gh = gh_factory(ping_conf())
    p = gh.run("-s", "stop")
    assert p.returncode == 0, p.stderr
    assert gh.wait_exit(5) == 0


def test_s_reload_applies_new_config(gh_factory):
    gh = gh_factory(ping_conf("one\n"))
    assert get(gh.port, "/ping").body == b"one\n"
    old = gh.worker_pids()
    gh.write_config(ping_conf("two\n"))
    p = gh.run("-s", "reload")
    assert p.returncode == 0, p.stderr
    wait_for(lambda: get(gh.port, "/ping").body == b"two\n", 10, what="new body after -s reload")
    gh.wait_workers(2, exclude=old)
    assert gh.running()


def test_s_without_master_fails(conf_dir):
    if not os.path.exists(ghtest.GATEHOUSE_BIN):
        pytest.fail("gatehouse binary not found at %s" % ghtest.GATEHOUSE_BIN)
    gh = ghtest.Gatehouse(ping_conf(), prefix=conf_dir)
    p = gh.run("-s", "reload")
    assert p.returncode != 0
    assert p.stderr.strip(), "should say why"


def test_daemonize(gh_factory):
    gh = gh_factory(ping_conf(), start=False)
    t0 = time.monotonic()
    gh.start("-d")  # returns once the foreground process has exited 0 and the daemon listens
    assert time.monotonic() - t0 < ghtest.scaled(10)
    assert gh.proc.returncode == 0
    daemon = gh.pid
    assert daemon != gh.proc.pid, "pid file names the process we ran, not the daemon"
    assert ghtest.pid_alive(daemon)
    st = ghtest.proc_stat(daemon)
    assert st[1] != os.getpid(), "daemon is still our child"
    assert os.getsid(daemon) == daemon, "daemon should lead its own session"
    assert get(gh.port, "/ping").body == b"pong\n"
    assert len(gh.worker_pids()) == 2
    gh.signal(signal.SIGQUIT)
    gh.wait_exit(10)


@pytest.mark.parametrize("n", [1, 3])
def test_worker_count(gh_factory, n):
    gh = gh_factory(ping_conf(workers=n))
    workers = gh.wait_workers(n)
    assert len(workers) == n
    # a while later, still exactly n (none died, none extra)
    time.sleep(0.3)
    assert sorted(gh.worker_pids()) == sorted(workers)
    for w in workers:
        assert ghtest.proc_stat(w)[1] == gh.pid


def test_workers_auto(gh_factory):
    gh = gh_factory(ping_conf(workers="auto"))
    cpus = {os.cpu_count(), len(os.sched_getaffinity(0))}  # online CPUs, or those we may use
    wait_for(lambda: len(gh.worker_pids()) in cpus, 10,
             what="one worker per CPU (%s); have %s" % (sorted(cpus), gh.worker_pids()))
    assert get(gh.port, "/ping").status == 200


def test_two_listeners(gh_factory):
    conf = make_config(listen=["127.0.0.1:0", "127.0.0.2:0"],
                       routes=[route_return("= /ping", 200, "pong\n")])
    gh = gh_factory(conf)
    assert sorted(h for h, _ in gh.addrs) == ["127.0.0.1", "127.0.0.2"]
    for host, port in gh.addrs:
        assert get(port, "/ping", addr=host).body == b"pong\n"


def test_ipv6_listener(gh_factory):
    if not socket_has_ipv6():
        pytest.skip("no IPv6 loopback")
    conf = make_config(listen=["[::1]:0"], routes=[route_return("= /ping", 200, "pong\n")])
    gh = gh_factory(conf)
    assert gh.addrs[0][0] == "::1"
    assert get(gh.port, "/ping", addr="::1").body == b"pong\n"


def socket_has_ipv6():
    import socket
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False
