"""The command line without a running daemon: -t, -T, -v, -V, and start-up failures
(SPEC sections 2 and 4)."""

import os
import re
import subprocess

import pytest

import ghtest
from ghtest import GATEHOUSE_BIN, make_config, route_return, route_upstream, upstream


def need_binary():
    if not os.path.exists(GATEHOUSE_BIN):
        pytest.fail("gatehouse binary not found at %s (build it, or set GATEHOUSE_BIN)"
                    % GATEHOUSE_BIN)


def run(conf_dir, text, *flags, name="gatehouse.conf"):
    need_binary()
    path = os.path.join(conf_dir, name)
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([GATEHOUSE_BIN, "-c", path, "-p", conf_dir] + list(flags),
                       capture_output=True, text=True, timeout=ghtest.scaled(10),
                       stdin=subprocess.DEVNULL)
    return path, p


GOOD = make_config(upstreams=[upstream("app", [9001])])


def assert_conf_error(p, path, line, *words):
    """Exit 1 and a `FILE:LINE: message` line on stderr naming the right line."""
    assert p.returncode == 1, "exit %d\nstdout: %s\nstderr: %s" % (p.returncode, p.stdout,
                                                                   p.stderr)
    name = os.path.basename(path)
    rx = re.compile(r"(^|[\s/])%s:%d: \S" % (re.escape(name), line), re.M)
    m = rx.search(p.stderr)
    assert m, "no '%s:%d: message' on stderr:\n%s" % (name, line, p.stderr)
    msg_line = p.stderr[m.start():].splitlines()[0]
    for w in words:
        assert re.search(w, msg_line, re.I), "%r not in %r" % (w, msg_line)
    assert "configuration ok" not in p.stdout


def test_good_config_ok(conf_dir):
    path, p = run(conf_dir, GOOD, "-t")
    assert p.returncode == 0, p.stderr
    assert "configuration ok" in p.stdout + p.stderr


def test_good_config_does_not_start_anything(conf_dir):
    path, p = run(conf_dir, GOOD, "-t")
    assert p.returncode == 0, p.stderr
    assert not os.path.exists(os.path.join(conf_dir, "gatehouse.pid"))


def test_syntax_error(conf_dir):
    text = GOOD.replace("workers = 2;", "workers = = 2;")
    path, p = run(conf_dir, text, "-t")
    assert_conf_error(p, path, ghtest.line_of(text, "workers = = 2"))


def test_syntax_error_later_line(conf_dir):
    text = GOOD.replace('pid_file = "gatehouse.pid";', 'pid_file = "gatehouse.pid" ];')
    path, p = run(conf_dir, text, "-t")
    assert_conf_error(p, path, ghtest.line_of(text, "pid_file"))


def test_unknown_top_level_setting(conf_dir):
    text = GOOD.replace("workers = 2;\n", "workers = 2;\nbogus_setting = 1;\n")
    path, p = run(conf_dir, text, "-t")
    assert_conf_error(p, path, ghtest.line_of(text, "bogus_setting"), "unknown setting",
                      "bogus_setting")


def test_unknown_setting_in_upstream(conf_dir):
    text = make_config(upstreams=[upstream("app", [9001]),
                                  upstream("other", [9002], extra="frobnicate = true;")],
                       routes=[route_upstream("/", "app"), route_upstream("/o/", "other")])
    path, p = run(conf_dir, text, "-t")
    # SPEC: FILE:LINE: unknown setting 'x' in 'upstreams.[0]'
    assert_conf_error(p, path, ghtest.line_of(text, "frobnicate"), "unknown setting",
                      "frobnicate", r"upstreams\.\[1\]")


def test_bad_duration(conf_dir):
    text = make_config(upstreams=[upstream("app", [9001])], shutdown_timeout="10 parsecs")
    path, p = run(conf_dir, text, "-t")
    assert_conf_error(p, path, ghtest.line_of(text, "shutdown_timeout"),
                      "shutdown_timeout|duration|parsecs")


def test_bad_size(conf_dir):
    text = GOOD.replace("workers = 2;\n", 'workers = 2;\nshm_size = "lots";\n')
    path, p = run(conf_dir, text, "-t")
    assert_conf_error(p, path, ghtest.line_of(text, "shm_size"), "shm_size|size|lots")


def test_undefined_upstream(conf_dir):
    text = make_config(upstreams=[upstream("app", [9001])],
                       routes=[route_return("= /ping", 200, "pong\n"),
                               route_upstream("/x/", "nosuch")])
    path, p = run(conf_dir, text, "-t")
    assert_conf_error(p, path, ghtest.line_of(text, '"nosuch"'), "nosuch")


def test_duplicate_upstream_name(conf_dir):
    text = make_config(upstreams=[upstream("app", [9001]), upstream("app", [9002])])
    path, p = run(conf_dir, text, "-t")
    second = [i for i, l in enumerate(text.splitlines(), 1) if 'name = "app"' in l][1]
    assert_conf_error(p, path, second, "duplicate", "app")


def test_missing_file(conf_dir):
    need_binary()
    p = subprocess.run([GATEHOUSE_BIN, "-t", "-c", os.path.join(conf_dir, "nope.conf")],
                       capture_output=True, text=True, timeout=ghtest.scaled(10))
    assert p.returncode == 1
    assert "nope.conf" in p.stderr


def test_all_errors_reported(conf_dir):
    """STYLE.md: config errors are all reported, then exit 1."""
    text = make_config(upstreams=[upstream("app", [9001], extra="frobnicate = 1;")],
                       routes=[route_upstream("/", "app"), route_upstream("/x/", "nosuch")])
    path, p = run(conf_dir, text, "-t")
    assert p.returncode == 1
    assert "frobnicate" in p.stderr and "nosuch" in p.stderr, p.stderr


def test_dump_effective_config(conf_dir):
    path, p = run(conf_dir, GOOD, "-T")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    # defaults filled in for settings absent from the file
    m = re.search(r"shutdown_timeout\s*[=:]\s*(\S+)", out)
    assert m, out
    assert re.match(r'"?(30s|30000ms|30)"?;?$', m.group(1)), m.group(0)
    for key in ("shm_size", "keepalive_timeout", "max_body_size", "client_header"):
        assert key in out, "%s missing from -T output" % key
    assert "127.0.0.1:9001" in out


def test_dump_shows_set_values(conf_dir):
    text = make_config(upstreams=[upstream("app", [9001])], shutdown_timeout="7s")
    path, p = run(conf_dir, text, "-T")
    assert p.returncode == 0, p.stderr
    m = re.search(r"shutdown_timeout\s*[=:]\s*(\S+)", p.stdout)
    assert m and re.match(r'"?(7s|7000ms|7)"?;?$', m.group(1)), p.stdout


def test_dump_broken_config_fails(conf_dir):
    text = GOOD.replace("workers = 2;", "workers = = 2;")
    path, p = run(conf_dir, text, "-T")
    assert p.returncode == 1


@pytest.mark.parametrize("flag", ["-v", "-V"])
def test_version(flag):
    need_binary()
    p = subprocess.run([GATEHOUSE_BIN, flag], capture_output=True, text=True,
                       timeout=ghtest.scaled(10))
    assert p.returncode == 0, p.stderr
    out = p.stdout + p.stderr
    assert re.search(r"gatehouse\b.*\d+\.\d+", out, re.I), out
    if flag == "-V":
        assert re.search(r"openssl", out, re.I), "-V should name linked libraries: " + out


def test_version_names_jansson():
    """The admin API's JSON library is a linked library too."""
    need_binary()
    p = subprocess.run([GATEHOUSE_BIN, "-V"], capture_output=True, text=True,
                       timeout=ghtest.scaled(10))
    assert p.returncode == 0, p.stderr
    assert re.search(r"jansson \d+\.\d+", p.stdout), p.stdout
    assert re.search(r"nghttp2 \d+\.\d+\.\d+", p.stdout), p.stdout    # HTTP/2's


def test_port_in_use_exits_2(conf_dir):
    need_binary()
    busy = ghtest.listening_socket()
    try:
        port = busy.getsockname()[1]
        text = make_config(listen=["127.0.0.1:%d" % port], upstreams=[upstream("app", [9001])])
        path = os.path.join(conf_dir, "gatehouse.conf")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([GATEHOUSE_BIN, "-c", path, "-p", conf_dir], capture_output=True,
                           text=True, timeout=ghtest.scaled(10), stdin=subprocess.DEVNULL)
        try:
            with open(os.path.join(conf_dir, "error.log")) as f:
                log = f.read()
        except OSError:
            log = ""
        out = p.stderr + log
        assert p.returncode == 2, "exit %d\n%s" % (p.returncode, out)
        assert "127.0.0.1:%d" % port in out, out
        assert "Address already in use" in out, out
    finally:
        busy.close()


def test_unknown_flag():
    need_binary()
    p = subprocess.run([GATEHOUSE_BIN, "--no-such-flag"], capture_output=True, text=True,
                       timeout=ghtest.scaled(10))
    assert p.returncode != 0


def test_unwritable_access_log_exits_2(conf_dir):
    """Like nginx, an access log that cannot be opened (here: its directory is missing)
    stops the start with exit 2 and the path and strerror, instead of serving unlogged."""
    need_binary()
    text = make_config().replace('path = "access.log"', 'path = "no/such/dir/access.log"')
    assert "no/such/dir/access.log" in text
    path = os.path.join(conf_dir, "gatehouse.conf")
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([GATEHOUSE_BIN, "-c", path, "-p", conf_dir], capture_output=True,
                       text=True, timeout=ghtest.scaled(10), stdin=subprocess.DEVNULL)
    try:
        with open(os.path.join(conf_dir, "error.log")) as f:
            log = f.read()
    except OSError:
        log = ""
    out = p.stderr + log
    assert p.returncode == 2, "exit %d\n%s" % (p.returncode, out)
    assert "no/such/dir/access.log" in out and "No such file or directory" in out, out
