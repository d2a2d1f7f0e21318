"""systemd Type=notify (issue 14 item 3): the master speaks sd_notify's datagram protocol
to $NOTIFY_SOCKET, here a real unix datagram socket the test binds: READY=1 once the
workers serve, RELOADING=1 (with MONOTONIC_USEC) then READY=1 around a HUP, READY=1
again after a reload that failed, MAINPID= from the new master after USR2 (and no
STOPPING=1 from the old one then), STOPPING=1 on QUIT. The unit in etc/ uses it."""

import os
import re
import shutil
import signal
import socket
import tempfile
import time

import pytest

import ghtest
from ghtest import get, make_config, wait_for

import test_upgrade


def count_ready(msgs):
    return sum(1 for m in msgs if m.get("READY") == "1")


@pytest.fixture
def notify_socket(monkeypatch):
    d = tempfile.mkdtemp(prefix="gh-notify-")
    path = os.path.join(d, "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(0.2)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    got = []

    def messages(until=None, timeout=10.0):
        """Every datagram so far (each as a dict), reading until `until` matches one."""
        deadline = time.monotonic() + ghtest.scaled(timeout)
        while True:
            try:
                data, _ = s.recvfrom(4096)
                got.append(dict(l.split("=", 1) for l in data.decode().split("\n") if l))
                continue
            except socket.timeout:
                pass
            if until is None or any(until(m) for m in got):
                return list(got)
            if time.monotonic() > deadline:
                raise AssertionError("no matching notification; got %r" % got)
    yield messages
    s.close()
    shutil.rmtree(d, ignore_errors=True)


def test_ready_reloading_stopping(gh_factory, notify_socket):
    gh = gh_factory(make_config(workers=2), wait=False)
    msgs = notify_socket(lambda m: m.get("READY") == "1")
    gh.wait_ready()
    ready = [m for m in msgs if m.get("READY") == "1"]
    assert len(ready) == 1 and "serving with 2 workers" in ready[0]["STATUS"], msgs
    # READY only once both workers said they accept
    assert len(re.findall(r"worker \d+ \(slot \d\) is ready", gh.error_log())) == 2
    n = len(msgs)
    gh.reload()
    msgs = notify_socket(lambda m: count_ready(notify_socket()) >= 2)
    after = msgs[n:]
    assert after[0].get("RELOADING") == "1" and int(after[0]["MONOTONIC_USEC"]) > 0, after
    assert after[-1].get("READY") == "1", after
    # a reload that fails still ends with READY=1 (the old generation serves)
    gh.write_config(gh.conf_text.replace("workers = 2;", "workers = 2;\nbogus = 1;"))
    n = len(notify_socket())
    gh.reload()
    gh.wait_log(r"reload failed")
    msgs = notify_socket(lambda m: count_ready(notify_socket()[n:]) >= 1)
    assert msgs[n].get("RELOADING") == "1", msgs[n:]
    assert get(gh.port, "/ping").status == 200
    gh.signal(signal.SIGQUIT)
    msgs = notify_socket(lambda m: m.get("STOPPING") == "1")
    assert gh.wait_exit(15) == 0


def test_mainpid_after_upgrade(gh_factory, notify_socket):
    gh = gh_factory(make_config(workers=1))
    notify_socket(lambda m: m.get("READY") == "1")
    new = test_upgrade.upgrade(gh)
    msgs = notify_socket(lambda m: m.get("MAINPID") == str(new))
    m = [x for x in msgs if x.get("MAINPID") == str(new)][0]
    assert m.get("READY") == "1"
    n = len(msgs)
    test_upgrade.quit_old(gh, new)
    time.sleep(0.3)
    assert not [x for x in notify_socket()[n:] if x.get("STOPPING")], \
        "the old master must not tell systemd the service stops"
    gh.signal(signal.SIGQUIT)
    notify_socket(lambda x: x.get("STOPPING") == "1")
