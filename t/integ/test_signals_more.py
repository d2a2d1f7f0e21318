"""WINCH, user switching and the command line's edge cases (SPEC sections 2 and 3)."""

import os
import pwd
import signal
import subprocess
import time

import pytest

import ghtest
from ghtest import get, make_config, wait_for


def conf(workers=2, extra="", **kw):
    return make_config(workers=workers, extra=extra, **kw)


# -- WINCH -------------------------------------------------------------------


def test_winch_daemonized_stops_workers_hup_restarts(gh_factory):
    gh = gh_factory(conf(), start=False)
    gh.start("-d")
    workers = gh.worker_pids()
    assert len(workers) == 2
    gh.signal(signal.SIGWINCH)
    for w in workers:
        ghtest.wait_pid_gone(w, 10)
    time.sleep(0.3)
    assert gh.worker_pids() == [], "no worker is respawned after WINCH"
    assert ghtest.pid_alive(gh.pid), "the master stays"
    gh.reload()
    gh.wait_workers(2, exclude=workers)
    for _ in range(5):
        assert get(gh.port, "/ping").body == b"pong\n"
    gh.wait_log(r"starting workers again")


def test_winch_ignored_in_foreground(gh_factory):
    gh = gh_factory(conf())
    workers = gh.worker_pids()
    gh.signal(signal.SIGWINCH)
    gh.wait_log(r"SIGWINCH ignored")
    time.sleep(0.3)
    assert sorted(gh.worker_pids()) == sorted(workers)
    assert get(gh.port, "/ping").body == b"pong\n"


# -- user ----------------------------------------------------------------------


def nobody():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        return None


needs_root = pytest.mark.skipif(os.geteuid() != 0 or nobody() is None,
                                reason="needs root and a 'nobody' user")


@needs_root
def test_user_nobody_workers_drop_master_keeps_root(gh_factory):
    """Workers run as nobody, the master stays root, and the log files the master
    creates stay writable and reopenable (USR1) by the workers."""
    nb = nobody()
    gh = gh_factory(conf(extra='user = "nobody";'), start=False)
    os.chmod(gh.prefix, 0o755)  # a directory nobody can reach, like /var/log
    gh.start()
    assert ghtest.proc_status_field(gh.pid, "Uid")[:2] == ["0", "0"]
    workers = gh.worker_pids()
    want = [str(nb.pw_uid)] * 4
    for w in workers:
        # a child just forked (the helper starts after the workers) is root for
        # the moment before it drops privileges: wait, bounded, for the drop
        ghtest.wait_for(lambda: ghtest.proc_status_field(w, "Uid") == want, 5,
                        what="process %d running as nobody (%r)"
                        % (w, ghtest.proc_status_field(w, "Uid")))
    for name in ("access.log", "error.log"):
        assert os.stat(gh.path(name)).st_uid == nb.pw_uid, name
    for _ in range(4):
        assert get(gh.port, "/ping").status == 200
    wait_for(lambda: len(gh.access_lines()) >= 4, 5, what="access log lines")
    # logrotate: move the files away, USR1, the workers write to the new ones
    os.rename(gh.path("access.log"), gh.path("access.log.1"))
    os.rename(gh.path("error.log"), gh.path("error.log.1"))
    gh.signal(signal.SIGUSR1)
    wait_for(lambda: os.path.exists(gh.path("access.log")), 5, what="access.log recreated")

    def reopened():
        for w in workers:
            t = ghtest.proc_fd_targets(w)
            if gh.path("access.log") not in t or gh.path("error.log") not in t:
                return False
            if any(x.endswith(".log.1") for x in t):
                return False
        return True
    wait_for(reopened, 5, what="workers holding the new log files")
    assert os.stat(gh.path("access.log")).st_uid == nb.pw_uid
    for _ in range(4):
        assert get(gh.port, "/ping").status == 200
    wait_for(lambda: len(gh.access_lines()) >= 4, 5, what="lines in the new access log")


@needs_root
def test_unknown_user_is_a_config_error(gh_factory):
    text = conf(extra='user = "no-such-user-gh";')
    gh = gh_factory(text, start=False)
    line = ghtest.line_of(text, "no-such-user-gh")
    p = gh.run("-t")
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert "gatehouse.conf:%d: unknown user \"no-such-user-gh\"" % line in p.stderr, p.stderr
    p = gh.run(timeout=10)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "unknown user" in p.stderr
    assert not os.path.exists(gh.path("gatehouse.pid"))


# -- command line ------------------------------------------------------------------


def test_s_missing_pid_file(conf_dir):
    gh = ghtest.Gatehouse(conf(), prefix=conf_dir)
    p = gh.run("-s", "reload")
    assert p.returncode == 1
    assert "gatehouse.pid" in p.stderr and "running" in p.stderr, p.stderr


def test_s_stale_pid_file(conf_dir):
    gh = ghtest.Gatehouse(conf(), prefix=conf_dir)
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that is no process any more (our own reaped child)
    with open(gh.path("gatehouse.pid"), "w") as f:
        f.write("%d\n" % dead.pid)
    p = gh.run("-s", "quit")
    assert p.returncode == 1
    assert "stale pid file" in p.stderr and str(dead.pid) in p.stderr, p.stderr
    with open(gh.path("gatehouse.pid"), "w") as f:
        f.write("garbage\n")
    p = gh.run("-s", "quit")
    assert p.returncode == 1 and "invalid pid" in p.stderr, p.stderr


def test_relative_prefix(gh_factory):
    """-p with a relative prefix: paths in the file resolve under it; reload and
    -s work from the same directory."""
    gh = gh_factory(conf(), start=False)
    parent, name = os.path.split(gh.prefix)
    argv = [gh.binary, "-p", name, "-c", os.path.join(name, "gatehouse.conf")]
    out = open(gh.stderr_path, "ab")
    try:
        gh.proc = subprocess.Popen(argv, cwd=parent, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=out, start_new_session=True)
    finally:
        out.close()
    gh.pids.add(gh.proc.pid)
    gh.master_pid = gh.session = gh.proc.pid
    gh.wait_ready()
    assert gh.read_pid_file() == gh.pid
    assert get(gh.port, "/ping").status == 200
    wait_for(lambda: gh.access_lines(), 5, what="access.log under the prefix")
    p = subprocess.run(argv + ["-s", "reload"], cwd=parent, capture_output=True, text=True,
                       timeout=ghtest.scaled(10))
    assert p.returncode == 0, p.stderr
    gh.wait_log(r"reload done")


def test_t_does_not_bind(conf_dir):
    busy = ghtest.listening_socket()
    try:
        port = busy.getsockname()[1]
        gh = ghtest.Gatehouse(conf(listen=["127.0.0.1:%d" % port]), prefix=conf_dir)
        p = gh.run("-t")
        assert p.returncode == 0, p.stderr
        assert "configuration ok" in p.stdout
        # while starting for real says why it cannot (exit 2)
        p = gh.run()
        assert p.returncode == 2, (p.returncode, p.stderr)
        assert "127.0.0.1:%d" % port in p.stderr + gh.error_log()
    finally:
        busy.close()
