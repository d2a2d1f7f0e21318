"""Access and error logs, and USR1 reopening (SPEC section 7)."""

import json
import os
import re
import signal
import time

import ghtest
from ghtest import get, make_config, route_return, upstream, wait_for

# nginx combined, then request time, upstream address and request id (SPEC section 7):
# $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
# "$http_referer" "$http_user_agent" $request_time $upstream_addr $request_id
COMBINED_RE = re.compile(
    r'^(?P<addr>\S+) - (?P<user>\S+) \[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} '
    r'[+-]\d{4})\] "(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+) '
    r'"(?P<referer>[^"]*)" "(?P<ua>[^"]*)" (?P<duration>\d+(?:\.\d+)?) '
    r'(?P<upstream>\S+) "?(?P<rid>[^"\s]+)"?$')


def conf(backend_port=None, access_format="combined"):
    ups = [upstream("app", [backend_port])] if backend_port else []
    return make_config(upstreams=ups, access_format=access_format)


def find_line(gh, needle, name="access.log", timeout=5):
    return wait_for(lambda: next((l for l in gh.access_lines(name) if needle in l), None),
                    timeout, what="%r in %s" % (needle, name))


def test_access_log_combined_return_route(gh_factory):
    gh = gh_factory(conf())
    r = get(gh.port, "/ping?x=1", headers=[("Referer", "http://ref.example/"),
                                           ("User-Agent", "ghtest-ua/1.0"),
                                           ("X-Request-ID", "req-abc.123")])
    assert r.status == 200
    line = find_line(gh, "/ping?x=1")
    m = COMBINED_RE.match(line)
    assert m, "not combined format: %r" % line
    assert m["addr"] == "127.0.0.1"
    assert m["user"] == "-"
    assert m["request"] == "GET /ping?x=1 HTTP/1.1"
    assert m["status"] == "200"
    assert m["bytes"] == "5"
    assert m["referer"] == "http://ref.example/"
    assert m["ua"] == "ghtest-ua/1.0"
    assert float(m["duration"]) < 5
    assert m["upstream"] == "-"
    assert m["rid"] == "req-abc.123"
    assert r.header("X-Request-ID") == "req-abc.123"


def test_access_log_proxied_and_generated_request_id(gh_factory, backend):
    gh = gh_factory(conf(backend.port))
    r = get(gh.port, "/bytes/1234", headers=[("User-Agent", "ua2")])
    assert r.status == 200
    rid = r.header("X-Request-ID")
    assert rid and re.match(r"^[A-Za-z0-9._:@-]{1,128}$", rid)
    line = find_line(gh, "/bytes/1234")
    m = COMBINED_RE.match(line)
    assert m, line
    assert m["status"] == "200" and m["bytes"] == "1234"
    assert m["referer"] == "-" and m["ua"] == "ua2"
    assert m["upstream"] == backend.address
    assert m["rid"] == rid


def test_access_log_error_statuses(gh_factory):
    gh = gh_factory(conf())
    assert get(gh.port, "/nowhere-404").status == 404
    m = COMBINED_RE.match(find_line(gh, "/nowhere-404"))
    assert m and m["status"] == "404"


def test_access_log_json(gh_factory, backend):
    gh = gh_factory(conf(backend.port, access_format="json"))
    get(gh.port, "/echo?j=1", headers=[("User-Agent", "ua-json")])
    line = find_line(gh, "/echo?j=1")
    doc = json.loads(line)
    for key in ("time", "remote_addr", "method", "uri", "status", "bytes", "referer",
                "user_agent", "duration", "upstream", "upstream_status", "request_id"):
        assert key in doc, "%s missing from %s" % (key, line)
    assert doc["method"] == "GET" and doc["remote_addr"] == "127.0.0.1"
    assert str(doc["status"]) == "200" and doc["user_agent"] == "ua-json"
    assert doc["upstream"] == backend.address


def test_usr1_reopens_logs(gh_factory):
    gh = gh_factory(conf())
    get(gh.port, "/ping?before")
    find_line(gh, "/ping?before")
    os.rename(gh.path("access.log"), gh.path("access.log.1"))
    os.rename(gh.path("error.log"), gh.path("error.log.1"))
    # still written to the renamed file until told
    get(gh.port, "/ping?renamed")
    find_line(gh, "/ping?renamed", name="access.log.1")
    gh.signal(signal.SIGUSR1)
    wait_for(lambda: os.path.exists(gh.path("access.log")), 5, what="a new access.log")
    wait_for(lambda: os.path.exists(gh.path("error.log")), 5, what="a new error.log")

    # Every worker reopens: soon, a whole batch of requests on new connections (spread
    # over the workers) lands in the new file.
    deadline = time.monotonic() + ghtest.scaled(5)
    batch = 0
    while True:
        batch += 1
        marks = ["/ping?after-%d-%d" % (batch, i) for i in range(12)]
        for m in marks:
            assert get(gh.port, m).status == 200
        time.sleep(0.1)
        text = gh.access_log()
        if all(m + " " in text for m in marks):
            break
        assert time.monotonic() < deadline, "requests still not in the new access.log"
    old = gh.read("access.log.1")
    assert all(m + " " not in old for m in marks)


def test_s_reopen(gh_factory):
    gh = gh_factory(conf())
    get(gh.port, "/ping?one")
    find_line(gh, "/ping?one")
    os.rename(gh.path("access.log"), gh.path("access.log.1"))
    p = gh.run("-s", "reopen")
    assert p.returncode == 0, p.stderr

    def landed():
        get(gh.port, "/ping?two")
        return any("/ping?two" in l for l in gh.access_lines())
    wait_for(landed, 5, interval=0.1, what="requests in the reopened access.log")


def test_error_log_line_format(gh_factory):
    gh = gh_factory(conf())
    get(gh.port, "/ping")
    lines = [l for l in gh.error_log().splitlines() if l.strip()]
    assert lines, "empty error log"
    levels = set()
    for line in lines:
        m = ghtest.ERROR_LOG_LINE_RE.match(line)
        assert m, "error log line without time, level and pid: %r" % line
        levels.add(m.group(2))
        assert int(m.group(3)) > 0
    listening = [l for l in lines if "listening on 127.0.0.1:%d" % gh.port in l]
    assert listening, "no 'listening on' line"
    m = ghtest.ERROR_LOG_LINE_RE.match(listening[0])
    assert m.group(2) == "notice"
    assert int(m.group(3)) == gh.pid, "the master binds, so the master logs it"


def test_error_log_level_filters(gh_factory):
    """level = "error" keeps notice lines (such as 'listening on') out of the file."""
    text = make_config(routes=[route_return("= /ping", 200, "pong\n")], error_level="error")
    gh = gh_factory(text, start=False)
    gh.start(wait=False)
    # no 'listening on' line at this level: ready once the pid file and the workers are
    wait_for(lambda: gh.read_pid_file() == gh.pid or not gh.running(), 10, what="pid file")
    assert gh.running(), gh.log_tail()
    gh.wait_workers(2)
    assert "[notice]" not in gh.error_log() and "[info]" not in gh.error_log()


def _hostile_request(port, path):
    # 1.5 KB Referer and User-Agent of obs-text bytes (>= 0x80), escaped to
    # 4 (combined) or 6 (JSON) bytes each: over the old 8 KB line, which a
    # worker under ASan aborted on (issue 9).
    junk = bytes(range(0x80, 0x100)) * 12
    with ghtest.HttpConn(port) as c:
        c.send(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\nReferer: " + junk
               + b"\r\nUser-Agent: " + junk[::-1] + b"\r\nConnection: close\r\n\r\n")
        return c.read_response()


def test_access_log_hostile_fields_combined(gh_factory, backend):
    gh = gh_factory(conf(backend.port))
    for i in range(4):
        # Different alignments of the fields in the line.
        assert _hostile_request(gh.port, "/echo?c=" + "x" * (i * 7)).status == 200
    assert get(gh.port, "/echo?after=1").status == 200      # the worker lives
    line = find_line(gh, "/echo?c=xxxxxxxxxxxxxxxxxxxxx")
    assert len(line) < 8192
    m = COMBINED_RE.match(line)
    assert m, line
    # Each field is cut at 2 KB of output, visibly.
    assert m["referer"].startswith("\\x80\\x81") and m["referer"].endswith("...")
    assert len(m["referer"]) <= 2048 and len(m["ua"]) <= 2048
    assert m["rid"] != "-"
    assert gh.bad_log_lines() == []


def test_access_log_hostile_fields_json_cut_visibly(gh_factory, backend):
    gh = gh_factory(conf(backend.port, access_format="json"))
    assert _hostile_request(gh.port, "/echo?j=" + "y" * 3000).status == 200
    assert get(gh.port, "/echo?after=1").status == 200
    line = find_line(gh, "/echo?j=yyy")
    doc = json.loads(line)                  # still one valid object
    assert doc["uri"].endswith("...") and len(doc["uri"]) <= 2048
    assert doc["referer"].startswith("\u0080\u0081") and doc["referer"].endswith("...")
    assert doc["status"] == 200 and doc["request_id"]
