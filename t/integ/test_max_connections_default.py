"""limits.max_connections not set: derived from the hard open files limit the master can
reach, so that a hard limit of 20,000 starts and reloads without a warning; a value the
configuration sets that does not fit is warned about (issue 17; README, Resources)."""

import os
import re
import resource
import signal
import stat

import ghtest
from ghtest import get, make_config, wait_for

HARD = 20000            # a common hard RLIMIT_NOFILE, below the 20,128 that 10,000 needs
SLOTS, RESERVE = 64, 64  # common/nofile.h
WARN_RE = r"\[warn\] .*max_connections \d+ needs about \d+ open files"


def hard_limit():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return HARD if hard == resource.RLIM_INFINITY else min(hard, HARD)


def derived(hard, nlistens=1):
    return max(1, min(10000, (hard - SLOTS * nlistens - RESERVE) // 2))


def limited(gh_factory, conf):
    """A gatehouse started through a shell that lowers the hard RLIMIT_NOFILE to HARD
    (or less, if that is all this machine has) and the soft one to 1024: only for it,
    since the test process could not raise its own hard limit back."""
    gh = gh_factory(conf, start=False)
    hard = hard_limit()
    wrapper = gh.path("limited.sh")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nulimit -H -n %d && ulimit -S -n %d && exec '%s' \"$@\"\n"
                % (hard, min(1024, hard), ghtest.GATEHOUSE_BIN))
    os.chmod(wrapper, stat.S_IRWXU)
    gh.binary = wrapper
    return gh, hard


def test_default_fits_without_warning(gh_factory):
    gh, hard = limited(gh_factory, make_config(workers=1))
    p = gh.run("-T")
    assert p.returncode == 0, p.stderr
    want = derived(hard)
    assert re.search(r'\n  max_connections = "auto";   # %d here' % want, p.stdout), p.stdout
    gh.start()
    assert get(gh.port, "/ping").status == 200
    # the soft limit was raised to just what the derived value needs, which fits
    if hard >= 2 * want + SLOTS + RESERVE:
        gh.wait_log(r"raised the open files limit \(RLIMIT_NOFILE\) from \d+ to %d"
                    % (2 * want + SLOTS + RESERVE))
    w = gh.worker_pids()[0]
    assert resource.prlimit(w, resource.RLIMIT_NOFILE)[0] == 2 * want + SLOTS + RESERVE
    old = gh.worker_pids()
    gh.reload()
    gh.wait_log(r"reload done: generation")
    gh.wait_workers(1, exclude=old)
    assert get(gh.port, "/ping").status == 200
    log = gh.error_log()
    assert not re.search(WARN_RE, log), log
    assert "[warn]" not in log, log


def test_set_value_that_does_not_fit_warns(gh_factory):
    gh, hard = limited(gh_factory, make_config(
        workers=1, extra="limits = { max_connections = 10000; };"))
    gh.start()
    assert get(gh.port, "/ping").status == 200
    gh.wait_log(r"\[warn\] .*max_connections 10000 needs about 20128 open files per worker; "
                r"the limit is %d" % hard)
    # and at every reload, as before
    gh.reload()
    wait_for(lambda: len(re.findall(WARN_RE, gh.error_log())) == 2, 10,
             what="the warning again at the reload")
    assert get(gh.port, "/ping").status == 200


def test_set_value_that_fits_is_kept(gh_factory):
    gh, hard = limited(gh_factory, make_config(
        workers=1, extra="limits = { max_connections = 300; };"))
    p = gh.run("-T")
    assert p.returncode == 0, p.stderr
    assert "\n  max_connections = 300;\n" in p.stdout, p.stdout
    gh.start()
    assert get(gh.port, "/ping").status == 200
    assert not re.search(WARN_RE, gh.error_log()), gh.error_log()
