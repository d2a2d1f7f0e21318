"""The request metrics of SPEC section 6 (issue 14 item 1): gatehouse_requests_total
{server,route,code}, gatehouse_request_duration_seconds, gatehouse_connections{state},
gatehouse_reloads_total and gatehouse_worker_restarts_total. The exposition is checked
line by line by a strict parser of the Prometheus text format; counts are exact, survive
a worker's death and a reload, and never go backwards."""

import math
import os
import re
import signal
import time

import ghtest
from ghtest import HttpConn, admin_port, get, make_config, route_return, route_upstream, \
    upstream, wait_for

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
SAMPLE = re.compile(r"^(%s)(?:\{(%s(?:,%s)*)?\})? (\S+)$" % (NAME, LABEL, LABEL))
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def parse_exposition(text):
    """{(name, frozenset(labels.items())): value}; raises on anything the text format
    does not allow: a sample before its TYPE, a TYPE twice, a bad line, a bad value,
    a histogram whose buckets are not cumulative or lack +Inf, or _count != +Inf."""
    assert text.endswith("\n"), "the exposition ends with a newline"
    types, samples = {}, {}
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            assert len(parts) == 4 and re.fullmatch(NAME, parts[2]) and parts[3] in TYPES, line
            assert parts[2] not in types, "TYPE twice for %s (line %d)" % (parts[2], n)
            types[parts[2]] = parts[3]
            continue
        if line.startswith("# HELP ") or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "line %d is not a sample: %r" % (n, line)
        name, labels, value = m.group(1), m.group(2), m.group(3)
        base = re.sub(r"_(bucket|sum|count|total)$", "", name)
        assert name in types or base in types or (name[:-6] if name.endswith("_total")
                                                   else None) in types, \
            "sample %s before its TYPE (line %d)" % (name, n)
        float(value)                            # "+Inf", "NaN" and numbers parse
        lab = {}
        for lm in re.finditer(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"', labels or ""):
            assert lm.group(1) not in lab, "label twice in line %d" % n
            lab[lm.group(1)] = lm.group(2)
        key = (name, frozenset(lab.items()))
        assert key not in samples, "series twice: %r" % (key,)
        samples[key] = float(value)
    for name, kind in types.items():
        if kind != "histogram":
            continue
        series = {}
        for (n, lab), v in samples.items():
            if n == name + "_bucket":
                d = dict(lab)
                le = d.pop("le")
                series.setdefault(frozenset(d.items()), []).append((float(le), v))
        for lab, buckets in series.items():
            buckets.sort()
            values = [v for _, v in buckets]
            assert values == sorted(values), "buckets not cumulative: %r" % buckets
            assert math.isinf(buckets[-1][0]), "no +Inf bucket"
            assert samples[(name + "_count", lab)] == buckets[-1][1]
            assert (name + "_sum", lab) in samples
    return samples


def scrape(gh):
    r = get(admin_port(gh), "/metrics")
    assert r.status == 200
    return parse_exposition(r.text)


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0)


def conf(backend, workers=1, extra=""):
    return make_config(workers=workers, upstreams=[upstream("app", [backend.port])],
                       routes=[route_return("= /ping", 200, "pong\n"),
                               route_upstream("/api/", "app", "strip_prefix = true;"),
                               route_upstream("/", "app")],
                       names=("example.test",), extra=extra)


def test_requests_by_server_route_and_code(gh_factory, backend):
    gh = gh_factory(conf(backend))
    for _ in range(3):
        assert get(gh.port, "/ping", host="example.test").status == 200
    for _ in range(2):
        assert get(gh.port, "/api/status/201", host="example.test").status == 201
    assert get(gh.port, "/status/503", host="example.test").status == 503
    assert get(gh.port, "/ping", host="nowhere.test").status == 404
    s = wait_for(lambda: (lambda s: s if value(s, "gatehouse_requests_total", server="",
                                                route="", code="404") else None)(scrape(gh)), 5)
    req = "gatehouse_requests_total"
    assert value(s, req, server="example.test", route="= /ping", code="200") == 3
    assert value(s, req, server="example.test", route="/api/", code="201") == 2
    assert value(s, req, server="example.test", route="/", code="503") == 1
    assert value(s, req, server="", route="", code="404") == 1
    h = "gatehouse_request_duration_seconds"
    assert value(s, h + "_count", server="example.test") == 6
    assert value(s, h + "_bucket", server="example.test", le="+Inf") == 6


def test_duration_buckets(gh_factory, backend):
    gh = gh_factory(conf(backend))
    assert get(gh.port, "/slow/300", host="example.test").status == 200
    s = scrape(gh)
    h = "gatehouse_request_duration_seconds_bucket"
    assert value(s, h, server="example.test", le="0.25") == 0
    assert value(s, h, server="example.test", le="0.5") == 1
    assert 0.3 <= value(s, "gatehouse_request_duration_seconds_sum", server="example.test") < 2


def test_counts_survive_a_worker_death_and_a_reload(gh_factory, backend):
    gh = gh_factory(conf(backend, workers=2))
    for _ in range(20):
        assert get(gh.port, "/ping", host="example.test").status == 200
    key = dict(server="example.test", route="= /ping", code="200")
    assert value(scrape(gh), "gatehouse_requests_total", **key) == 20
    victim = gh.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    gh.wait_log(r"worker %d .*killed by signal 9" % victim)
    gh.wait_workers(2, exclude=[victim])
    # the dead worker's counts are folded, never lost and never counted twice
    seen = []
    for _ in range(20):
        seen.append(value(scrape(gh), "gatehouse_requests_total", **key))
    assert seen == [20] * 20, seen
    s = scrape(gh)
    assert value(s, "gatehouse_worker_restarts_total") == 1
    old = set(gh.worker_pids())
    gh.reload()
    gh.wait_workers(2, exclude=old)
    wait_for(lambda: not (set(gh.worker_pids()) & old), 10, what="old workers gone")
    assert get(gh.port, "/ping", host="example.test").status == 200
    s = scrape(gh)
    assert value(s, "gatehouse_requests_total", **key) == 21
    assert value(s, "gatehouse_reloads_total") == 1


def test_connection_states(gh_factory, backend):
    gh = gh_factory(conf(backend))
    idle = [HttpConn(gh.port) for _ in range(3)]
    for c in idle:
        c.send(b"GET /ping HTTP/1.1\r\nHost: example.test\r\n\r\n")
        assert c.read_response().status == 200
    reading = HttpConn(gh.port)
    reading.send(b"GET /ping HTTP/1.1\r\nHost: exa")           # a head arriving
    ws = HttpConn(gh.port)
    ws.send("GET /ws HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n")
    assert ws.read_response().status == 101
    slow = HttpConn(gh.port)
    slow.send(b"GET /slow/3000 HTTP/1.1\r\nHost: example.test\r\n\r\n")   # being served

    def states():
        s = scrape(gh)
        got = {k: value(s, "gatehouse_connections", state=k)
               for k in ("reading", "writing", "idle", "tunnel")}
        return got if got == {"reading": 1, "writing": 1, "idle": 3, "tunnel": 1} else None
    wait_for(states, 5, what="the connection gauges")
    for c in idle + [reading, ws, slow]:
        c.close()


def test_upstream_latency_histogram(gh_factory, backend):
    """gatehouse_upstream_latency_seconds: a histogram by upstream and server (its _sum
    and _count are the series of those names from before the buckets), whose buckets
    are the ones /status.json gives with p50/p99, and which a worker's death does not
    shrink."""
    gh = gh_factory(conf(backend, workers=2))
    for _ in range(3):
        assert get(gh.port, "/slow/300", host="example.test").status == 200
    assert get(gh.port, "/", host="example.test").status == 200
    lab = dict(upstream="app", server="127.0.0.1:%d" % backend.port)
    h = "gatehouse_upstream_latency_seconds"
    s = scrape(gh)
    assert value(s, h + "_bucket", le="0.2", **lab) == 1
    assert value(s, h + "_bucket", le="0.5", **lab) == 4
    assert value(s, h + "_bucket", le="+Inf", **lab) == 4
    assert value(s, h + "_count", **lab) == 4
    assert 0.9 <= value(s, h + "_sum", **lab) < 3
    status = ghtest.admin_status(gh)[("app", lab["server"])]
    bounds = get(admin_port(gh), "/status.json").json()["latency_bounds_ms"]
    assert bounds == [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]
    buckets = status["latency_buckets"]
    assert len(buckets) == len(bounds) + 1 and sum(buckets) == 4
    assert buckets[bounds.index(500)] == 3
    assert 200 <= status["p50_ms"] <= 500 and 200 <= status["p99_ms"] <= 500
    victims = gh.worker_pids()
    for victim in victims:
        os.kill(victim, signal.SIGKILL)
        gh.wait_log(r"worker %d .*killed by signal 9" % victim)
    gh.wait_workers(2, exclude=victims)
    s = scrape(gh)
    assert value(s, h + "_bucket", le="0.5", **lab) == 4
    assert value(s, h + "_count", **lab) == 4
    assert ghtest.admin_status(gh)[("app", lab["server"])]["latency_buckets"] == buckets
