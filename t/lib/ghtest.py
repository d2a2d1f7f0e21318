"""ghtest - helpers for the gatehouse integration tests (Python standard library only).

- Gatehouse: write a config into a temporary prefix, start the real binary in the
  foreground, wait until it listens, read its ports, pids and logs, signal it, stop it,
  and check it exited cleanly with no alert or sanitizer line in its logs.
- Backend: start t/backends/backend.py as a subprocess and read what it received.
- HttpConn / request / read_response: an HTTP/1.x client over raw sockets that reads a
  full response framed by Content-Length, chunked encoding or close, with timeouts.
- http_client_request: the same through http.client; curl(): the real curl binary.
- Load: a bounded concurrent load generator that records every failure with its reason.
- Config helpers: make_config(), route_return(), route_upstream(), upstream().

Every wait is bounded by a deadline; scale them all with GH_TIMEOUT_SCALE (e.g. 3 under
ASan). Set GH_KEEP_TMP=1 to keep the temporary prefixes for inspection.
"""

import collections
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GATEHOUSE_BIN = os.environ.get("GATEHOUSE_BIN", os.path.join(REPO, "build", "gatehouse"))
BACKEND_PY = os.path.join(REPO, "t", "backends", "backend.py")
SCALE = float(os.environ.get("GH_TIMEOUT_SCALE", "1"))
KEEP_TMP = os.environ.get("GH_KEEP_TMP", "") not in ("", "0")

# Lines that fail a test when they appear in any log of the daemon (STYLE.md, Tests).
BAD_LOG_MARKERS = ("[alert]", "AddressSanitizer", "runtime error:", "LeakSanitizer")
SANITIZER_MARKERS = ("AddressSanitizer", "runtime error:", "LeakSanitizer")

LISTEN_RE = re.compile(r"listening on (\[[0-9A-Fa-f:.%a-z]+\]|[0-9.]+):(\d+)")
ERROR_LOG_LINE_RE = re.compile(
    r"^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2})(?:\.\d+)? "
    r"\[(debug|info|notice|warn|error|alert)\] (\d+)(?:#\d+)?: (.*)$")

# The backend's deterministic body pattern (t/backends/backend.py).
PATTERN = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def pattern(n, offset=0):
    """The first n bytes (from offset) the backend sends for /bytes/N, /chunked/N, /drip/N/MS."""
    start = offset % len(PATTERN)
    reps = (start + n) // len(PATTERN) + 1
    return (PATTERN * reps)[start:start + n]


def scaled(seconds):
    return seconds * SCALE


def wait_for(pred, timeout=5.0, interval=0.02, what="condition"):
    """Poll pred() until it returns a true value (returned), at most timeout*SCALE seconds.
    Raises AssertionError naming `what` on timeout."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (scaled(timeout), what))
        time.sleep(interval)


_held_ports = []


def free_port(host="127.0.0.1"):
    """A TCP port that refuses connections: bound, never listening, and kept bound for
    the rest of the run, so that no other socket (a backend, gatehouse's admin port on
    port 0) can be given it later and answer. Use it only where a closed port is wanted
    (e.g. a backend that refuses), never to listen on."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((host, 0))
    _held_ports.append(s)
    return s.getsockname()[1]


def listening_socket(host="127.0.0.1"):
    """A socket bound to a free port and listening (without SO_REUSEPORT): a port in use."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(8)
    return s


def has_ipv6_loopback():
    """True when ::1 can be bound (IPv6 tests skip otherwise)."""
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def can_connect(port, host="127.0.0.1", timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------
# processes


def _stat_fields(pid):
    """The fields of /proc/PID/stat after the command name (field 3 on), or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("latin-1")
    except OSError:
        return None
    return data[data.rfind(")") + 2:].split()


def proc_stat(pid):
    """(state, ppid, starttime, session) of pid from /proc, or None when it is gone."""
    rest = _stat_fields(pid)
    if rest is None:
        return None
    # rest[0] = state (field 3), rest[1] = ppid (4), rest[3] = session (6),
    # rest[19] = starttime (22)
    return rest[0], int(rest[1]), int(rest[19]), int(rest[3])


def pid_alive(pid):
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("latin-1").strip()
    except OSError:
        return ""


def children_of(ppid):
    """Live (non-zombie) children of ppid, by scanning /proc."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st and st[1] == ppid and st[0] not in ("Z", "X"):
            out.append(int(name))
    return sorted(out)


def session_members(sid):
    """Live processes of session sid. The master starts in a session of its own
    (start_new_session, or setsid when daemonizing), so these are the master and every
    process it forked, including orphans whose parent is gone. (Linux does not reuse a
    pid while it names a live session, so this cannot match a stranger.)"""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st and st[3] == sid and st[0] not in ("Z", "X"):
            out.append(int(name))
    return sorted(out)


def is_helper(pid):
    """The helper process (health checks, admin) is a child too; recognised by its title."""
    return "helper" in proc_cmdline(pid)


class StartedPids:
    """Remembers (pid, starttime) of every process a test started or saw its master
    start, so that teardown kills only those very processes, never a recycled pid."""

    def __init__(self):
        self.seen = {}

    def add(self, pid):
        st = proc_stat(pid)
        if st:
            self.seen.setdefault(pid, st[2])

    def still_ours(self, pid):
        st = proc_stat(pid)
        return st is not None and st[2] == self.seen.get(pid) and st[0] not in ("Z", "X")

    def kill_all(self, sig=signal.SIGKILL):
        killed = []
        for pid in list(self.seen):
            if self.still_ours(pid):
                try:
                    os.kill(pid, sig)
                    killed.append(pid)
                except OSError:
                    pass
        return killed


# --------------------------------------------------------------------------
# configuration


def route_return(path, status=200, body=None, location=None):
    parts = ['path = "%s";' % path, "return = { status = %d;" % status]
    if body is not None:
        parts[-1] += " body = %s;" % json.dumps(body)
    if location is not None:
        parts[-1] += ' location = "%s";' % location
    parts[-1] += " };"
    return "{ " + " ".join(parts) + " }"


def route_upstream(path, name, extra=""):
    return '{ path = "%s"; upstream = "%s"; %s}' % (path, name, extra + " " if extra else "")


def upstream(name, addresses, extra=""):
    """An upstream block; addresses are "127.0.0.1:PORT" strings or ints (ports)."""
    servers = ", ".join('{ address = "%s"; }' % (a if isinstance(a, str) else "127.0.0.1:%d" % a)
                        for a in addresses)
    return '{ name = "%s"; servers = ( %s ); %s}' % (name, servers, extra + " " if extra else "")


def make_config(workers=2, listen=("127.0.0.1:0",), upstreams=(), routes=None, extra="",
                error_level="info", access_format="combined", names=("default",),
                server_extra="", shutdown_timeout=None):
    """A complete config, one setting per line. routes: list of route strings (default:
    `= /ping` returning "pong\\n", plus "/" to the first upstream when there is one)."""
    if routes is None:
        routes = [route_return("= /ping", 200, "pong\n")]
        if upstreams:
            first = re.search(r'name = "([^"]+)"', upstreams[0]).group(1)
            routes.append(route_upstream("/", first))
    lines = [
        "workers = %s;" % (json.dumps(workers) if isinstance(workers, str) else workers),
        'pid_file = "gatehouse.pid";',
    ]
    if shutdown_timeout is not None:
        lines.append('shutdown_timeout = "%s";' % shutdown_timeout)
    lines += [
        'error_log = { path = "error.log"; level = "%s"; };' % error_level,
        'access_log = { path = "access.log"; format = "%s"; };' % access_format,
    ]
    if "admin" not in extra:
        # The admin API defaults to 127.0.0.1:9901: tests take a free port.
        lines.append('admin = { address = "127.0.0.1:0"; };')
    lines += [
        "listen = (",
        ",\n".join('  { address = "%s"; }' % a for a in listen),
        ");",
        "upstreams = (",
        ",\n".join("  " + u for u in upstreams),
        ");",
        "servers = (",
        "  {",
        "    names = [%s];" % ", ".join(json.dumps(n) for n in names),
        "    routes = (",
        ",\n".join("      " + r for r in routes),
        "    );",
    ]
    if server_extra:
        lines.append("    " + server_extra)
    lines += ["  }", ");"]
    if extra:
        lines.append(extra)
    return "\n".join(lines) + "\n"


def count_listeners(conf_text):
    """Number of entries in the top-level `listen = ( ... );` list (1 if not found)."""
    m = re.search(r"^\s*listen\s*=\s*\(", conf_text, re.M)
    if not m:
        return 1
    depth, i, n = 1, m.end(), 0
    while i < len(conf_text) and depth:
        c = conf_text[i]
        if c in "({[":
            if depth == 1 and c == "{":
                n += 1
            depth += 1
        elif c in ")}]":
            depth -= 1
        elif c == '"':
            j = conf_text.find('"', i + 1)
            i = j if j > 0 else i
        elif c == "#":
            j = conf_text.find("\n", i)
            i = j if j > 0 else len(conf_text)
        i += 1
    return max(n, 1)


def line_of(text, needle):
    """1-based number of the first line of text containing needle."""
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise ValueError("%r not in text" % needle)


# --------------------------------------------------------------------------
# the daemon


class GatehouseError(AssertionError):
    pass


class Gatehouse:
    """One gatehouse master started by a test, in its own temporary prefix."""

    def __init__(self, conf=None, prefix=None, binary=None):
        self.binary = binary or GATEHOUSE_BIN
        self.own_prefix = prefix is None
        self.prefix = prefix or tempfile.mkdtemp(prefix="gh-test-")
        self.conf_path = os.path.join(self.prefix, "gatehouse.conf")
        self.conf_text = None
        self.proc = None
        self.master_pid = None       # the foreground child, or the daemon read from pid_file
        self.session = None          # session id of the master and everything it forks
        self.daemonized = False
        self.ports = []
        self.addrs = []
        self.pids = StartedPids()
        self.expected_returncode = 0      # checked at teardown; None = do not check
        self.expected_signals = set()     # signals the master may die of (test sent them)
        self.allowed_alerts = []          # regexes of [alert] lines a test expects
        self.returncode = None
        self.stdout_path = os.path.join(self.prefix, "stdout.log")
        self.stderr_path = os.path.join(self.prefix, "stderr.log")
        if conf is not None:
            self.write_config(conf)

    # -- files -------------------------------------------------------------
    def path(self, *parts):
        return os.path.join(self.prefix, *parts)

    def write_config(self, text, name="gatehouse.conf"):
        p = self.path(name)
        tmp = p + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, p)
        if name == "gatehouse.conf":
            self.conf_text = text
        return p

    def read(self, name):
        try:
            with open(self.path(name), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def error_log(self):
        return self.read("error.log")

    def access_log(self):
        return self.read("access.log")

    def stderr(self):
        return self.read("stderr.log")

    def access_lines(self, name="access.log"):
        return [l for l in self.read(name).splitlines() if l.strip()]

    def wait_log(self, pattern, timeout=5.0, name="error.log", what=None):
        """Wait until the log matches the regex; returns the match."""
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.read(name)), timeout,
                        what=what or "%r in %s" % (pattern, name))

    # -- running -----------------------------------------------------------
    def argv(self, *extra):
        return [self.binary, "-c", self.conf_path, "-p", self.prefix] + list(extra)

    def run(self, *extra, timeout=10.0):
        """Run the binary to completion (-t, -T, -s, -v, ...): CompletedProcess (text)."""
        return subprocess.run(self.argv(*extra), capture_output=True, text=True,
                              timeout=scaled(timeout), stdin=subprocess.DEVNULL)

    def start(self, *extra, wait=True, timeout=10.0, listeners=None, workers=None):
        """Start the master in the foreground (or with -d, daemonized). With wait, returns
        once every listener is logged and accepts a TCP connection, and `workers` worker
        processes are up (default: the config's `workers` when it is a number)."""
        if not os.path.exists(self.binary):
            raise GatehouseError("gatehouse binary not found at %s "
                                 "(build it, or set GATEHOUSE_BIN)" % self.binary)
        self.daemonized = "-d" in extra
        out = open(self.stdout_path, "ab")
        err = open(self.stderr_path, "ab")
        try:
            self.proc = subprocess.Popen(self.argv(*extra), stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, start_new_session=True)
        finally:
            out.close()
            err.close()
        self.pids.add(self.proc.pid)
        self.session = self.proc.pid
        if self.daemonized:
            try:
                rc = self.proc.wait(timeout=scaled(timeout))
            except subprocess.TimeoutExpired:
                raise GatehouseError("gatehouse -d did not return within %.0fs" % scaled(timeout))
            if rc != 0:
                raise GatehouseError("gatehouse -d exited %d: %s" % (rc, self.stderr()))
            pid = wait_for(self.read_pid_file, timeout, what="pid file after -d")
            self.master_pid = pid
            self.pids.add(pid)
            st = proc_stat(pid)
            self.session = st[3] if st else pid
        else:
            self.master_pid = self.proc.pid
        if wait:
            self.wait_ready(timeout=timeout, listeners=listeners, workers=workers)
        return self

    def wait_ready(self, timeout=10.0, listeners=None, workers=None):
        n = listeners or count_listeners(self.conf_text or "")
        deadline = time.monotonic() + scaled(timeout)
        while True:
            found = list(dict.fromkeys(LISTEN_RE.findall(self.error_log() + self.stderr())))
            if len(found) >= n:
                break
            if not self.running():
                raise GatehouseError("gatehouse exited (%s) before listening\n%s" %
                                     (self.describe_exit(), self.log_tail()))
            if time.monotonic() >= deadline:
                raise GatehouseError("gatehouse did not log %d 'listening on' line(s) "
                                     "within %.0fs\n%s" % (n, scaled(timeout), self.log_tail()))
            time.sleep(0.02)
        self.addrs = [(h.strip("[]"), int(p)) for h, p in found[:n]]
        self.ports = [p for _, p in self.addrs]
        for host, port in self.addrs:
            wait_for(lambda: can_connect(port, host) or not self.running(),
                     max(0.1, deadline - time.monotonic()) / SCALE,
                     what="TCP connect to %s:%d" % (host, port))
            if not self.running():
                raise GatehouseError("gatehouse exited (%s)\n%s" % (self.describe_exit(),
                                                                   self.log_tail()))
        if workers is None:
            m = re.search(r"^\s*workers\s*=\s*(\d+)\s*;", self.conf_text or "", re.M)
            workers = int(m.group(1)) if m else None
        if workers:
            self.wait_workers(workers, timeout=max(0.1, deadline - time.monotonic()) / SCALE)
        return self

    @property
    def port(self):
        return self.ports[0]

    @property
    def pid(self):
        return self.master_pid

    def read_pid_file(self, name="gatehouse.pid"):
        try:
            with open(self.path(name)) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def running(self):
        if self.master_pid is None:
            return False
        if not self.daemonized and self.proc is not None:
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                return False
            return True
        return pid_alive(self.master_pid)

    def descendants(self):
        """Every live process the master started (its session, minus the master)."""
        if self.session is None:
            return []
        out = [p for p in session_members(self.session) if p != self.master_pid]
        for p in out:
            self.pids.add(p)
        return out

    def children(self):
        """Every live child of the master (workers, old-generation workers, helper)."""
        if self.master_pid is None:
            return []
        kids = children_of(self.master_pid)
        for k in kids:
            self.pids.add(k)
        return kids

    def worker_pids(self):
        # A helper just forked has not set its title yet: the master's log names it too
        # (the line is written right after fork, in the master).
        helpers = {int(m) for m in re.findall(r"started helper (\d+)", self.error_log())}
        return [p for p in self.children() if p not in helpers and not is_helper(p)]

    def wait_workers(self, n, timeout=10.0, exclude=()):
        """Wait until exactly n workers run, none of them in exclude; returns their pids."""
        exclude = set(exclude)

        def ok():
            w = self.worker_pids()
            return w if len(w) == n and not exclude & set(w) else None
        return wait_for(ok, timeout, what="%d worker processes (not %s); have %s" %
                        (n, sorted(exclude), self.worker_pids()))

    def signal(self, sig):
        os.kill(self.master_pid, sig)

    def reload(self):
        self.signal(signal.SIGHUP)

    def wait_exit(self, timeout=10.0):
        """Wait for the master to exit; returns its exit status (negative = signal; None
        when daemonized and its status is unknown). Raises on timeout."""
        if not self.daemonized:
            try:
                self.returncode = self.proc.wait(timeout=scaled(timeout))
            except subprocess.TimeoutExpired:
                raise GatehouseError("gatehouse did not exit within %.0fs" % scaled(timeout))
            return self.returncode
        wait_for(lambda: not pid_alive(self.master_pid), timeout, what="daemon exit")
        return None

    def describe_exit(self):
        rc = self.returncode
        if rc is None:
            return "status unknown"
        if rc < 0:
            try:
                return "killed by %s" % signal.Signals(-rc).name
            except ValueError:
                return "killed by signal %d" % -rc
        return "exit %d" % rc

    # -- logs --------------------------------------------------------------
    def bad_log_lines(self):
        """Alert and sanitizer lines from every log the daemon wrote, minus allowed alerts."""
        bad = []
        for name in sorted(os.listdir(self.prefix)):
            if not (name.endswith(".log") or ".log." in name or name.endswith(".log.old")):
                continue
            if name.startswith("backend-"):
                continue
            for line in self.read(name).splitlines():
                if not any(m in line for m in BAD_LOG_MARKERS):
                    continue
                if ("[alert]" in line and not any(m in line for m in SANITIZER_MARKERS)
                        and any(re.search(rx, line) for rx in self.allowed_alerts)):
                    continue
                bad.append("%s: %s" % (name, line))
        return bad

    def log_tail(self, n=40):
        out = []
        for name in ("error.log", "stderr.log", "stdout.log"):
            lines = self.read(name).splitlines()
            if lines:
                out.append("---- %s (last %d of %d lines) ----" % (name, min(n, len(lines)),
                                                                  len(lines)))
                out.extend(lines[-n:])
        return "\n".join(out)

    # -- teardown ----------------------------------------------------------
    def stop(self, timeout=10.0):
        """QUIT, wait up to timeout, then SIGKILL only what we started. Returns a list of
        problems (empty when the shutdown was clean)."""
        problems = []
        self.descendants()
        if self.running():
            try:
                self.signal(signal.SIGQUIT)
            except OSError:
                pass
            try:
                self.wait_exit(timeout)
            except GatehouseError:
                problems.append("master did not exit within %.0fs of QUIT" % scaled(timeout))
        elif self.proc is not None and not self.daemonized and self.returncode is None:
            self.returncode = self.proc.poll()
        # Workers must not outlive the master: give them a moment, then report them.
        if not self.running():
            try:
                wait_for(lambda: not self.descendants(), 3, interval=0.05)
            except AssertionError:
                problems.append("processes left after the master exited: %s" %
                                ["%d %s" % (p, proc_cmdline(p)) for p in self.descendants()])
        # Whatever is left (master, workers, helper) of what we started: SIGKILL by pid.
        self.descendants()
        killed = self.pids.kill_all(signal.SIGKILL)
        if killed:
            problems.append("had to SIGKILL pids %s" % killed)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None and not self.daemonized and self.returncode is not None \
                and not killed:
            rc = self.returncode
            if rc < 0 and -rc not in self.expected_signals:
                problems.append("master %s" % self.describe_exit())
            elif rc >= 0 and self.expected_returncode is not None and rc != self.expected_returncode:
                problems.append("master exited %d, expected %d" % (rc, self.expected_returncode))
        problems.extend("bad log line: " + l for l in self.bad_log_lines())
        return problems

    def cleanup(self):
        if self.own_prefix and not KEEP_TMP:
            shutil.rmtree(self.prefix, ignore_errors=True)


# --------------------------------------------------------------------------
# backends


class Backend:
    """t/backends/backend.py as a subprocess, with its request log."""

    def __init__(self, name="a", directory=None, host="127.0.0.1", args=()):
        """args: more options for backend.py (e.g. --tls-cert F --tls-key F)."""
        self.name = name
        self.args = list(args)
        self.own_dir = directory is None
        self.dir = directory or tempfile.mkdtemp(prefix="gh-backend-")
        self.port_file = os.path.join(self.dir, "backend-%s.port" % name)
        self.log_path = os.path.join(self.dir, "backend-%s.log" % name)
        self.out_path = os.path.join(self.dir, "backend-%s.out" % name)
        self.host = host
        self.proc = None
        self.port = None

    def start(self, timeout=10.0):
        for p in (self.port_file, self.log_path):
            if os.path.exists(p):
                os.unlink(p)
        out = open(self.out_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, BACKEND_PY, "--port", "0", "--port-file", self.port_file,
                 "--log", self.log_path, "--name", self.name, "--host", self.host] + self.args,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        finally:
            out.close()

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("backend %s exited: %s" % (self.name, open(self.out_path).read()))
            try:
                with open(self.port_file) as f:
                    return int(f.read().strip())
            except (OSError, ValueError):
                return None
        self.port = wait_for(ready, timeout, what="backend %s port file" % self.name)
        return self

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def requests(self):
        """Every request the backend received so far, as dicts (see backend.py)."""
        out = []
        try:
            with open(self.log_path) as f:
                for line in f:
                    if line.endswith("\n"):
                        out.append(json.loads(line))
        except OSError:
            pass
        return out

    def wait_request(self, pred=lambda r: True, timeout=5.0, what="a request at the backend"):
        return wait_for(lambda: next((r for r in self.requests() if pred(r)), None),
                        timeout, what=what)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()  # our own child, by its pid
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def cleanup(self):
        if self.own_dir and not KEEP_TMP:
            shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------
# HTTP over raw sockets


class ConnectionClosed(Exception):
    """The peer closed (or reset) the connection; .got is how many bytes of the
    response had arrived."""

    def __init__(self, msg, got=0):
        super().__init__(msg)
        self.got = got


class Response:
    def __init__(self):
        self.version = None
        self.status = None
        self.reason = ""
        self.headers = []         # [(name, value)] in order
        self.body = b""
        self.interim = []         # 1xx responses before this one: [(status, headers)]
        self.framing = None       # "length" | "chunked" | "close" | "none"
        self.trailers = []

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def headers_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has(self, name):
        return self.header(name) is not None

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    def wants_close(self):
        tokens = [t.strip().lower() for t in ",".join(self.headers_all("connection")).split(",")]
        if self.version == "HTTP/1.0":
            return "keep-alive" not in tokens
        return "close" in tokens or self.framing == "close"

    def __repr__(self):
        return "<Response %s %s %d bytes>" % (self.status, self.reason, len(self.body))


class HttpConn:
    """One client connection. request() sends and reads; send()/read_response() for
    hand-made bytes. Timeouts in seconds (scaled)."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0, connect=True):
        self.host, self.port = host, port
        self.timeout = scaled(timeout)
        self.sock = None
        self.buf = b""
        self.requests = 0
        if connect:
            self.connect()

    def connect(self):
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.requests = 0
        return self

    def close(self):
        if self.sock:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _fill(self, got):
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            raise ConnectionClosed("connection reset", got)
        if not data:
            raise ConnectionClosed("connection closed by peer", got)
        self.buf += data

    def _line(self, got):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            if len(self.buf) > 1 << 20:
                raise ValueError("line too long")
            self._fill(got + len(self.buf))

    def _exact(self, n, got):
        while len(self.buf) < n:
            self._fill(got + len(self.buf))
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_response(self, method="GET", interim=False):
        """Read one response (skipping 1xx interim ones unless interim=True, in which
        case a 1xx is returned as is). Raises ConnectionClosed, socket.timeout."""
        resp = Response()
        got = 0
        while True:
            line = self._line(got)
            got += len(line) + 2
            if not line and resp.status is None:
                continue
            parts = line.decode("latin-1").split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/"):
                raise ValueError("bad status line %r" % line)
            status = int(parts[1])
            headers = []
            while True:
                h = self._line(got)
                got += len(h) + 2
                if not h:
                    break
                k, _, v = h.decode("latin-1").partition(":")
                headers.append((k, v.strip(" \t")))
            if 100 <= status < 200 and status != 101 and not interim:
                resp.interim.append((status, headers))
                continue
            resp.version, resp.status = parts[0], status
            resp.reason = parts[2] if len(parts) > 2 else ""
            resp.headers = headers
            break
        te = (resp.header("transfer-encoding") or "").lower()
        cl = resp.header("content-length")
        if method == "HEAD" or status < 200 or status in (204, 304):
            resp.framing = "none"
        elif te:
            if te.split(",")[-1].strip() != "chunked":
                resp.framing = "close"
                resp.body = self._until_close()
            else:
                resp.framing = "chunked"
                parts = []
                while True:
                    size_line = self._line(got)
                    size = int(size_line.split(b";")[0].strip(), 16)
                    if size == 0:
                        while True:
                            t = self._line(got)
                            if not t:
                                break
                            k, _, v = t.decode("latin-1").partition(":")
                            resp.trailers.append((k, v.strip()))
                        break
                    parts.append(self._exact(size, got))
                    if self._line(got) != b"":
                        raise ValueError("bad chunk terminator")
                resp.body = b"".join(parts)
        elif cl is not None:
            resp.framing = "length"
            resp.body = self._exact(int(cl), got)
        else:
            resp.framing = "close"
            resp.body = self._until_close()
        self.requests += 1
        return resp

    def _until_close(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            self.buf += data
        data, self.buf = self.buf, b""
        return data

    def request(self, method="GET", target="/", headers=None, body=None, host="localhost",
                version="HTTP/1.1", chunked=False):
        """Send one request and read its response. headers: list of (name, value) or dict;
        a Host header is added unless host is None or headers name one. A body gets a
        Content-Length unless chunked=True or headers frame it already."""
        self.send(build_request(method, target, headers, body, host, version, chunked))
        return self.read_response(method)


def build_request(method="GET", target="/", headers=None, body=None, host="localhost",
                  version="HTTP/1.1", chunked=False):
    if isinstance(headers, dict):
        headers = list(headers.items())
    headers = list(headers or [])
    names = {k.lower() for k, _ in headers}
    if host is not None and "host" not in names:
        headers.insert(0, ("Host", host))
    if isinstance(body, str):
        body = body.encode()
    payload = b""
    if body is not None:
        if chunked:
            if "transfer-encoding" not in names:
                headers.append(("Transfer-Encoding", "chunked"))
            step = 16384
            for i in range(0, len(body), step):
                part = body[i:i + step]
                payload += b"%x\r\n" % len(part) + part + b"\r\n"
            payload += b"0\r\n\r\n"
        else:
            if "content-length" not in names and "transfer-encoding" not in names:
                headers.append(("Content-Length", str(len(body))))
            payload = body
    head = "%s %s %s\r\n" % (method, target, version)
    head += "".join("%s: %s\r\n" % (k, v) for k, v in headers)
    return head.encode("latin-1") + b"\r\n" + payload


def request(port, method="GET", target="/", headers=None, body=None, host="localhost",
            timeout=5.0, version="HTTP/1.1", chunked=False, addr="127.0.0.1"):
    """One request on a new connection; returns the Response."""
    with HttpConn(port, addr, timeout) as c:
        return c.request(method, target, headers, body, host, version, chunked)


def get(port, target="/", **kw):
    return request(port, "GET", target, **kw)


def send_raw(port, data, timeout=5.0, addr="127.0.0.1", method="GET"):
    """Send hand-made bytes and read one response."""
    with HttpConn(port, addr, timeout) as c:
        c.send(data)
        return c.read_response(method)


def http_client_request(port, method="GET", target="/", headers=None, body=None,
                        host="127.0.0.1", timeout=5.0):
    """The same through http.client: (status, [(name, value)], body)."""
    c = http.client.HTTPConnection(host, port, timeout=scaled(timeout))
    try:
        c.request(method, target, body=body, headers=dict(headers or {}))
        r = c.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        c.close()


def curl(*args, timeout=10.0):
    """Run curl (never through a proxy); CompletedProcess with bytes stdout/stderr."""
    argv = ["curl", "--noproxy", "*", "-sS", "--max-time", "%.0f" % scaled(timeout)] + list(args)
    return subprocess.run(argv, capture_output=True, timeout=scaled(timeout) + 5,
                          stdin=subprocess.DEVNULL)


def parse_curl_head(data):
    """Split `curl -i` output into (status, [(name, value)], body) of the last response."""
    status, headers, rest = None, [], data
    while rest.startswith(b"HTTP/"):
        head, _, rest = rest.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = [(k, v.strip()) for k, _, v in (l.partition(":") for l in lines[1:])]
    return status, headers, rest


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------
# load


class Failure:
    __slots__ = ("t", "thread", "mode", "target", "reason", "reused")

    def __init__(self, t, thread, mode, target, reason, reused):
        self.t, self.thread, self.mode, self.target = t, thread, mode, target
        self.reason, self.reused = reason, reused

    def __repr__(self):
        return "<t=%.3fs thread=%d %s %s%s: %s>" % (self.t, self.thread, self.mode, self.target,
                                                   " (reused conn)" if self.reused else "",
                                                   self.reason)


class Load:
    """Bounded concurrent load: `threads` threads for at most `duration` seconds and
    `max_requests` requests in total. modes: "keepalive" (one connection, reopened when
    the server closes it after a response) and/or "new" (a new connection per request),
    given to threads in turn. targets: paths, given to threads in turn. check(resp) returns
    None when the response is good, else a reason. Every failure is recorded with its
    time (seconds since start), thread, mode, target and reason.

        load = Load(port, threads=8, duration=3).start()
        ... disturb the server ...
        res = load.join()
        assert not load.failures, load.report()
    """

    def __init__(self, port, threads=8, duration=3.0, max_requests=None, targets=("/ping",),
                 modes=("keepalive", "new"), check=None, host="localhost", timeout=5.0,
                 addr="127.0.0.1", headers=None):
        self.port, self.threads, self.duration = port, threads, duration
        self.max_requests = max_requests
        self.targets, self.modes = list(targets), list(modes)
        self.check = check or (lambda r: None if r.status == 200 else "status %d" % r.status)
        self.host, self.timeout, self.addr = host, timeout, addr
        self.headers = headers
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.ok = 0
        self.sent = 0
        self.failures = []
        self.statuses = collections.Counter()
        self.reconnects = 0
        self.t0 = None
        self.elapsed = None
        self._threads = []

    def now(self):
        return time.monotonic() - self.t0

    def _take(self):
        with self.lock:
            if self.max_requests is not None and self.sent >= self.max_requests:
                return False
            self.sent += 1
            return True

    def _fail(self, i, mode, target, reason, reused):
        with self.lock:
            self.failures.append(Failure(self.now(), i, mode, target, reason, reused))

    def _worker(self, i):
        mode = self.modes[i % len(self.modes)]
        target = self.targets[i % len(self.targets)]
        deadline = self.t0 + self.duration
        conn = None
        # Bounded: at most duration seconds, max_requests in total, and one request
        # per iteration, each with its own timeout.
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            if not self._take():
                break
            reused = False
            try:
                if mode == "new" or conn is None:
                    if conn:
                        conn.close()
                    conn = HttpConn(self.port, self.addr, self.timeout)
                else:
                    reused = conn.requests > 0
                hdrs = list(self.headers or [])
                if mode == "new":
                    hdrs.append(("Connection", "close"))
                resp = conn.request("GET", target, hdrs, None, self.host)
                reason = self.check(resp)
                with self.lock:
                    self.statuses[resp.status] += 1
                if reason:
                    self._fail(i, mode, target, reason, reused)
                else:
                    with self.lock:
                        self.ok += 1
                if mode == "new" or resp.wants_close():
                    conn.close()
                    conn = None
                    if mode == "keepalive":
                        with self.lock:
                            self.reconnects += 1
            except (OSError, ConnectionClosed, ValueError) as e:
                self._fail(i, mode, target, "%s: %s" % (type(e).__name__, e), reused)
                if conn:
                    conn.close()
                conn = None
        if conn:
            conn.close()

    def start(self):
        self.t0 = time.monotonic()
        for i in range(self.threads):
            t = threading.Thread(target=self._worker, args=(i,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        self.stop_event.set()

    def join(self):
        # Each thread ends by its deadline plus one request timeout.
        limit = time.monotonic() + self.duration + scaled(self.timeout) + 5
        for t in self._threads:
            t.join(max(0.1, limit - time.monotonic()))
        self.elapsed = self.now()
        alive = [t for t in self._threads if t.is_alive()]
        if alive:
            raise AssertionError("%d load threads still running" % len(alive))
        return self

    def run(self):
        return self.start().join()

    def report(self, limit=20):
        lines = ["%d ok, %d failed, %d reconnects, statuses %s, %.1fs" %
                 (self.ok, len(self.failures), self.reconnects, dict(self.statuses),
                  self.elapsed or 0)]
        lines += [repr(f) for f in self.failures[:limit]]
        if len(self.failures) > limit:
            lines.append("... %d more" % (len(self.failures) - limit))
        return "\n".join(lines)


# --------------------------------------------------------------------------
# additions for the HTTP/1.1 engine tests (t/integ/test_http1_*.py)

ASAN = "asan" in GATEHOUSE_BIN.lower()


def proc_status_kb(pid, field="VmRSS"):
    """A /proc/PID/status field in kB (VmRSS, VmHWM, ...), or None when pid is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def fd_count(pid):
    """Number of open file descriptors of pid, or None when it is gone."""
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


class RssSampler:
    """Samples VmRSS (kB) of the given pids every `interval` s in a thread; .peak()
    is the largest sum seen since start()."""

    def __init__(self, pids, interval=0.02):
        self.pids, self.interval = list(pids), interval
        self.samples = []
        self._stop = threading.Event()
        self._t = None

    def sample(self):
        return sum(proc_status_kb(p) or 0 for p in self.pids)

    def start(self):
        self.samples.append(self.sample())

        def run():
            while not self._stop.wait(self.interval):
                self.samples.append(self.sample())
        self._t = threading.Thread(target=run, daemon=True)
        self._t.start()
        return self

    def stop(self):
        self._stop.set()
        if self._t:
            self._t.join(5)
        self.samples.append(self.sample())
        return self

    def peak(self):
        return max(self.samples)


class UnixBackend(Backend):
    """backend.py listening on a unix socket (self.sock_path); .address is "unix:PATH"."""

    def __init__(self, name="u", directory=None):
        super().__init__(name, directory)
        self.sock_path = os.path.join(self.dir, "backend-%s.sock" % name)

    def start(self, timeout=10.0):
        for p in (self.port_file, self.log_path):
            if os.path.exists(p):
                os.unlink(p)
        out = open(self.out_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, BACKEND_PY, "--unix", self.sock_path, "--port-file",
                 self.port_file, "--log", self.log_path, "--name", self.name],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        finally:
            out.close()

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("backend %s exited: %s" % (self.name, open(self.out_path).read()))
            return os.path.exists(self.port_file)
        wait_for(ready, timeout, what="backend %s port file" % self.name)
        self.port = 0
        return self

    @property
    def address(self):
        return "unix:" + self.sock_path


def websocket_request(key, target="/ws"):
    """A WebSocket upgrade request (what backend.py's /ws answers with a 101)."""
    return ("GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n" % (target, key))


def recv_exact(sock, n):
    """Exactly n bytes from sock; AssertionError when it closes first."""
    data = b""
    while len(data) < n:
        chunk = sock.recv(min(65536, n - len(data)))
        if not chunk:
            raise AssertionError("closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def read_until_close(sock, timeout=5.0, limit=1 << 20):
    """Read from sock until EOF or reset (returns (data, "eof"|"reset")) or until the
    scaled timeout (returns (data, "timeout")). At most `limit` bytes are kept."""
    deadline = time.monotonic() + scaled(timeout)
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, "timeout"
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return data, "timeout"
        except (ConnectionResetError, BrokenPipeError):
            return data, "reset"
        if not chunk:
            return data, "eof"
        if len(data) < limit:
            data += chunk
# daemon chores (binary upgrade, privileges, resources): helpers added for
# t/integ/test_upgrade.py and friends; they change nothing above.


def proc_status_field(pid, field):
    """A field of /proc/PID/status ("Uid", "Gid", ...) as a list of words, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k == field:
                    return v.split()
    except OSError:
        pass
    return None


def proc_cpu_ticks(pid):
    """utime + stime of pid in clock ticks (fields 14 and 15 of /proc/PID/stat), or None."""
    rest = _stat_fields(pid)
    return None if rest is None else int(rest[11]) + int(rest[12])


def proc_fd_targets(pid):
    """readlink() of every /proc/PID/fd entry (e.g. "socket:[123]", "/tmp/x/error.log")."""
    out = []
    try:
        names = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return out
    for n in names:
        try:
            out.append(os.readlink("/proc/%d/fd/%s" % (pid, n)))
        except OSError:
            pass
    return out


def socket_inodes(pid):
    """The socket inodes pid holds (set of ints)."""
    return {int(t[8:-1]) for t in proc_fd_targets(pid) if t.startswith("socket:[")}


def workers_of(master_pid):
    """Live children of a master that are not the helper."""
    return [p for p in children_of(master_pid) if not is_helper(p)]


def wait_pid_gone(pid, timeout=10.0):
    wait_for(lambda: not pid_alive(pid), timeout, what="process %d to exit" % pid)


def follow_master(gh, pid):
    """After a binary upgrade, make gh track the new master `pid` (a process the old master
    started, not our child): from then on it is treated like a daemon, found by pid, so
    teardown QUITs it and waits for it. Call it once the old master has exited."""
    gh.pids.add(pid)
    gh.master_pid = pid
    gh.daemonized = True
    return gh


# --------------------------------------------------------------------------
# upstreams with per-server options, and the admin API (issue 4)

ADMIN_RE = re.compile(r"admin listening on (\[[0-9A-Fa-f:.%a-z]+\]|[0-9.]+):(\d+)")


def upstream_servers(name, servers, extra=""):
    """An upstream block whose servers carry options: servers is a list of
    (address, "weight = 2; backup = true;") pairs, or of plain addresses/ports."""
    parts = []
    for s in servers:
        addr, opts = (s if isinstance(s, tuple) else (s, ""))
        addr = addr if isinstance(addr, str) else "127.0.0.1:%d" % addr
        parts.append('{ address = "%s"; %s}' % (addr, opts + " " if opts else ""))
    return '{ name = "%s"; servers = ( %s ); %s}' % (name, ", ".join(parts),
                                                     extra + " " if extra else "")


def admin_block(token=""):
    """The `admin` setting for make_config(extra=...): loopback, port 0."""
    return 'admin = { address = "127.0.0.1:0"; token = "%s"; };' % token


def admin_port(gh, timeout=5.0):
    """The admin API's port, from the "admin listening on" line of the error log."""
    m = gh.wait_log(ADMIN_RE.pattern, timeout, what="admin listening line")
    return int(m.group(2))


def admin_request(gh, method, path, token=None, timeout=5.0):
    """One admin call; returns the Response."""
    headers = [("Authorization", "Bearer %s" % token)] if token else []
    return request(admin_port(gh), method, path, headers=headers, timeout=timeout)


def admin_status(gh, token=None):
    """GET /status.json as {(upstream, address): server dict}."""
    r = admin_request(gh, "GET", "/status.json", token)
    assert r.status == 200, r
    return {(u["name"], s["address"]): s for u in r.json()["upstreams"] for s in u["servers"]}


def wait_server_state(gh, upstream_name, address, state, timeout=5.0, token=None):
    """Wait until /status.json shows the server in `state` (up, down, drained)."""
    return wait_for(lambda: admin_status(gh, token).get((upstream_name, address), {})
                    .get("state") == state, timeout,
                    interval=0.05, what="%s %s %s" % (upstream_name, address, state))


def backend_of(resp):
    """The name of the backend that answered (its X-Backend header)."""
    return resp.header("X-Backend")


def is_helper(pid):  # noqa: F811 - extends the definition above
    """The helper process: "helper" in its title (argv area) or, where the argv area
    cannot be rewritten (under valgrind, which owns the real one), in its comm name
    (prctl PR_SET_NAME "gh-helper")."""
    if "helper" in proc_cmdline(pid):
        return True
    try:
        with open("/proc/%d/comm" % pid) as f:
            return "helper" in f.read()
    except OSError:
        return False


def read_chunked(sock, limit_s):
    """Yield the body of a chunked response after its head (a 200), chunk data as it
    arrives; limit_s: seconds for the whole of it."""
    buf = b""
    deadline = time.monotonic() + limit_s

    def fill():
        nonlocal buf
        assert time.monotonic() < deadline, "too slow"
        d = sock.recv(1 << 20)
        assert d, "closed mid-body"
        buf += d

    while b"\r\n\r\n" not in buf:
        fill()
    head, _, buf = buf.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"chunked" in head.lower(), head
    while True:
        while b"\r\n" not in buf:
            fill()
        line, _, buf = buf.partition(b"\r\n")
        n = int(line.split(b";")[0], 16)
        while len(buf) < n + 2:
            fill()
        if n == 0:
            return
        yield buf[:n]
        buf = buf[n + 2:]


def small_rcvbuf_request(port, request, rcvbuf=65536, timeout=30):
    """A connected socket with a small receive buffer (so the server feels a stalled
    reader soon) that has sent the raw request bytes; the caller closes it."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(scaled(timeout))
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(request)
    except OSError:
        s.close()
        raise
    return s
