"""The release binary stays valgrind-clean (STYLE: keep valgrind clean): master and
workers serve fixed answers, proxied requests with bodies, a rejected request and a
reload, then stop, with no memory error and no definite leak in any process."""

import glob
import os
import shutil
import stat

import pytest

import ghtest
from ghtest import get, make_config, request, upstream

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
    conf = make_config(workers=1, upstreams=[upstream("app", [backend.port])])
    gh = ghtest.Gatehouse(conf, binary=str(wrapper))
    try:
        exercise(gh)
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


def exercise(gh):
    gh.start(timeout=ghtest.scaled(30))
    assert get(gh.port, "/ping").status == 200
    assert get(gh.port, "/bytes/100000").status == 200
    r = request(gh.port, "POST", "/echo", body=b"x" * 50000)
    assert r.status == 200
    assert get(gh.port, "/nope", headers=[("Transfer-Encoding", "gzip")]).status == 400
    old = set(gh.worker_pids())
    gh.reload()
    gh.wait_workers(1, timeout=ghtest.scaled(30), exclude=old)
    assert get(gh.port, "/ping").status == 200
