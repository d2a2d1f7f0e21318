"""Edge protection: access lists, the dynamic blacklist (admin API), per-client
connection limits. Clients on one machine: 127.0.0.1 and 127.0.0.2 (Linux routes
all of 127/8 to lo, so a client can bind 127.0.0.2 as its source address)."""

import json
import os
import signal
import socket
import time

import ghtest
from ghtest import make_config, route_return, wait_for


def conn_from(port, src, timeout=5.0):
    """An HttpConn whose source address is src."""
    c = ghtest.HttpConn(port, connect=False, timeout=timeout)
    c.sock = socket.create_connection(("127.0.0.1", port), timeout=c.timeout,
                                      source_address=(src, 0))
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def get_from(port, src, target="/ping"):
    with conn_from(port, src) as c:
        return c.request("GET", target)


def ok_from(port, src, target="/ping"):
    """True when a fresh connection from src gets a 200 (False when refused)."""
    try:
        return get_from(port, src, target).status == 200
    except (OSError, ghtest.ConnectionClosed):
        return False


def closed_without_a_byte(port, src):
    """True when the server closes the connection without sending anything."""
    s = socket.create_connection(("127.0.0.1", port), timeout=ghtest.scaled(3),
                                 source_address=(src, 0))
    try:
        try:
            s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        except OSError:
            return True
        try:
            data = s.recv(100)
        except ConnectionResetError:
            return True
        return data == b""
    finally:
        s.close()


def conf(extra, workers=2):
    return make_config(workers=workers, routes=[route_return("= /ping", 200, "pong\n")],
                       extra=extra)


def admin(gh, method, path, body=None):
    return ghtest.request(ghtest.admin_port(gh), method, path,
                          body=json.dumps(body) if body is not None else None)


def edge_status(gh):
    r = admin(gh, "GET", "/status.json")
    assert r.status == 200, r
    return r.json()["edge"]


def test_allow_list_403_and_close(gh_factory):
    gh = gh_factory(conf('access = { allow = ["127.0.0.1/32", "::1"]; };'))
    assert get_from(gh.port, "127.0.0.1").status == 200
    r = get_from(gh.port, "127.0.0.2")
    assert r.status == 403 and r.wants_close(), r
    # A denied client is counted.
    assert edge_status(gh)["blacklist_rejected"] >= 1
    r = admin(gh, "GET", "/metrics")
    assert "gatehouse_blacklist_rejected_total 1" in r.text


def test_deny_wins_over_allow_and_close_action(gh_factory):
    gh = gh_factory(conf('access = { allow = ["127.0.0.0/8"]; deny = ["127.0.0.2"]; '
                         'deny_action = "close"; };'))
    assert get_from(gh.port, "127.0.0.1").status == 200
    assert closed_without_a_byte(gh.port, "127.0.0.2")
    assert get_from(gh.port, "127.0.0.3").status == 200


def test_ipv6_client_denied_ipv4_allowed(gh_factory):
    """The same lists hold IPv6 networks: ::1 denied over an IPv6 listener while
    127.0.0.1 is served."""
    gh = gh_factory(make_config(listen=("127.0.0.1:0", "[::1]:0"),
                                routes=[route_return("= /ping", 200, "pong\n")],
                                extra='access = { deny = ["::1/128"]; };'))
    ports = {}
    for line in gh.error_log().splitlines():
        if "admin listening" in line:
            continue
        if "listening on 127.0.0.1:" in line:
            ports["v4"] = int(line.rsplit(":", 1)[1])
        elif "listening on [::1]:" in line:
            ports["v6"] = int(line.rsplit(":", 1)[1])
    assert ghtest.get(ports["v4"], "/ping").status == 200
    r = ghtest.get(ports["v6"], "/ping", addr="::1")
    assert r.status == 403 and r.wants_close(), r


def test_dynamic_blacklist_add_list_remove(gh_factory):
    gh = gh_factory(conf(""))
    keep = conn_from(gh.port, "127.0.0.2")
    assert keep.request("GET", "/ping").status == 200
    r = admin(gh, "POST", "/blacklist", {"cidr": "127.0.0.2/32", "ttl": "10m"})
    assert r.status == 200, r.text
    # The keep-alive connection opened before the ban stops working.
    r = keep.request("GET", "/ping")
    assert r.status == 403 and r.wants_close(), r
    keep.close()
    # Every worker sees it at once (fresh connections land on both).
    for _ in range(6):
        assert get_from(gh.port, "127.0.0.2").status == 403
        assert get_from(gh.port, "127.0.0.1").status == 200
    lst = admin(gh, "GET", "/blacklist").json()
    assert [e["cidr"] for e in lst] == ["127.0.0.2/32"]
    assert 590 < lst[0]["expires_in"] <= 600
    # DELETE with the slash percent-encoded, then raw.
    assert admin(gh, "DELETE", "/blacklist/127.0.0.2%2F32").status == 200
    assert get_from(gh.port, "127.0.0.2").status == 200
    assert admin(gh, "DELETE", "/blacklist/127.0.0.2/32").status == 404
    assert admin(gh, "POST", "/blacklist", {"cidr": "::1/128"}).status == 200
    assert admin(gh, "DELETE", "/blacklist/::1/128").status == 200
    assert admin(gh, "POST", "/blacklist", {"cidr": "nonsense"}).status == 400
    assert admin(gh, "POST", "/blacklist", {"cidr": "10.0.0.0/8", "ttl": "x"}).status == 400
    assert admin(gh, "GET", "/blacklist").json() == []


def test_blacklist_ttl_expires(gh_factory):
    gh = gh_factory(conf(""))
    assert admin(gh, "POST", "/blacklist", {"cidr": "127.0.0.0/30", "ttl": "1s"}).status == 200
    assert get_from(gh.port, "127.0.0.2").status == 403
    wait_for(lambda: get_from(gh.port, "127.0.0.2").status == 200, timeout=5,
             what="the ban to expire")


def test_blacklist_table_full_evicts_oldest(gh_factory):
    gh = gh_factory(conf("", workers=1))
    port = ghtest.admin_port(gh)
    first = None
    for i in range(1030):
        cidr = "10.%d.%d.0/24" % (i // 256, i % 256)
        first = first or cidr
        r = ghtest.request(port, "POST", "/blacklist", body=json.dumps({"cidr": cidr}))
        assert r.status == 200
    # The newest ban is in force (never fails open), the oldest were evicted.
    assert admin(gh, "POST", "/blacklist", {"cidr": "127.0.0.2"}).status == 200
    assert get_from(gh.port, "127.0.0.2").status == 403
    lst = [e["cidr"] for e in admin(gh, "GET", "/blacklist").json()]
    assert len(lst) == 1024 and "127.0.0.2/32" in lst and first not in lst
    gh.wait_log(r"blacklist is full")


def test_max_conns_per_ip_across_workers(gh_factory):
    gh = gh_factory(conf('limits = { max_conns_per_ip = 3; };'))
    held = []
    for _ in range(3):
        c = conn_from(gh.port, "127.0.0.1")
        assert c.request("GET", "/ping").status == 200
        held.append(c)
    assert closed_without_a_byte(gh.port, "127.0.0.1")
    # Another client is not affected.
    assert get_from(gh.port, "127.0.0.2").status == 200
    held.pop().close()
    wait_for(lambda: ok_from(gh.port, "127.0.0.1"), timeout=5,
             what="a released count")
    assert edge_status(gh)["connlimit_rejected"] >= 1


def test_max_conns_per_ip_released_when_worker_dies(gh_factory):
    gh = gh_factory(conf('limits = { max_conns_per_ip = 2; };'))
    gh.allowed_alerts.append(r"signal 9|SIGKILL")
    held = []
    for _ in range(2):
        c = conn_from(gh.port, "127.0.0.1")
        assert c.request("GET", "/ping").status == 200
        held.append(c)
    assert closed_without_a_byte(gh.port, "127.0.0.1")
    old = gh.worker_pids()
    for pid in old:
        os.kill(pid, signal.SIGKILL)
    gh.wait_workers(2, exclude=old)
    for c in held:
        c.close()
    # The master released the dead workers' counts.
    for _ in range(2):
        c = conn_from(gh.port, "127.0.0.1")
        assert c.request("GET", "/ping").status == 200
        held.append(c)
    for c in held:
        c.close()


def test_max_connections_per_worker_counted(gh_factory):
    gh = gh_factory(conf('limits = { max_connections = 2; };', workers=1))
    busy = []
    for _ in range(2):
        s = socket.create_connection(("127.0.0.1", gh.port), timeout=ghtest.scaled(3))
        s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n")     # a head in progress: not idle
        busy.append(s)
    time.sleep(0.2)
    assert closed_without_a_byte(gh.port, "127.0.0.1")
    for s in busy:
        s.close()
    wait_for(lambda: ok_from(gh.port, "127.0.0.1"), timeout=5,
             what="room again")
    assert edge_status(gh)["connlimit_rejected"] >= 1


def test_blacklist_survives_reload_and_new_lists_apply(gh_factory):
    gh = gh_factory(conf(""))
    assert admin(gh, "POST", "/blacklist", {"cidr": "127.0.0.2", "ttl": "0"}).status == 200
    assert admin(gh, "GET", "/blacklist").json()[0]["expires_in"] is None
    old = gh.worker_pids()
    gh.write_config(conf('access = { deny = ["127.0.0.3"]; };'))
    gh.reload()
    gh.wait_workers(2, exclude=old)
    wait_for(lambda: get_from(gh.port, "127.0.0.3").status == 403, timeout=5,
             what="the new deny list")
    assert get_from(gh.port, "127.0.0.2").status == 403
    assert get_from(gh.port, "127.0.0.1").status == 200


def test_idle_closed_first_near_max_connections(gh_factory):
    gh = gh_factory(conf('limits = { max_connections = 10; };', workers=1))
    idle = []
    for _ in range(5):
        c = conn_from(gh.port, "127.0.0.1")
        assert c.request("GET", "/ping").status == 200
        idle.append(c)
    busy = []
    for _ in range(4):
        s = socket.create_connection(("127.0.0.1", gh.port), timeout=ghtest.scaled(3))
        s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n")
        busy.append(s)
    time.sleep(0.2)
    # 9 of 10: the next client is served and the oldest idle one is closed.
    assert get_from(gh.port, "127.0.0.1").status == 200
    idle[0].sock.settimeout(ghtest.scaled(2))
    assert idle[0].sock.recv(10) == b""
    # The busy ones keep going.
    busy[0].sendall(b"\r\n")
    assert busy[0].recv(12) == b"HTTP/1.1 200"
    for s in busy:
        s.close()
    for c in idle:
        c.close()


def test_ban_with_close_action_on_keepalive(gh_factory):
    gh = gh_factory(conf('access = { deny_action = "close"; };'))
    keep = conn_from(gh.port, "127.0.0.2")
    assert keep.request("GET", "/ping").status == 200
    assert admin(gh, "POST", "/blacklist", {"cidr": "127.0.0.2"}).status == 200
    keep.send(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    keep.sock.settimeout(ghtest.scaled(2))
    try:
        data = keep.sock.recv(100)
    except ConnectionResetError:
        data = b""
    assert data == b""
    keep.close()
    assert closed_without_a_byte(gh.port, "127.0.0.2")
