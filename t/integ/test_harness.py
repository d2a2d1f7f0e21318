"""Self-tests of the test harness (t/lib/ghtest.py, t/backends/backend.py): no gatehouse
needed. If these fail, fix the harness before reading anything into the other results."""

import time

import pytest

import ghtest
from ghtest import HttpConn, get, request, pattern, sha256


def test_backend_root_and_headers(backend):
    r = get(backend.port, "/")
    assert r.status == 200
    assert r.body == b"backend a\n"
    assert r.header("X-Backend") == "a"
    assert r.header("Server") == "backend.py"


def test_backend_echo_body_and_log(backend):
    body = b"x" * 100000
    r = request(backend.port, "POST", "/echo?q=1", headers=[("X-Test", "1")], body=body)
    doc = r.json()
    assert doc["method"] == "POST" and doc["target"] == "/echo?q=1"
    assert doc["version"] == "HTTP/1.1"
    assert ["X-Test", "1"] in doc["headers"]
    assert doc["body_len"] == len(body) and doc["body_sha256"] == sha256(body)
    logged = backend.wait_request(lambda q: q["target"] == "/echo?q=1")
    assert logged["body_len"] == len(body)


def test_backend_chunked_request_body(backend):
    body = bytes(range(256)) * 300
    r = request(backend.port, "PUT", "/echo", body=body, chunked=True)
    doc = r.json()
    assert doc["body_len"] == len(body) and doc["body_sha256"] == sha256(body)


def test_backend_bytes_chunked_drip(backend):
    r = get(backend.port, "/bytes/200000")
    assert r.framing == "length" and r.body == pattern(200000)
    r = get(backend.port, "/chunked/150000")
    assert r.framing == "chunked" and r.body == pattern(150000)
    r = get(backend.port, "/drip/5/10")
    assert r.body == pattern(5)


def test_backend_status_slow_close(backend):
    assert get(backend.port, "/status/404").status == 404
    r = get(backend.port, "/status/204")
    assert r.status == 204 and r.body == b""
    t0 = time.monotonic()
    r = get(backend.port, "/slow/200")
    assert r.status == 200 and time.monotonic() - t0 >= 0.19
    with pytest.raises(ghtest.ConnectionClosed):
        get(backend.port, "/close")
    assert get(backend.port, "/healthz").body == b"ok"


def test_backend_keepalive_and_expect(backend):
    with HttpConn(backend.port) as c:
        for i in range(5):
            doc = c.request("GET", "/echo").json()
            assert doc["conn_requests"] == i + 1
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
               b"Expect: 100-continue\r\n\r\n")
        interim = c.read_response(interim=True)
        assert interim.status == 100
        c.send(b"abc")
        assert c.read_response().json()["body_len"] == 3


def test_backend_http10_close(backend):
    with HttpConn(backend.port) as c:
        r = c.request("GET", "/", version="HTTP/1.0")
        assert r.status == 200 and r.wants_close()


def test_http_client_and_curl(backend):
    status, headers, body = ghtest.http_client_request(backend.port, "GET", "/bytes/10")
    assert status == 200 and body == pattern(10)
    p = ghtest.curl("-i", "http://127.0.0.1:%d/" % backend.port)
    assert p.returncode == 0, p.stderr
    status, headers, body = ghtest.parse_curl_head(p.stdout)
    assert status == 200 and body == b"backend a\n"
    assert ("X-Backend", "a") in headers


def test_load_generator_counts_and_failures(backend):
    load = ghtest.Load(backend.port, threads=4, duration=1.0, targets=["/", "/status/500"],
                       modes=["keepalive", "new"]).run()
    assert load.ok > 10
    assert load.failures and all(f.target == "/status/500" for f in load.failures)
    assert all(f.reason == "status 500" for f in load.failures)
    # max_requests bounds the total
    load = ghtest.Load(backend.port, threads=4, duration=5.0, max_requests=40).run()
    assert load.ok + len(load.failures) == 40
    assert load.failures == [], load.report()


def test_load_generator_records_connection_errors():
    port = ghtest.free_port()
    load = ghtest.Load(port, threads=2, duration=0.3, max_requests=10).run()
    assert load.ok == 0 and len(load.failures) == 10
    assert "ConnectionRefusedError" in load.failures[0].reason


def test_config_builder_and_listener_count():
    conf = ghtest.make_config(workers=3, listen=["127.0.0.1:0", "[::1]:0"],
                              upstreams=[ghtest.upstream("app", [9001, "127.0.0.1:9002"])])
    assert ghtest.count_listeners(conf) == 2
    assert 'upstream = "app"' in conf and "workers = 3;" in conf
    assert ghtest.line_of(conf, "workers") == 1


def test_listen_regex():
    log = ("2026/11/23 18:58:52 [notice] 12: listening on 127.0.0.1:4242\n"
           "2026/11/23 18:58:52 [notice] 12: listening on [::1]:4343\n")
    assert ghtest.LISTEN_RE.findall(log) == [("127.0.0.1", "4242"), ("[::1]", "4343")]
    m = ghtest.ERROR_LOG_LINE_RE.match(log.splitlines()[0])
    assert m and m.group(2) == "notice" and m.group(3) == "12"


def test_children_scan():
    kids = ghtest.children_of(1)
    assert isinstance(kids, list)
