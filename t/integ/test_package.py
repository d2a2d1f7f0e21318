"""Packaging (issue 14 item 4): `cmake --install` (with DESTDIR) and the Debian package
built from the tree with CPack install the binary, the systemd unit, the man page, the
sample configuration and the logrotate snippet; /etc files are conffiles; the packaged
binary accepts the packaged configuration; the unit, the man page and the snippet pass
their own tools' checks where those tools are installed."""

import os
import re
import shutil
import subprocess
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

EXPECTED = {
    "./usr/sbin/gatehouse",
    "./usr/lib/systemd/system/gatehouse.service",
    "./usr/share/man/man8/gatehouse.8.gz",
    "./etc/gatehouse/gatehouse.conf",
    "./etc/logrotate.d/gatehouse",
    "./usr/share/doc/gatehouse/README",
    "./usr/share/doc/gatehouse/COPYING",
}


def run(*args, cwd=None, env=None, timeout=600):
    r = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, "%s failed:\n%s\n%s" % (" ".join(args), r.stdout[-3000:],
                                                    r.stderr[-3000:])
    return r.stdout


@pytest.fixture(scope="module")
def pkg_build():
    if shutil.which("cpack") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("cpack or dpkg-deb not installed")
    d = tempfile.mkdtemp(prefix="gh-pkg-")
    b = os.path.join(d, "build")
    run("cmake", "-S", REPO, "-B", b, "-DCMAKE_BUILD_TYPE=Release", "-DGH_TESTS=OFF",
        "-DCMAKE_INSTALL_PREFIX=/usr")
    run("cmake", "--build", b, "-j", str(os.cpu_count() or 2), "--target", "gatehouse",
        "manpage")
    yield d, b
    shutil.rmtree(d, ignore_errors=True)


def test_cmake_install_with_destdir(pkg_build):
    d, b = pkg_build
    root = os.path.join(d, "root")
    env = dict(os.environ, DESTDIR=root)
    run("cmake", "--install", b, env=env)
    for path in EXPECTED:
        assert os.path.exists(os.path.join(root, path[2:])), path
    assert os.access(os.path.join(root, "usr/sbin/gatehouse"), os.X_OK)


def test_debian_package(pkg_build):
    d, b = pkg_build
    run("cpack", "-G", "DEB", cwd=b)
    debs = [f for f in os.listdir(b) if f.endswith(".deb")]
    assert len(debs) == 1, debs
    deb = os.path.join(b, debs[0])
    files = {line.split()[-1] for line in run("dpkg-deb", "-c", deb).splitlines()}
    files = {f.rstrip("/") for f in files}
    assert EXPECTED <= files, sorted(EXPECTED - files)
    info = run("dpkg-deb", "-I", deb)
    assert re.search(r"^ Package: gatehouse$", info, re.M), info
    assert re.search(r"^ Depends: .*libssl3", info, re.M), info
    conffiles = run("dpkg-deb", "-f", deb, "Package") and \
        subprocess.run(["dpkg-deb", "-I", deb, "conffiles"], capture_output=True,
                       text=True).stdout
    assert "/etc/gatehouse/gatehouse.conf" in conffiles and \
        "/etc/logrotate.d/gatehouse" in conffiles, conffiles
    # the packaged binary accepts the packaged configuration
    x = os.path.join(d, "x")
    run("dpkg-deb", "-x", deb, x)
    out = run(os.path.join(x, "usr/sbin/gatehouse"), "-t", "-c",
              os.path.join(x, "etc/gatehouse/gatehouse.conf"), "-p", d)
    assert "configuration ok" in out


def test_unit_man_page_and_logrotate_snippet():
    unit = open(os.path.join(REPO, "etc/gatehouse.service")).read()
    for line in ("Type=notify", "NotifyAccess=all", "ExecReload=/bin/kill -HUP $MAINPID",
                 "NoNewPrivileges=yes", "ProtectSystem=strict", "KillSignal=SIGQUIT"):
        assert line in unit, line
    assert not re.search(r"^ExecStart=.* -d( |$)", unit, re.M), "Type=notify runs in the foreground"
    if shutil.which("systemd-analyze"):
        r = subprocess.run(["systemd-analyze", "verify", os.path.join(REPO, "etc/gatehouse.service")],
                           capture_output=True, text=True, timeout=60)
        # the binary is not installed here: only complaints about the unit's syntax count
        bad = [l for l in (r.stdout + r.stderr).splitlines()
               if "Unknown" in l or "Invalid" in l or "Failed to parse" in l]
        assert not bad, bad
    man = os.path.join(REPO, "etc/gatehouse.8")
    if shutil.which("nroff"):
        r = subprocess.run(["nroff", "-man", "-ww", man], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0 and not r.stderr.strip(), r.stderr
        text = re.sub(r".\x08", "", r.stdout)
        for word in ("SYNOPSIS", "SIGNALS", "FILES", "USR2", "-t", "reload"):
            assert word in text, word
    snippet = os.path.join(REPO, "etc/logrotate.d/gatehouse")
    assert "USR1" in open(snippet).read()
    if shutil.which("logrotate"):
        d = tempfile.mkdtemp(prefix="gh-logrotate-")
        try:
            r = subprocess.run(["logrotate", "-d", "-s", os.path.join(d, "state"), snippet],
                               capture_output=True, text=True, timeout=30)
            assert "error" not in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
        finally:
            shutil.rmtree(d, ignore_errors=True)
