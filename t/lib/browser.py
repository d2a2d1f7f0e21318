"""browser - headless Chromium (Debian's /usr/bin/chromium) for the integration tests,
with the Python standard library only:

- dump_dom(url, ...): the DOM after the page's scripts ran for a virtual-time budget
  (--dump-dom --virtual-time-budget); screenshot(url, path, ...): a PNG (--screenshot).
- Browser: one Chromium driven over the DevTools protocol on a pipe
  (--remote-debugging-pipe: commands on its fd 3, answers on its fd 4, each message a
  JSON text ended by NUL), so a test can click (Input.dispatchMouseEvent), type
  (Input.insertText), evaluate and take screenshots without a websocket library.

Every run gets a temporary --user-data-dir, removed afterwards; every wait is bounded
(scaled by GH_TIMEOUT_SCALE); a browser that outlives its deadline is killed by its
process group (its own session, started here).
"""

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time

import ghtest

CHROMIUM = os.environ.get("GH_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run",
         "--no-default-browser-check", "--disable-extensions", "--disable-sync",
         "--disable-background-networking", "--disable-component-update",
         "--password-store=basic", "--use-mock-keychain", "--window-size=1100,800"]


def available():
    """None when Chromium can run here, else why not (for pytest.skip)."""
    if not os.access(CHROMIUM, os.X_OK):
        return "%s is not installed (apt-get install chromium; t/deps.sh does)" % CHROMIUM
    return None


def _kill_group(proc):
    """SIGKILL the process group of proc (a session of its own, started by us)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _run(args, timeout):
    """Run chromium with args and a fresh profile; (stdout, stderr) as text."""
    profile = tempfile.mkdtemp(prefix="gh-chromium-")
    proc = subprocess.Popen([CHROMIUM] + FLAGS + ["--user-data-dir=" + profile] + args,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=ghtest.scaled(timeout))
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise AssertionError("chromium %s: no answer in %.0f s" % (args[-1], timeout))
    finally:
        _kill_group(proc)
        shutil.rmtree(profile, ignore_errors=True)
    if proc.returncode != 0:
        raise AssertionError("chromium exited %s: %s" % (proc.returncode, err[-2000:]))
    return out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def dump_dom(url, budget_ms=3000, timeout=60):
    """The serialized DOM of url once its scripts ran for budget_ms of virtual time."""
    out, _ = _run(["--virtual-time-budget=%d" % budget_ms, "--dump-dom", url], timeout)
    return out


def screenshot(url, path, budget_ms=3000, timeout=60):
    """Save a PNG of url (after budget_ms of virtual time) at path; returns path."""
    _run(["--virtual-time-budget=%d" % budget_ms, "--screenshot=" + path, url], timeout)
    return path


class Browser:
    """One headless Chromium and one page, driven over --remote-debugging-pipe."""

    def __init__(self, timeout=30):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="gh-chromium-")
        cmd_r, self.cmd_w = os.pipe()       # our commands: its fd 3
        self.ans_r, ans_w = os.pipe()       # its answers: its fd 4
        # Above 9, so that moving them onto 3 and 4 cannot close one of them.
        for name in ("cmd_r", "ans_w"):
            fd = locals()[name]
            high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
            os.close(fd)
            if name == "cmd_r":
                cmd_r = high
            else:
                ans_w = high
        argv = [CHROMIUM] + FLAGS + ["--user-data-dir=" + self.profile,
                                     "--remote-debugging-pipe", "about:blank"]
        # bash (dash takes one-digit fds only) puts the two pipe ends on fds 3 and 4,
        # then becomes chromium.
        script = 'exec 3<&%d 4>&%d %d<&- %d>&-; exec "$@"' % (cmd_r, ans_w, cmd_r, ans_w)
        # Its stderr goes to a file: a pipe nobody reads during the session could fill.
        self.stderr_path = os.path.join(self.profile, "stderr.txt")
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(["/bin/bash", "-c", script, "bash"] + argv,
                                         pass_fds=(cmd_r, ans_w), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err,
                                         start_new_session=True)
        os.close(cmd_r)
        os.close(ans_w)
        self.next_id = 0
        self.buf = b""
        self.session = None
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"}, browser=True)
            self.session = self.call("Target.attachToTarget",
                                     {"targetId": target["targetId"], "flatten": True},
                                     browser=True)["sessionId"]
        except BaseException:
            self.close()                    # no browser or profile left behind
            raise

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("chromium: no DevTools answer in time")
            ready, _, _ = select.select([self.ans_r], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.ans_r, 1 << 20)
            if not chunk:
                raise AssertionError("chromium closed its DevTools pipe: %s" % self.stderr())
            self.buf += chunk
        msg, _, self.buf = self.buf.partition(b"\0")
        return json.loads(msg)

    def call(self, method, params=None, browser=False):
        """Send one command (to the page's session unless browser) and return its result."""
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if not browser:
            msg["sessionId"] = self.session
        os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + ghtest.scaled(self.timeout)
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise AssertionError("%s: %s" % (method, m["error"]))
                return m.get("result", {})

    def stderr(self):
        """The last 4 KB chromium wrote to its stderr."""
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read()[-4000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def navigate(self, url, javascript=True):
        """Load url in the page (javascript=False: with the page's scripts disabled;
        evaluate() still works). Returns at once: wait() for what should be there."""
        self.call("Emulation.setScriptExecutionDisabled", {"value": not javascript})
        self.call("Page.navigate", {"url": url})

    def html(self):
        """The page's DOM, serialized."""
        return self.eval("document.documentElement.outerHTML")

    def eval(self, expression):
        """The value of a JavaScript expression in the page (promises awaited)."""
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            raise AssertionError("page script failed: %s" % r["exceptionDetails"])
        return r["result"].get("value")

    def wait(self, expression, timeout=10.0, what=None):
        """Wait until the expression is truthy in the page (one that throws, as it may
        while the page loads, counts as false); returns its value (true for a DOM node,
        which does not serialize)."""
        guarded = ("(() => { try { const v = (%s); return v instanceof Node ? true : v; }"
                   " catch (e) { return false; } })()" % expression)
        return ghtest.wait_for(lambda: self.eval(guarded), timeout, interval=0.1,
                               what=what or expression)

    def click(self, expression):
        """A real left click (press, release) at the middle of the element the
        expression gives, which must be visible."""
        x, y = self.eval("(() => { const e = (%s); e.scrollIntoView({block: 'center'});"
                         " const r = e.getBoundingClientRect();"
                         " return [r.x + r.width / 2, r.y + r.height / 2]; })()" % expression)
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y,
                                                   "button": "left", "clickCount": 1})

    def type_text(self, expression, text):
        """Focus the element the expression gives and type text into it."""
        self.eval("(%s).focus()" % expression)
        self.call("Input.insertText", {"text": text})

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def close(self):
        try:
            if self.proc.poll() is None:
                self.call("Browser.close", browser=True)
        except (AssertionError, OSError):
            pass
        try:
            self.proc.wait(timeout=ghtest.scaled(10))
        except subprocess.TimeoutExpired:
            pass
        _kill_group(self.proc)
        for fd in (self.cmd_w, self.ans_r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
