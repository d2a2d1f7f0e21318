"""USR2 binary upgrade (SPEC section 3): the new master inherits the listening sockets and
the shared segment; the old one renames its pid file to PIDFILE.oldbin and runs until QUIT."""

import os
import re
import shutil
import signal
import time

import ghtest
from ghtest import Load, get, make_config, route_return, upstream, wait_for


def conf(backend_port=None, workers=2, body="pong\n"):
    ups = [upstream("app", [backend_port])] if backend_port else []
    return make_config(workers=workers, upstreams=ups)


def upgrade(gh, timeout=10.0):
    """USR2 to the current master; returns the new master's pid once it serves with its
    workers (the pid file names it and PIDFILE.oldbin names the old one)."""
    old = gh.pid
    gh.signal(signal.SIGUSR2)
    new = wait_for(lambda: (lambda p: p if p and p != old else None)(gh.read_pid_file()),
                   timeout, what="the new master's pid in the pid file")
    gh.pids.add(new)
    assert gh.read_pid_file("gatehouse.pid.oldbin") == old
    n = int(re.search(r"^\s*workers\s*=\s*(\d+)", gh.conf_text, re.M).group(1))
    wait_for(lambda: len(ghtest.workers_of(new)) == n, timeout,
             what="%d workers of the new master %d" % (n, new))
    for w in ghtest.workers_of(new):
        gh.pids.add(w)
    return new


def quit_old(gh, new):
    """QUIT the old master, check it exits 0, and follow the new one from then on."""
    gh.signal(signal.SIGQUIT)
    assert gh.wait_exit(15) == 0, gh.describe_exit()
    ghtest.follow_master(gh, new)


def test_usr2_then_quit_old_under_load(gh_factory, backend):
    """USR2, then QUIT to the old master, under a bounded concurrent load: not one request
    fails, the port never changes, and the new master serves from the inherited sockets."""
    gh = gh_factory(conf(backend.port))
    old, port = gh.pid, gh.port
    old_socks = ghtest.socket_inodes(old)

    def check(r):
        if r.status != 200:
            return "status %d" % r.status
        if r.body not in (b"pong\n", ghtest.pattern(1500)):
            return "bad body (%d bytes)" % len(r.body)
    load = Load(port, threads=6, duration=4.0, targets=["/ping", "/bytes/1500"],
                modes=["keepalive", "new"], check=check).start()
    time.sleep(0.5)
    new = upgrade(gh)
    assert ghtest.proc_stat(new)[1] == old, "the new master is the old one's child"
    # No re-bind: every listening socket of the new master is one the old master held.
    new_socks = ghtest.socket_inodes(new)
    assert new_socks and new_socks <= old_socks, (sorted(new_socks), sorted(old_socks))
    assert ghtest.pid_alive(old), "the old master keeps running until QUIT"
    time.sleep(0.8)  # both generations serve for a while
    quit_old(gh, new)
    load.join()
    assert load.ok > 50, load.report()
    assert not load.failures, load.report()
    assert not os.path.exists(gh.path("gatehouse.pid.oldbin"))
    assert gh.read_pid_file() == new
    for _ in range(10):
        assert get(port, "/ping").body == b"pong\n"
    gh.wait_log(r"listening on 127\.0\.0\.1:%d" % port)
    assert len(re.findall(r"(?<!admin )listening on", gh.error_log())) == 2, "one per master"
    # and the new master is a full master: it reloads
    old_workers = ghtest.workers_of(new)
    gh.reload()
    gh.wait_workers(2, exclude=old_workers)


def test_usr2_shared_state_survives(gh_factory):
    """The master's counters live in the shared segment: reloads and worker restarts
    counted by the old master carry on in the new one."""
    gh = gh_factory(conf())
    gh.reload()
    gh.wait_log(r"reload done: generation \d+ with 2 workers \(reloads: 1, worker restarts: 0\)")
    # The old workers serve until the new ones are ready (the handover): the
    # victim must be a new one, so wait until both old ones are gone.
    for slot in (0, 1):
        gh.wait_log(r"old worker \d+ \(slot %d\) exited" % slot)
    victim = gh.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    gh.wait_log(r"worker %d .*killed by signal 9" % victim)
    gh.wait_workers(2, exclude=[victim])
    gh.reload()
    gh.wait_log(r"\(reloads: 2, worker restarts: 1\)")
    gen = int(re.findall(r"reload done: generation (\d+)", gh.error_log())[-1])
    new = upgrade(gh)
    quit_old(gh, new)
    gh.wait_log(r"binary upgrade: took over the shared segment")
    gh.reload()
    m = gh.wait_log(r"reload done: generation (\d+) with 2 workers "
                    r"\(reloads: 3, worker restarts: 1\)")
    assert int(m.group(1)) > gen, "generations keep counting across the upgrade"
    assert get(gh.port, "/ping").body == b"pong\n"


def test_usr2_with_failing_binary_keeps_old(gh_factory):
    """A new binary that exits at once: the old master gets its pid file name back and
    keeps serving; a later USR2 with a good binary still works."""
    gh = gh_factory(conf(), start=False)
    binary = gh.path("gatehouse-bin")
    shutil.copy2(ghtest.GATEHOUSE_BIN, binary)
    gh.binary = binary
    gh.start()
    old, workers = gh.pid, gh.worker_pids()
    tmp = binary + ".new"
    with open(tmp, "w") as f:
        f.write("#!/bin/sh\nexit 3\n")
    os.chmod(tmp, 0o755)
    os.rename(tmp, binary)
    gh.signal(signal.SIGUSR2)
    gh.wait_log(r"new binary \d+ exited")
    wait_for(lambda: gh.read_pid_file() == old, 5, what="pid file restored")
    assert not os.path.exists(gh.path("gatehouse.pid.oldbin"))
    assert gh.running()
    assert sorted(gh.worker_pids()) == sorted(workers)
    for _ in range(5):
        assert get(gh.port, "/ping").body == b"pong\n"
    # put a working binary back: the upgrade goes through this time
    shutil.copy2(ghtest.GATEHOUSE_BIN, tmp)
    os.rename(tmp, binary)
    new = upgrade(gh)
    quit_old(gh, new)
    assert get(gh.port, "/ping").body == b"pong\n"


def test_usr2_with_bad_config_keeps_old(gh_factory):
    """The new binary refuses an invalid configuration (exit 1): same outcome."""
    gh = gh_factory(conf())
    old = gh.pid
    gh.write_config(conf().replace("workers = 2;", "workers = 2;\nbogus_setting = 1;"))
    gh.signal(signal.SIGUSR2)
    gh.wait_log(r"new binary \d+ exited")
    wait_for(lambda: gh.read_pid_file() == old, 5, what="pid file restored")
    assert not os.path.exists(gh.path("gatehouse.pid.oldbin"))
    assert get(gh.port, "/ping").body == b"pong\n"
    assert "bogus_setting" in gh.stderr()


def test_usr2_daemonized(gh_factory):
    """With -d the new master does not daemonize again: it stays the old master's child,
    in its session, and takes over once the old one quits."""
    gh = gh_factory(conf(), start=False)
    gh.start("-d")
    old = gh.pid
    new = upgrade(gh)
    st = ghtest.proc_stat(new)
    assert st[1] == old and st[3] == gh.session, st
    gh.signal(signal.SIGQUIT)
    gh.wait_exit(10)
    ghtest.follow_master(gh, new)
    assert get(gh.port, "/ping").body == b"pong\n"
    assert not os.path.exists(gh.path("gatehouse.pid.oldbin"))


def test_usr2_rollback(gh_factory):
    """The roll-back: USR2, WINCH to the old master (its workers go, it stays), then HUP
    to it (workers again) and QUIT to the new one: the old master has its pid file back
    and serves alone."""
    gh = gh_factory(conf(), start=False)
    gh.start("-d")
    old, old_workers = gh.pid, gh.worker_pids()
    new = upgrade(gh)
    new_workers = ghtest.workers_of(new)
    gh.signal(signal.SIGWINCH)
    for w in old_workers:
        ghtest.wait_pid_gone(w, 10)
    assert [p for p in gh.worker_pids() if p != new] == []
    assert get(gh.port, "/ping").body == b"pong\n"   # the new master's workers serve
    gh.reload()
    wait_for(lambda: len([p for p in gh.worker_pids() if p != new]) == 2, 10,
             what="the old master's workers back")
    os.kill(new, signal.SIGQUIT)
    ghtest.wait_pid_gone(new, 10)
    for w in new_workers:
        ghtest.wait_pid_gone(w, 10)
    wait_for(lambda: gh.read_pid_file() == old, 5, what="pid file back to the old master")
    assert not os.path.exists(gh.path("gatehouse.pid.oldbin"))
    gh.wait_log(r"new binary %d exited with code 0" % new)
    for _ in range(5):
        assert get(gh.port, "/ping").body == b"pong\n"
    assert len(gh.worker_pids()) == 2
