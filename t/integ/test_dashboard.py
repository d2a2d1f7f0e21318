"""The live dashboard (GET /status on the admin listener, issue 14 item 2): the raw
HTML lists every upstream and server without JavaScript, escaped; in headless Chromium
(Debian's /usr/bin/chromium, installed by t/deps.sh) the page refreshes itself from
/status.json, its figures move after traffic, a drained server shows draining, its
drain/enable buttons work when clicked, with no token or with the token typed into its
form. Screenshots are saved in each test's temporary directory."""

import html.parser
import json
import os
import shutil
import tempfile
import threading
import time

import pytest

import browser
import ghtest
from ghtest import (admin_block, admin_port, admin_request, admin_status, get, make_config,
                    route_upstream, upstream_servers)

TOKEN = "s3cret"


def need_chromium():
    why = browser.available()
    if why is not None:
        pytest.skip(why)


def conf(a, b, c, token="", extra_servers=()):
    """Upstream "app" (a, b with weight 2) behind "/", "api" (c, ...) behind "/api/"."""
    return make_config(
        upstreams=[upstream_servers("app", [a.port, (b.port, "weight = 2;")]),
                   upstream_servers("api", [c.port] + list(extra_servers))],
        routes=[route_upstream("/api/", "api"), route_upstream("/", "app")],
        extra=admin_block(token))


def traffic(gh, n, seconds):
    """n requests to each upstream, spread over about `seconds` (so a rate shows)."""
    for i in range(n):
        for path in ("/", "/api/x"):
            assert get(gh.port, path, headers=[("Connection", "close")]).status == 200
        time.sleep(seconds / n)


class Background(threading.Thread):
    """Requests to both upstreams every 20 ms while a browser loads the page (so that
    every server has requests in the last 5 s however slow the machine), for at most
    60 s; join() stops it and re-raises what went wrong."""

    def __init__(self, gh):
        super().__init__(daemon=True)
        self.gh, self.stop, self.error = gh, threading.Event(), None

    def run(self):
        deadline = time.monotonic() + 60
        try:
            while not self.stop.is_set() and time.monotonic() < deadline:
                traffic(self.gh, 1, 0.02)
        except Exception as e:  # noqa: BLE001 - reported by join()
            self.error = e

    def join(self, timeout=None):
        self.stop.set()
        super().join(timeout if timeout is not None else ghtest.scaled(10))
        assert not self.is_alive() and self.error is None, self.error


class Dashboard(html.parser.HTMLParser):
    """The upstreams of a dashboard page: {upstream: {address: {"state": ..., field: text}}}
    from section[data-upstream] > tr[data-server] > td[data-k]; also the attributes of
    main#ups and the number of polylines per chart."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.upstreams, self.main, self.lines = {}, {}, {}
        self.up = self.row = self.cell = self.chart = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "main":
            self.main = a
        elif tag == "section" and "data-upstream" in a:
            self.up = self.upstreams.setdefault(a["data-upstream"], {})
        elif tag == "tr" and "data-server" in a and self.up is not None:
            self.row = self.up.setdefault(a["data-server"], {"data-state": a.get("data-state")})
        elif tag == "td" and "data-k" in a and self.row is not None:
            self.cell = a["data-k"]
            self.row[self.cell] = ""
        elif tag == "button" and self.row is not None:
            self.row["button"] = a.get("data-act")
        elif tag == "svg" and "data-chart" in a:
            self.chart = a["data-chart"]
            self.lines[self.chart] = 0
        elif tag == "polyline" and self.chart is not None:
            self.lines[self.chart] += 1

    def handle_endtag(self, tag):
        if tag == "td":
            self.cell = None
        elif tag == "tr":
            self.row = None
        elif tag == "section":
            self.up = None
        elif tag == "svg":
            self.chart = None

    def handle_data(self, data):
        if self.row is not None and self.cell is not None:
            self.row[self.cell] += data


def number(text):
    return float(text.replace("%", "").strip())


def check_lists_everything(page, status, before=None):
    """Every upstream and server of status.json is on the page, with its state and its
    request count (that of status, or between before's and status's when traffic ran
    while the page loaded)."""
    assert set(page.upstreams) == {u for u, _ in status}
    for (u, addr), s in status.items():
        row = page.upstreams[u].get(addr)
        assert row is not None, (u, addr, page.upstreams)
        state = "draining" if s["state"] == "drained" else s["state"]
        assert row["data-state"] == state and row["state"] == state, row
        assert row["address"].strip().startswith(addr), row
        low = (before or status)[(u, addr)]["requests"]
        assert low <= int(row["requests"]) <= s["requests"], (row, s)
        assert row["button"] == ("enable" if state == "draining" else "drain"), row


def self_contained(text):
    """Nothing is loaded from elsewhere: no src/href, no url(), no @import, no <link>."""
    for needle in (" src=", "href=", "url(", "@import", "<link"):
        assert needle not in text, needle


def test_page_without_javascript(gh_factory, backends):
    """The server-rendered page alone lists every upstream and server with its state and
    counts, escapes what comes from the configuration, and shows a drained server as
    draining (with an enable button)."""
    a, b, c = backends("a"), backends("b"), backends("c")
    odd = tempfile.mkdtemp(prefix="gh<b>&'-")
    try:
        u = ghtest.UnixBackend("u", directory=odd).start()
        try:
            gh = gh_factory(conf(a, b, c, extra_servers=[json.dumps(u.address)[1:-1]]))
            traffic(gh, 5, 0.2)
            r = admin_request(gh, "GET", "/status")
            assert r.status == 200 and r.header("Content-Type") == "text/html; charset=utf-8"
            assert r.header("Cache-Control") == "no-store"
            assert len(r.body) < 64 * 1024
            self_contained(r.text)
            page = Dashboard(r.text)
            assert page.main["data-rendered"] == "server"
            status = admin_status(gh)
            check_lists_everything(page, status)
            assert ("api", u.address) in status
            # The odd address: escaped in the text and attributes, %-encoded in the URL.
            assert "<b>" not in r.text and "gh&lt;b&gt;&amp;&#39;-" in r.text
            assert "%3Cb%3E%26%27-" in r.text
            addr = "127.0.0.1:%d" % a.port
            assert admin_request(gh, "POST", "/upstreams/app/servers/%s/drain" % addr).status == 200
            page = Dashboard(admin_request(gh, "GET", "/status").text)
            row = page.upstreams["app"][addr]
            assert row["data-state"] == "draining" and row["button"] == "enable"
            # HEAD: the head only.
            h = admin_request(gh, "HEAD", "/status")
            assert h.status == 200 and h.body == b""
        finally:
            u.stop()
            u.cleanup()
    finally:
        shutil.rmtree(odd, ignore_errors=True)


def test_dashboard_in_chromium(gh_factory, backends, tmp_path):
    """Chromium loads /status, the script replaces the server's tables with live ones from
    status.json (every upstream and server, state, requests, req/s, p50/p99, a chart);
    with scripts disabled it shows the server's tables; after more traffic and a drain,
    a second load shows larger numbers and draining."""
    need_chromium()
    a, b, c = backends("a"), backends("b"), backends("c")
    gh = gh_factory(conf(a, b, c))
    url = "http://127.0.0.1:%d/status" % admin_port(gh)
    traffic(gh, 12, 1.5)
    before = admin_status(gh)
    load = Background(gh)
    load.start()
    first = Dashboard(browser.dump_dom(url))
    load.join()
    status = admin_status(gh)
    assert first.main.get("data-rendered") == "live", first.main
    assert int(first.main["data-fetches"]) >= 1
    check_lists_everything(first, status, before)
    for (u, addr), s in status.items():
        row = first.upstreams[u][addr]
        assert number(row["requests_per_s"]) > 0, row         # requests in the last 5 s
        assert 0 <= number(row["p50_ms"]) <= number(row["p99_ms"]), row
        assert row["errors"] == "0" and row["error_rate"].strip() == "0.0 %", row
    assert first.lines == {"app": 2, "api": 1}, first.lines
    shot = browser.screenshot(url, str(tmp_path / "dashboard-1.png"))
    with open(shot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(shot) > 10000

    # With scripts off (--dump-dom then gives nothing), Chromium shows the server's
    # tables as they are.
    with browser.Browser() as br:
        br.navigate(url, javascript=False)
        br.wait("document.querySelector('main#ups tr[data-server]')", what="the page")
        static = Dashboard(br.html())
        br.screenshot(str(tmp_path / "dashboard-no-js.png"))
    assert static.main.get("data-rendered") == "server", static.main
    check_lists_everything(static, admin_status(gh))

    traffic(gh, 10, 0.5)
    addr_b = "127.0.0.1:%d" % b.port
    assert admin_request(gh, "POST", "/upstreams/app/servers/%s/drain" % addr_b).status == 200
    second = Dashboard(browser.dump_dom(url))
    status = admin_status(gh)
    check_lists_everything(second, status)
    for (u, addr), s in status.items():
        assert int(second.upstreams[u][addr]["requests"]) > int(first.upstreams[u][addr]["requests"])
    assert second.upstreams["app"][addr_b]["data-state"] == "draining"
    browser.screenshot(url, str(tmp_path / "dashboard-2.png"))


@pytest.mark.parametrize("token", ["", TOKEN])
def test_buttons_in_chromium(gh_factory, backends, tmp_path, token):
    """Clicking drain and enable on the page drains and enables the server (the same
    calls as the API); with admin.token set, the page answers 401 without data until the
    token is typed into its form."""
    need_chromium()
    a, b, c = backends("a"), backends("b"), backends("c")
    gh = gh_factory(conf(a, b, c, token=token))
    url = "http://127.0.0.1:%d/status" % admin_port(gh)
    addr = "127.0.0.1:%d" % a.port
    traffic(gh, 3, 0.1)
    row = "[...document.querySelectorAll('tr[data-server]')].find(" \
          "t => t.closest('section').dataset.upstream === 'app' && t.dataset.server === %s)" \
          % json.dumps(addr)
    with browser.Browser() as br:
        br.navigate(url)
        if token:
            assert admin_request(gh, "GET", "/status").status == 401
            br.wait("document.getElementById('auth') && !document.getElementById('auth').hidden",
                    what="the token form")
            assert br.eval("document.querySelectorAll('tr[data-server]').length") == 0
            br.type_text("document.getElementById('token')", "wrong")
            br.click("document.querySelector('#auth button')")
            br.wait("document.getElementById('live').textContent.includes('refused')",
                    what="the wrong token refused")
            br.eval("document.getElementById('token').value = ''")
            br.type_text("document.getElementById('token')", token)
            br.click("document.querySelector('#auth button')")
        br.wait("document.getElementById('ups').dataset.rendered === 'live' && (%s)" % row,
                what="the live tables")
        br.click("(%s).querySelector('button')" % row)
        ghtest.wait_server_state(gh, "app", addr, "drained", token=token or None)
        br.wait("(%s).dataset.state === 'draining' && "
                "(%s).querySelector('button').textContent === 'enable'" % (row, row),
                what="the row showing draining")
        assert "draining" in br.eval("document.getElementById('msg').textContent")
        br.screenshot(str(tmp_path / "drained.png"))
        gh.wait_log(r"admin: upstream \"app\" server %s drained" % addr)
        br.click("(%s).querySelector('button')" % row)
        ghtest.wait_server_state(gh, "app", addr, "up", token=token or None)
        br.wait("(%s).dataset.state === 'up'" % row, what="the row showing up")
    assert os.path.getsize(str(tmp_path / "drained.png")) > 10000
