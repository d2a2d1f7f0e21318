"""pytest fixtures for the gatehouse integration tests; the helpers are in t/lib/ghtest.py."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

import ghtest  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, attach the logs of every gatehouse the test started."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for i, gh in enumerate(getattr(item, "gh_instances", [])):
            rep.sections.append(("gatehouse #%d logs (%s)" % (i, gh.prefix), gh.log_tail()))


@pytest.fixture
def gh_factory(request):
    """make(conf_text, start=True, *args, **start_kw) -> a started ghtest.Gatehouse.
    Teardown: QUIT, wait up to 10 s, SIGKILL only what the test started; the test fails
    if the master exited by an unexpected signal or status, or a log holds an [alert] or
    sanitizer line (allow expected alerts with gh.allowed_alerts.append(regex))."""
    made = []
    request.node.gh_instances = made

    def make(conf=None, *args, start=True, **kw):
        gh = ghtest.Gatehouse(conf)
        made.append(gh)
        if start:
            gh.start(*args, **kw)
        return gh

    yield make
    problems = []
    for gh in made:
        problems.extend("%s: %s" % (gh.prefix, p) for p in gh.stop())
    if problems:
        tails = "\n".join(gh.log_tail() for gh in made)
        for gh in made:
            gh.cleanup()
        pytest.fail("gatehouse teardown:\n  " + "\n  ".join(problems) + "\n" + tails,
                    pytrace=False)
    for gh in made:
        gh.cleanup()


@pytest.fixture
def backends(request):
    """start(name="a") -> a running ghtest.Backend; all are stopped at teardown."""
    made = []

    def start(name="a", **kw):
        b = ghtest.Backend(name, **kw).start()
        made.append(b)
        return b

    yield start
    for b in made:
        b.stop()
        b.cleanup()


@pytest.fixture
def backend(backends):
    """One backend named "a"."""
    return backends("a")


@pytest.fixture
def conf_dir():
    """A temporary directory for config files run with -t (removed at teardown)."""
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="gh-conf-")
    yield d
    if not ghtest.KEEP_TMP:
        shutil.rmtree(d, ignore_errors=True)
