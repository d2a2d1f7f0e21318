"""The custom access log format with nginx variables (issue 14 item 5) and W3C Trace
Context (item 6): a valid traceparent passes through unchanged with its tracestate,
anything else is replaced by one made here (sampled flag off) and its tracestate
dropped, and the trace id is in the access log."""

import json
import os
import re
import subprocess

import pytest

import ghtest
from ghtest import get, make_config, route_return, route_upstream, upstream, wait_for

TEMPLATE = ('$remote_addr - $remote_user [$time_local] \\"$request\\" $status $body_bytes_sent '
            '\\"$http_user_agent\\" host=$host uri=$uri args=$args m=$request_method '
            'ru=$request_uri p=$server_protocol s=$server_name up=$upstream_addr '
            'us=$upstream_status id=$request_id t=$trace_id ssl=$ssl_protocol '
            'pid=${pid}x $$5 rt=$request_time iso=$time_iso8601')


def custom_conf(backend, template=TEMPLATE):
    text = make_config(workers=1, upstreams=[upstream("app", [backend.port])],
                       names=("example.test",))
    return text.replace('format = "combined"; }', 'format = "custom"; template = "%s"; }'
                        % template)


def test_custom_template(gh_factory, backend):
    gh = gh_factory(custom_conf(backend))
    r = get(gh.port, "/a/%61b/../c?x=1&y", host="example.test",
            headers=[("User-Agent", 'agent "quoted"\t'), ("X-Request-ID", "rid-1")])
    assert r.status == 200
    line = wait_for(lambda: gh.access_lines(), 5)[0]
    workers = gh.worker_pids()
    want = (r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
            r'"GET /a/%61b/\.\./c\?x=1&y HTTP/1\.1" 200 \d+ '
            r'"agent \\x22quoted\\x22" host=example\.test uri=/a/c'
            r' args=x=1&y m=GET ru=/a/%61b/\.\./c\?x=1&y p=HTTP/1\.1 s=example\.test '
            r'up=127\.0\.0\.1:' + str(backend.port) + r' us=200 id=rid-1 t=[0-9a-f]{32} ssl=- '
            r'pid=(\d+)x \$5 rt=\d+\.\d{3} iso=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$')
    m = re.match(want, line)
    assert m, line
    assert int(m.group(1)) in workers


def test_custom_template_errors(conf_dir, backend):
    base = custom_conf(backend)
    path = os.path.join(conf_dir, "gatehouse.conf")
    cases = [
        (base.replace("$request_time", "$request_tme"), "unknown variable '\\$request_tme'"),
        (base.replace("$request_time", "${request_time"), "without its"),
        (base.replace("$request_time", "$ "), "without a variable name"),
        (base.replace('format = "custom"; ', 'format = "combined"; '), "only with"),
        (re.sub(r' template = "[^\n]*"; }', " }", base), "needs 'access_log.template'"),
    ]
    for text, msg in cases:
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([ghtest.GATEHOUSE_BIN, "-t", "-c", path, "-p", conf_dir],
                           capture_output=True, text=True, timeout=20)
        line = ghtest.line_of(text, "access_log")
        assert p.returncode == 1, (msg, p.stdout, p.stderr)
        assert re.search(r"gatehouse\.conf:%d: .*%s" % (line, msg), p.stderr), (msg, p.stderr)
    # -T prints the template back, and that reads back the same
    with open(path, "w") as f:
        f.write(base)
    p = subprocess.run([ghtest.GATEHOUSE_BIN, "-T", "-c", path, "-p", conf_dir],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    dumped = os.path.join(conf_dir, "dumped.conf")
    with open(dumped, "w") as f:
        f.write(p.stdout.replace("configuration ok\n", ""))
    q = subprocess.run([ghtest.GATEHOUSE_BIN, "-T", "-c", dumped, "-p", conf_dir],
                       capture_output=True, text=True, timeout=20)
    body = lambda out: [l for l in out.splitlines() if not l.startswith("#")]   # past "# file:"
    assert q.returncode == 0 and body(q.stdout) == body(p.stdout), q.stderr


# ---- traceparent ------------------------------------------------------------------------

TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def headers_of(doc, name):
    return [v for k, v in doc["headers"] if k.lower() == name]


@pytest.fixture
def gh(gh_factory, backend):
    return gh_factory(make_config(workers=1, upstreams=[upstream("app", [backend.port])],
                                  access_format="json"))


def test_valid_traceparent_passes_through(gh, backend):
    doc = get(gh.port, "/echo", headers=[("traceparent", TP), ("tracestate", "v=1")]).json()
    assert headers_of(doc, "traceparent") == [TP]
    assert headers_of(doc, "tracestate") == ["v=1"]
    line = json.loads(wait_for(lambda: gh.access_lines(), 5)[-1])
    assert line["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize("bad", [
    [TP.upper()],                                               # upper-case hex
    ["00-00000000000000000000000000000000-00f067aa0ba902b7-01"],   # zero trace id
    ["00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"],   # zero parent id
    ["ff" + TP[2:]],                                            # version ff
    [TP + "-extra"],                                            # version 00 with more
    [TP, TP],                                                   # two of them
    ["garbage"],
    [],                                                         # none at all
], ids=["upper", "zero-trace", "zero-parent", "ff", "00-longer", "two", "garbage", "absent"])
def test_other_traceparents_are_replaced(gh, backend, bad):
    hdrs = [("traceparent", v) for v in bad] + [("tracestate", "v=1")]
    doc = get(gh.port, "/echo", headers=hdrs).json()
    got = headers_of(doc, "traceparent")
    assert len(got) == 1 and re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-00", got[0]), got
    assert got[0] not in bad
    assert headers_of(doc, "tracestate") == [], "a tracestate without its traceparent goes"
    line = json.loads(wait_for(lambda: gh.access_lines(), 5)[-1])
    assert line["trace_id"] == got[0][3:35]


def test_later_version_passes_through(gh, backend):
    later = "01" + TP[2:] + "-future"
    doc = get(gh.port, "/echo", headers=[("traceparent", later)]).json()
    assert headers_of(doc, "traceparent") == [later]
