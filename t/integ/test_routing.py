"""Routing through the real binary (issue 4, SPEC section 4): virtual servers by Host,
nginx's route order, path normalization on the wire, strip_prefix, return and
redirect_https, and splits by weight and per client."""

import collections

from ghtest import backend_of, get, request, send_raw, upstream

BACKEND_NAMES = ("api", "app", "img", "www", "dflt", "exact", "stop", "rx")


def servers_config(bs, servers, extra=""):
    """A config with one upstream per backend (named as the backend) and the given
    `servers = ( ... )` entries (strings)."""
    ups = ",\n  ".join(upstream(n, [b.port]) for n, b in bs.items())
    return """workers = 2;
pid_file = "gatehouse.pid";
error_log = { path = "error.log"; level = "info"; };
access_log = { path = "access.log"; format = "combined"; };
admin = { address = "127.0.0.1:0"; };
listen = ( { address = "127.0.0.1:0"; } );
upstreams = (
  %s
);
servers = (
  %s
);
%s
""" % (ups, ",\n  ".join(servers), extra)


def start(gh_factory, backends, servers, names=BACKEND_NAMES, extra=""):
    bs = {n: backends(n) for n in names}
    return gh_factory(servers_config(bs, servers, extra)), bs


def who(port, target, host="localhost", **kw):
    r = get(port, target, host=host, **kw)
    return r.status, backend_of(r)


HOSTS = [
    '{ names = ["app.example", "www.app.example"]; routes = ( { path = "/"; upstream = "app"; } ); }',
    '{ names = ["*.img.example"]; routes = ( { path = "/"; upstream = "img"; } ); }',
    '{ names = ["*.example"]; routes = ( { path = "/"; upstream = "www"; } ); }',
    '{ names = ["default"]; routes = ( { path = "/"; upstream = "dflt"; } ); }',
]


def test_virtual_server_by_host(gh_factory, backends):
    gh, _ = start(gh_factory, backends, HOSTS, names=("app", "img", "www", "dflt"))
    p = gh.port
    assert who(p, "/", "app.example") == (200, "app")
    assert who(p, "/", "APP.Example:8080") == (200, "app")        # case and port ignored
    assert who(p, "/", "app.example.") == (200, "app")            # trailing dot ignored
    assert who(p, "/", "www.app.example") == (200, "app")         # exact before wildcard
    assert who(p, "/", "a.b.img.example") == (200, "img")         # longest wildcard wins
    assert who(p, "/", "img.example") == (200, "www")             # *.img.example needs a label
    assert who(p, "/", "x.example") == (200, "www")
    assert who(p, "/", "example") == (200, "dflt")                # *.example is not example
    assert who(p, "/", "other.test") == (200, "dflt")
    assert who(p, "/", "[::1]:80") == (200, "dflt")
    # absolute-form: the authority replaces Host
    r = send_raw(p, b"GET http://app.example/x HTTP/1.1\r\nHost: other.test\r\n\r\n")
    assert (r.status, backend_of(r)) == (200, "app")


def test_no_default_server_is_404(gh_factory, backends):
    gh, bs = start(gh_factory, backends, HOSTS[:1], names=("app",))
    assert who(gh.port, "/", "app.example") == (200, "app")
    r = get(gh.port, "/", host="nope.example")
    assert r.status == 404
    assert len(bs["app"].requests()) == 1


ORDER = ('{ names = ["default"]; routes = ( '
         '{ path = "/"; upstream = "dflt"; }, '
         '{ path = "/api/"; upstream = "api"; }, '
         '{ path = "/api/v2/"; upstream = "app"; }, '
         '{ path = "= /api/exact"; upstream = "exact"; }, '
         '{ path = "^~ /static/"; upstream = "stop"; }, '
         '{ path = "~ \\\\.php$"; upstream = "rx"; }, '
         '{ path = "~* \\\\.(png|jpe?g)$"; upstream = "img"; }, '
         '{ path = "= /ping"; return = { status = 200; body = "pong\\n"; }; } '
         '); }')


def test_route_order_like_nginx(gh_factory, backends):
    gh, bs = start(gh_factory, backends, [ORDER])
    p = gh.port
    assert who(p, "/api/exact") == (200, "exact")                 # exact wins outright
    assert who(p, "/api/exact/") == (200, "api")
    assert who(p, "/api/x") == (200, "api")                       # longest prefix
    assert who(p, "/api/v2/x") == (200, "app")
    assert who(p, "/api/v2/x.php") == (200, "rx")                 # regex beats a prefix
    assert who(p, "/static/a.php") == (200, "stop")               # ^~ stops the regexes
    assert who(p, "/static/A.PNG") == (200, "stop")
    assert who(p, "/x/A.JPEG") == (200, "img")                    # ~* is caseless
    assert who(p, "/x/a.PHP") == (200, "dflt")                    # ~ is not
    assert who(p, "/x/a.png?x=.php") == (200, "img")              # the query is not matched
    assert who(p, "/apix") == (200, "dflt")
    r = get(p, "/ping")
    assert (r.status, r.body) == (200, b"pong\n")


def test_normalized_path_is_matched_original_forwarded(gh_factory, backends):
    gh, bs = start(gh_factory, backends, [ORDER])
    p = gh.port
    assert who(p, "/%61pi/x") == (200, "api")                     # %61 = 'a'
    assert who(p, "/x/../api/exact") == (200, "exact")
    assert who(p, "/./api/./v2/y") == (200, "app")
    assert who(p, "/api%2Fv2/x") == (200, "dflt")                 # %2F stays encoded
    assert who(p, "//api/x") == (200, "dflt")
    targets = [r["target"] for r in bs["api"].requests()]
    assert "/%61pi/x" in targets                                  # the original bytes
    for bad in ("/a%00b", "/../etc/passwd", "/a/../../b"):
        r = get(p, bad)
        assert r.status == 400, (bad, r)
    before = sum(len(b.requests()) for b in bs.values())
    assert before == 5


def test_strip_prefix_and_route_headers(gh_factory, backends):
    srv = ('{ names = ["default"]; routes = ( '
           '{ path = "/api/"; upstream = "api"; strip_prefix = true; '
           '  request_headers = { set = ( ["X-Route", "api"] ); remove = ["X-Drop"]; }; '
           '  response_headers = { set = ( ["X-Served", "yes"] ); remove = []; }; }, '
           '{ path = "/"; upstream = "dflt"; } ); }')
    gh, bs = start(gh_factory, backends, [srv], names=("api", "dflt"))
    r = get(gh.port, "/api/echo?q=1", headers=[("X-Drop", "1")])
    assert r.status == 200 and r.header("X-Served") == "yes"
    doc = r.json()
    assert doc["target"] == "/echo?q=1"
    hdrs = {k.lower(): v for k, v in doc["headers"]}
    assert hdrs.get("x-route") == "api" and "x-drop" not in hdrs
    get(gh.port, "/api")        # "/api" is not under "/api/": the default route
    assert bs["dflt"].requests()[-1]["target"] == "/api"
    r = get(gh.port, "/api/")
    assert r.status == 200
    assert bs["api"].requests()[-1]["target"] == "/"


def test_return_and_redirect_https(gh_factory, backends):
    srv = ('{ names = ["secure.example", "*.secure.example"]; redirect_https = true; '
           '  routes = ( { path = "/"; upstream = "dflt"; } ); }',
           '{ names = ["default"]; routes = ( '
           '{ path = "/old"; return = { status = 301; location = "https://example.com/new"; }; }, '
           '{ path = "= /gone"; return = { status = 410; body = "gone\\n"; }; }, '
           '{ path = "/"; upstream = "dflt"; } ); }')
    gh, bs = start(gh_factory, backends, list(srv), names=("dflt",))
    r = get(gh.port, "/old/x")
    assert r.status == 301 and r.header("Location") == "https://example.com/new"
    r = get(gh.port, "/gone")
    assert (r.status, r.body) == (410, b"gone\n")
    r = get(gh.port, "/a/b?c=d", host="secure.example:8080")
    assert r.status == 301
    assert r.header("Location") == "https://secure.example/a/b?c=d"
    r = request(gh.port, "POST", "/form", body=b"x=1", host="secure.example")
    assert r.status == 308 and r.header("Location") == "https://secure.example/form"
    r = get(gh.port, "/", host="[::1]:8443")      # the default server: no redirect
    assert r.status == 200
    r = get(gh.port, "/", host="a!b.secure.example")   # not echoed into a Location
    assert r.status == 400 and not r.has("Location")
    assert len(bs["dflt"].requests()) == 1


def split_server(split_by=""):
    return ('{ names = ["default"]; routes = ( { path = "/"; split = ( '
            '{ upstream = "app"; weight = 90; }, { upstream = "rx"; weight = 10; } ); '
            'split_by = "%s"; } ); }' % split_by)


def test_split_90_10_over_1000_requests(gh_factory, backends):
    gh, _ = start(gh_factory, backends, [split_server()], names=("app", "rx"))
    c = collections.Counter(who(gh.port, "/")[1] for _ in range(1000))
    # binomial(1000, 0.1): sd 9.5; 60..140 is beyond 4 sd
    assert c["app"] + c["rx"] == 1000, c
    assert 60 <= c["rx"] <= 140, c


def test_split_by_cookie_is_stable(gh_factory, backends):
    gh, _ = start(gh_factory, backends, [split_server("$cookie_uid")], names=("app", "rx"))
    seen = collections.Counter()
    for uid in range(200):
        got = {who(gh.port, "/", headers=[("Cookie", "a=b; uid=u%d" % uid)])[1]
               for _ in range(3)}
        assert len(got) == 1, (uid, got)                          # every time the same
        seen[got.pop()] += 1
    assert 5 <= seen["rx"] <= 45, seen                            # and still about 10%
    # no cookie: per request, both sides appear
    c = collections.Counter(who(gh.port, "/")[1] for _ in range(200))
    assert c["rx"] > 0 and c["app"] > 0, c


def test_split_by_remote_addr_is_stable(gh_factory, backends):
    gh, _ = start(gh_factory, backends, [split_server("$remote_addr")], names=("app", "rx"))
    got = {who(gh.port, "/")[1] for _ in range(30)}
    assert len(got) == 1, got
