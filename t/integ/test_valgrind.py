"""The release binary stays valgrind-clean (STYLE: keep valgrind clean): master and
workers serve fixed answers, proxied requests with bodies, compressed responses (gzip,
br, zstd; whole and abandoned), a rejected request, the edge paths (real_ip, a rate
limit, a denied client, PROXY v1/v2 and a malformed header), TLS, the helper's
status.json, dashboard and metrics, and a reload, then stop, with no memory error and
no definite leak in any process."""

import glob
import os
import shutil
import socket
import stat
import time

import pytest

import subprocess

import ghtest
from ghtest import get, make_config, request, route_return, route_upstream, upstream
from pki import Pki

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELEASE = os.path.join(REPO, "build", "gatehouse")


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed")
@pytest.mark.skipif(not os.access(RELEASE, os.X_OK), reason="no release build at build/gatehouse")
def test_valgrind_clean(backend, tmp_path):
    wrapper = tmp_path / "gatehouse-vg"
    logs = tmp_path / "vg"
    logs.mkdir()
    wrapper.write_text("#!/bin/sh\nexec valgrind --trace-children=yes --leak-check=full "
                       "--errors-for-leak-kinds=definite --log-file=%s/vg.%%p.log %s \"$@\"\n"
                       % (logs, RELEASE))
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    routes = [route_return("= /ping", 200, "pong\n"),
              '{ path = "/rl"; rate_limit = "lim"; return = { status = 200; body = "ok"; }; }',
              route_upstream("/", "app")]
    pki = Pki(str(tmp_path / "pki"))
    cert, key = pki.server("localhost")
    conf = make_config(workers=1, listen=("127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"),
                       upstreams=[upstream("app", [backend.port])], routes=routes,
                       extra='real_ip = { from = ["127.0.0.1/32"]; };\n'
                             'rate_limits = ( { name = "lim"; key = "$remote_addr"; '
                             'rate = 0.01; burst = 0; } );\n'
                             'access = { deny = ["127.0.0.2", "192.0.2.66"]; };\n'
                             'tls = { certificates = ( { cert = "%s"; key = "%s"; } ); };'
                             % (cert, key))
    # the second listener is behind a "balancer" (PROXY protocol), the third is TLS
    i = conf.rindex('{ address = "127.0.0.1:0"; }')
    conf = conf[:i] + '{ address = "127.0.0.1:0"; tls = true; }' \
        + conf[i + len('{ address = "127.0.0.1:0"; }'):]
    i = conf.rindex('{ address = "127.0.0.1:0"; }')
    conf = conf[:i] + '{ address = "127.0.0.1:0"; proxy_protocol = true; }' \
        + conf[i + len('{ address = "127.0.0.1:0"; }'):]
    gh_pki = pki
    gh = ghtest.Gatehouse(conf, binary=str(wrapper))
    try:
        try:
            exercise(gh, gh_pki)
        except Exception:
            print(gh.log_tail(60))
            raise
        problems = gh.stop(timeout=ghtest.scaled(30))
        assert not problems, problems
    finally:
        gh.stop(timeout=5)
        gh.cleanup()

    reports = sorted(glob.glob(str(logs / "vg.*.log")))
    assert reports, "valgrind wrote no report"
    bad = []
    checked = 0
    for path in reports:
        text = open(path, errors="replace").read()
        if "Memcheck" not in text:
            continue                    # a process valgrind did not trace (none expected)
        checked += 1
        if "ERROR SUMMARY: 0 errors" not in text or "definitely lost: 0" not in text \
                and "definitely lost" in text:
            bad.append("%s:\n%s" % (path, text[:3000]))
    assert not bad, "\n".join(bad)
    assert checked >= 3, "expected the master and two generations of workers, got %d" % checked


def exercise(gh, pki):
    gh.start(timeout=ghtest.scaled(30))
    assert get(gh.port, "/ping").status == 200
    assert get(gh.port, "/bytes/100000").status == 200
    r = request(gh.port, "POST", "/echo", body=b"x" * 50000)
    assert r.status == 200
    assert get(gh.port, "/nope", headers=[("Transfer-Encoding", "gzip")]).status == 400
    # compression: each codec, a held-output (incompressible) body, an abandoned one
    for coding in ("gzip", "br", "zstd"):
        r = get(gh.port, "/typed/300000?framing=chunked&data=random",
                headers=[("Accept-Encoding", coding)], timeout=60)
        assert r.status == 200 and r.header("Content-Encoding") == coding
        with socket.create_connection(("127.0.0.1", gh.port), timeout=ghtest.scaled(10)) as s:
            s.sendall(b"GET /typed/3000000 HTTP/1.1\r\nHost: x\r\nAccept-Encoding: %s\r\n\r\n"
                      % coding.encode())
            s.recv(1000)                    # then the client leaves mid-body
    # the edge paths: real_ip, a rate limit, a denied client, the PROXY protocol
    xff = [("X-Forwarded-For", "198.51.100.7, 127.0.0.1")]
    assert get(gh.port, "/echo", headers=xff).status == 200
    assert [get(gh.port, "/rl").status for _ in range(2)] == [200, 429]
    assert get(gh.port, "/ping", headers=[("X-Forwarded-For", "192.0.2.66")]).status == 403
    pp_port = [int(line.rsplit(":", 1)[1]) for line in gh.error_log().splitlines()
               if "listening on 127.0.0.1:" in line and "admin" not in line][1]
    for header in (b"PROXY TCP4 192.0.2.1 127.0.0.1 1234 80\r\n",
                   b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xc0\x00\x02\x02\x7f\x00\x00\x01"
                   b"\x04\xd2\x00\x50"):
        r = ghtest.send_raw(pp_port, header + b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.status == 200, r
    with socket.create_connection(("127.0.0.1", pp_port), timeout=ghtest.scaled(10)) as s:
        s.sendall(b"PROXY TCP4 nonsense\r\n")
        assert s.recv(100) == b""           # malformed: closed without a byte
    # a response the client does not take at once: the min_client_rate clock, SIOCOUTQ
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(ghtest.scaled(30))
        s.connect(("127.0.0.1", gh.port))
        s.sendall(b"GET /bytes/8000000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        time.sleep(0.5)
        n = 0
        while True:
            d = s.recv(1 << 20)
            if not d:
                break
            n += len(d)
        assert n > 8000000, n
    # TLS: a proxied request with a body, a resumed session, a refused handshake
    tls_port = [int(line.rsplit(":", 1)[1]) for line in gh.error_log().splitlines()
                if "listening on 127.0.0.1:" in line and "admin" not in line][2]
    sess = os.path.join(pki.dir, "sess.pem")
    for extra in (["-sess_out", sess], ["-sess_in", sess]):
        r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % tls_port,
                            "-ign_eof", "-tls1_2"] + extra,
                           input=b"GET /bytes/50000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                           capture_output=True, timeout=ghtest.scaled(30))
        assert b"200 OK" in r.stdout, r.stdout[-2000:]
    assert b"Reused, TLSv1.2" in r.stdout
    r = subprocess.run(["curl", "-sS", "--cacert", pki.ca_cert, "--data-binary", "@-",
                        "https://localhost:%d/echo" % tls_port], input=b"y" * 100000,
                       capture_output=True, timeout=ghtest.scaled(30))
    assert b'"body_len": 100000' in r.stdout, r
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % tls_port,
                        "-tls1_2", "-cipher", "AES128-SHA"], input=b"",
                       capture_output=True, timeout=ghtest.scaled(30))
    assert b"Cipher is (NONE)" in r.stdout
    # the helper's admin API: the status document, the dashboard, the metrics
    admin = ghtest.admin_port(gh)
    for path in ("/status.json", "/status", "/metrics"):
        r = get(admin, path, timeout=ghtest.scaled(30))
        assert r.status == 200 and b"app" in r.body, (path, r)
    old = set(gh.worker_pids())
    gh.reload()
    gh.wait_workers(1, timeout=ghtest.scaled(30), exclude=old)
    assert get(gh.port, "/ping").status == 200
