/*
 * test_conf.c - common/conf.c: defaults, the SPEC sample, the -T round trip
 * and the shipped etc/ configurations. Errors are in test_conf_errors.c.
 */
#include "conf_fixture.h"

#include "common/nofile.h"

START_TEST(test_defaults)
{
    struct gh_conf *c = load(LISTEN);

    ck_assert_msg(c != NULL, "%s", errbuf);
    ck_assert_str_eq(errbuf, "");
    ck_assert(c->workers_auto);
    ck_assert_int_eq(c->workers, (int)GH_MIN(GH_MAX(sysconf(_SC_NPROCESSORS_ONLN), 1), 64));
    ck_assert_str_eq(c->prefix, tmpdir);
    ck_assert_str_eq(c->pid_file + strlen(tmpdir), "/gatehouse.pid");
    ck_assert_str_eq(c->user, "");
    ck_assert_uint_eq(c->shm_size, 64u << 20);
    ck_assert_int_eq(c->shutdown_timeout, 30000);
    ck_assert_str_eq(c->error_log.path, "stderr");
    ck_assert_int_eq(c->error_log.level, GH_LOG_INFO);
    ck_assert_str_eq(c->access_log.path + strlen(tmpdir), "/logs/access.log");
    ck_assert_int_eq(c->access_log.format, GH_ALOG_COMBINED);
    ck_assert_int_eq(c->timeouts.client_header, 10000);
    ck_assert_int_eq(c->timeouts.client_body, 30000);
    ck_assert_int_eq(c->timeouts.send, 30000);
    ck_assert_int_eq(c->timeouts.keepalive, 75000);
    ck_assert_int_eq(c->timeouts.upstream_connect, 5000);
    ck_assert_int_eq(c->timeouts.upstream_send, 60000);
    ck_assert_int_eq(c->timeouts.upstream_read, 60000);
    ck_assert_int_eq(c->timeouts.tunnel, 3600000);
    ck_assert_uint_eq(c->limits.max_header_size, 16384);
    ck_assert_int_eq(c->limits.max_headers, 100);
    ck_assert_uint_eq(c->limits.max_uri_size, 8192);
    ck_assert_uint_eq(c->limits.max_body_size, 10u << 20);
    ck_assert_uint_eq(c->limits.max_upstream_header_size, 16384);
    ck_assert_uint_eq(c->limits.min_client_rate, 1024);
    ck_assert_int_eq(c->http2.max_concurrent_streams, 128);
    /* Not set: what the hard open files limit fits (t/unit/test_nofile.c). */
    ck_assert(c->limits.max_connections_auto);
    ck_assert_int_eq(c->limits.max_connections,
                     gh_nofile_max_connections(gh_nofile_hard_limit(), 1));
    ck_assert_int_eq(c->limits.max_conns_per_ip, 0);
    ck_assert_uint_eq(c->nlistens, 1);
    ck_assert_str_eq(c->listens[0].addr.text, "127.0.0.1:0");
    ck_assert(!c->listens[0].tls && !c->listens[0].http2 && !c->listens[0].proxy_protocol);
    ck_assert_int_eq(c->listens[0].line, 1);
    ck_assert_uint_eq(c->tls.ncerts, 0);
    ck_assert_uint_eq(c->tls.protocols, GH_TLS_V1_2 | GH_TLS_V1_3);
    ck_assert(c->tls.session_tickets && !c->tls.ocsp_stapling);
    ck_assert_str_eq(c->tls.client_ca, "");
    ck_assert(c->admin.enabled);
    ck_assert_str_eq(c->admin.addr.text, "127.0.0.1:9901");
    ck_assert_int_eq(c->admin.addr.port, 9901);
    ck_assert_str_eq(c->admin.token, "");
    ck_assert_uint_eq(c->real_ip.nfrom, 0);
    ck_assert_str_eq(c->real_ip.header, "X-Forwarded-For");
    ck_assert_uint_eq(c->nupstreams, 0);
    ck_assert_uint_eq(c->access.nallow + c->access.ndeny, 0);
    ck_assert(!c->access.deny_close);
    ck_assert_int_eq(c->access.ban_violations, 0);
    ck_assert_int_eq(c->access.ban_window, 60000);
    ck_assert_int_eq(c->access.ban_duration, 600000);
    ck_assert_uint_eq(c->nrate_limits, 0);
    ck_assert_uint_eq(c->cache.size, 0);
    ck_assert_uint_eq(c->cache.max_object_size, 1u << 20);
    ck_assert(!c->cache.override);
    ck_assert(c->compression.gzip);
    ck_assert_int_eq(c->compression.level, 5);
    ck_assert(c->compression.brotli);
    ck_assert_int_eq(c->compression.brotli_level, 5);
    ck_assert(c->compression.zstd);
    ck_assert_int_eq(c->compression.zstd_level, 3);
    ck_assert_uint_eq(c->compression.min_size, 1024);
    ck_assert_uint_eq(c->compression.ntypes, 4);
    ck_assert_str_eq(c->compression.types[0], "text/");
    ck_assert_str_eq(c->compression.types[3], "image/svg+xml");
    ck_assert_uint_eq(c->nservers, 0);
    gh_conf_free(c);
}
END_TEST

START_TEST(test_upstream_route_defaults)
{
    struct gh_conf *c = load(LISTEN
        "upstreams = ( { name = \"u\"; servers = ( { address = \"127.0.0.1:1\"; } );\n"
        "  health = { }; tls = { ca = \"ca.pem\"; }; } );\n"
        "servers = ( { names = [\"Example.COM\"]; routes = ( { path = \"/\"; upstream = \"u\"; },\n"
        "  { path = \"/c\"; upstream = \"u\"; cache = { }; } ); } );\n");
    const struct gh_conf_upstream *u;
    const struct gh_conf_route *r;

    ck_assert_msg(c != NULL, "%s", errbuf);
    u = &c->upstreams[0];
    ck_assert_str_eq(u->name, "u");
    ck_assert_int_eq(u->balance, GH_BALANCE_ROUND_ROBIN);
    ck_assert_str_eq(u->hash_key, "$remote_addr");
    ck_assert_uint_eq(u->nservers, 1);
    ck_assert_int_eq(u->servers[0].weight, 1);
    ck_assert_int_eq(u->servers[0].max_conns, 0);
    ck_assert(!u->servers[0].backup);
    ck_assert_int_eq(u->keepalive, 32);
    ck_assert_int_eq(u->keepalive_timeout, 4000);
    ck_assert_int_eq(u->keepalive_requests, 10000);
    ck_assert_int_eq(u->retries, 1);
    ck_assert_uint_eq(u->retry_buffer, 65536);
    ck_assert_int_eq(u->max_fails, 3);
    ck_assert_int_eq(u->fail_timeout, 10000);
    ck_assert(u->health.enabled);
    ck_assert_str_eq(u->health.path, "/healthz");
    ck_assert_str_eq(u->health.host, "");
    ck_assert_int_eq(u->health.interval, 2000);
    ck_assert_int_eq(u->health.timeout, 1000);
    ck_assert_int_eq(u->health.rise, 2);
    ck_assert_int_eq(u->health.fall, 3);
    ck_assert_int_eq(u->health.expect_lo, 200);
    ck_assert_int_eq(u->health.expect_hi, 399);
    ck_assert_int_eq(u->slow_start, 0);
    ck_assert_str_eq(u->sticky_cookie, "");
    ck_assert(!u->tls.enable && u->tls.verify);
    ck_assert_str_eq(u->tls.sni, "");
    ck_assert_str_eq(u->tls.ca + strlen(tmpdir), "/ca.pem");
    ck_assert_int_eq(u->line, 2);
    ck_assert_str_eq(c->servers[0].names[0], "example.com");
    ck_assert(!c->servers[0].redirect_https);
    r = &c->servers[0].routes[0];
    ck_assert_int_eq(r->kind, GH_ROUTE_PREFIX);
    ck_assert_str_eq(r->pattern, "/");
    ck_assert_int_eq(r->upstream_idx, 0);
    ck_assert_int_eq(r->rate_limit_idx, -1);
    ck_assert_ptr_null(r->rate_limit);
    ck_assert(!r->strip_prefix && !r->cache_enabled && !r->has_return);
    ck_assert_uint_eq(r->nsplits, 0);
    ck_assert_str_eq(r->split_by, "");
    ck_assert_uint_eq(r->request_headers.nset + r->response_headers.nremove, 0);
    ck_assert(c->servers[0].routes[1].cache_enabled);
    ck_assert_int_eq(c->servers[0].routes[1].cache_ttl, 60000);
    ck_assert_int_eq(c->servers[0].routes[1].line, 5);
    gh_conf_free(c);
}
END_TEST

/* The sample of SPEC section 4, with the upstreams its routes name. */
static const char spec_sample[] =
    "workers = \"auto\";\n"
    "pid_file = \"gatehouse.pid\";\n"
    "user = \"\";\n"
    "shm_size = \"64M\";\n"
    "shutdown_timeout = \"30s\";\n"
    "error_log  = { path = \"stderr\"; level = \"info\"; };\n"
    "access_log = { path = \"logs/access.log\"; format = \"combined\"; };\n"
    "timeouts = {\n"
    "  client_header = \"10s\"; client_body = \"30s\";\n"
    "  send = \"30s\";  keepalive = \"75s\";\n"
    "  upstream_connect = \"5s\";  upstream_send = \"60s\";  upstream_read = \"60s\";\n"
    "  tunnel = \"1h\";\n"
    "};\n"
    "limits = { max_header_size = \"16k\"; max_headers = 100; max_uri_size = \"8k\";\n"
    "  max_body_size = \"10M\"; max_upstream_header_size = \"16k\"; min_client_rate = \"1k\";\n"
    "  max_connections = 10000; max_conns_per_ip = 0; };\n"
    "listen = (\n"
    "  { address = \"0.0.0.0:8080\"; },\n"
    "  { address = \"[::]:8443\"; tls = true; http2 = true; proxy_protocol = false; }\n"
    ");\n"
    "tls = {\n"
    "  certificates = ( { cert = \"etc/tls/site.crt\"; key = \"etc/tls/site.key\"; } );\n"
    "  protocols = [\"TLSv1.2\", \"TLSv1.3\"];\n"
    "  session_tickets = true; ocsp_stapling = false; client_ca = \"\";\n"
    "};\n"
    "http2 = { max_concurrent_streams = 100; };\n"
    "admin = { address = \"127.0.0.1:9901\"; token = \"\"; };\n"
    "real_ip = { from = []; header = \"X-Forwarded-For\"; };\n"
    "upstreams = (\n"
    "  {\n"
    "    name = \"app\";\n"
    "    balance = \"round_robin\";\n"
    "    hash_key = \"$remote_addr\";\n"
    "    servers = (\n"
    "      { address = \"127.0.0.1:9001\"; weight = 1; },\n"
    "      { address = \"127.0.0.1:9002\"; weight = 2; max_conns = 0; },\n"
    "      { address = \"127.0.0.1:9003\"; backup = true; },\n"
    "      { address = \"localhost:8080\"; },\n"
    "      { address = \"unix:/run/app.sock\"; }\n"
    "    );\n"
    "    keepalive = 32; keepalive_timeout = \"4s\"; keepalive_requests = 10000;\n"
    "    retries = 1; retry_buffer = \"64k\";\n"
    "    passive = { max_fails = 3; fail_timeout = \"10s\"; };\n"
    "    health  = { path = \"/healthz\"; host = \"\"; interval = \"2s\"; timeout = \"1s\"; "
    "rise = 2; fall = 3; expect = \"200-399\"; };\n"
    "    slow_start = \"0s\";\n"
    "    sticky = { cookie = \"\"; };\n"
    "    tls = { enable = false; verify = true; sni = \"\"; ca = \"\"; };\n"
    "  },\n"
    "  { name = \"api\"; servers = ( { address = \"127.0.0.1:9101\"; } ); },\n"
    "  { name = \"static\"; servers = ( { address = \"127.0.0.1:9102\"; } ); },\n"
    "  { name = \"stable\"; servers = ( { address = \"127.0.0.1:9103\"; } ); },\n"
    "  { name = \"canary\"; servers = ( { address = \"127.0.0.1:9104\"; } ); }\n"
    ");\n"
    "access = { allow = []; deny = []; deny_action = \"403\";\n"
    "  auto_ban = { violations = 0; window = \"60s\"; duration = \"10m\"; }; };\n"
    "rate_limits = (\n"
    "  { name = \"per_ip\"; key = \"$remote_addr\"; rate = 100.0; burst = 50; }\n"
    ");\n"
    "cache = { size = \"0\"; max_object_size = \"1M\"; };\n"
    "compression = { gzip = true; level = 5; brotli = true; brotli_level = 5; zstd = true;\n"
    "  zstd_level = 3; min_size = 1024;\n"
    "  types = [\"text/\", \"application/json\", \"application/javascript\", \"image/svg+xml\"]; };\n"
    "servers = (\n"
    "  {\n"
    "    names = [\"example.com\", \"*.example.com\"];\n"
    "    redirect_https = false;\n"
    "    routes = (\n"
    "      { path = \"/api/\";  upstream = \"api\"; rate_limit = \"per_ip\"; strip_prefix = false; },\n"
    "      { path = \"/static/\"; upstream = \"static\"; cache = { ttl = \"60s\"; }; },\n"
    "      { path = \"~ ^/v[0-9]+/\"; upstream = \"app\"; },\n"
    "      { path = \"/\"; split = ( { upstream = \"stable\"; weight = 90; },\n"
    "                              { upstream = \"canary\"; weight = 10; } );\n"
    "        split_by = \"\"; },\n"
    "      { path = \"/old\"; return = { status = 301; location = \"https://example.com/new\"; }; },\n"
    "      { path = \"= /ping\"; return = { status = 200; body = \"pong\\n\"; }; }\n"
    "    );\n"
    "    request_headers  = { set = ( [\"X-Env\", \"prod\"] ); remove = []; };\n"
    "    response_headers = { set = ( [\"Strict-Transport-Security\", \"max-age=31536000\"] ); "
    "remove = []; };\n"
    "  }\n"
    ");\n";

START_TEST(test_spec_sample)
{
    struct gh_conf *c = load(spec_sample);
    const struct gh_conf_vserver *v;

    ck_assert_msg(c != NULL, "%s", errbuf);
    ck_assert_uint_eq(c->nlistens, 2);
    ck_assert(c->listens[1].tls && c->listens[1].http2);
    ck_assert_int_eq(c->http2.max_concurrent_streams, 100);
    ck_assert_int_eq(c->listens[1].addr.port, 8443);
    ck_assert_uint_eq(c->tls.ncerts, 1);
    ck_assert_str_eq(c->tls.certs[0].cert + strlen(tmpdir), "/etc/tls/site.crt");
    ck_assert_uint_eq(c->nupstreams, 5);
    ck_assert_uint_eq(c->upstreams[0].nservers, 5);
    ck_assert_int_eq(c->upstreams[0].servers[1].weight, 2);
    ck_assert(c->upstreams[0].servers[2].backup);
    ck_assert_int_eq(c->upstreams[0].servers[3].addr.kind, GH_ADDR_NAME);
    ck_assert_str_eq(c->upstreams[0].servers[3].addr.host, "localhost");
    ck_assert_int_eq(c->upstreams[0].servers[4].addr.kind, GH_ADDR_UNIX);
    ck_assert_uint_eq(c->nrate_limits, 1);
    ck_assert(c->rate_limits[0].rate == 100.0);
    ck_assert_int_eq(c->rate_limits[0].burst, 50);
    v = &c->servers[0];
    ck_assert_uint_eq(v->nnames, 2);
    ck_assert_str_eq(v->names[1], "*.example.com");
    ck_assert_uint_eq(v->nroutes, 6);
    ck_assert_int_eq(v->routes[0].upstream_idx, 1);
    ck_assert_int_eq(v->routes[0].rate_limit_idx, 0);
    ck_assert_int_eq(v->routes[2].kind, GH_ROUTE_REGEX);
    ck_assert_str_eq(v->routes[2].pattern, "^/v[0-9]+/");
    ck_assert_uint_eq(v->routes[3].nsplits, 2);
    ck_assert_int_eq(v->routes[3].splits[0].upstream_idx, 3);
    ck_assert_int_eq(v->routes[3].splits[1].upstream_idx, 4);
    ck_assert_int_eq(v->routes[3].splits[1].weight, 10);
    ck_assert_int_eq(v->routes[3].upstream_idx, -1);
    ck_assert(v->routes[4].has_return);
    ck_assert_int_eq(v->routes[4].ret.status, 301);
    ck_assert_str_eq(v->routes[4].ret.location, "https://example.com/new");
    ck_assert_ptr_null(v->routes[4].ret.body);
    ck_assert_int_eq(v->routes[5].kind, GH_ROUTE_EXACT);
    ck_assert_str_eq(v->routes[5].pattern, "/ping");
    ck_assert_str_eq(v->routes[5].ret.body, "pong\n");
    ck_assert_uint_eq(v->request_headers.nset, 1);
    ck_assert_str_eq(v->request_headers.set[0].name, "X-Env");
    ck_assert_str_eq(v->response_headers.set[0].value, "max-age=31536000");
    gh_conf_free(c);
}
END_TEST

START_TEST(test_route_kinds)
{
    struct gh_conf *c = load(LISTEN
        "servers = ( { names = [\"default\"]; routes = (\n"
        "  { path = \"/a/\"; return = { status = 204; }; },\n"
        "  { path = \"^~ /b/\"; return = { status = 204; }; },\n"
        "  { path = \"= /c\"; return = { status = 204; }; },\n"
        "  { path = \"~ \\\\.php$\"; return = { status = 204; }; },\n"
        "  { path = \"~* \\\\.PNG$\"; return = { status = 204; }; },\n"
        "  { path = \"/d\"; return = { status = 204; }; strip_prefix = true;\n"
        "    request_headers = { set = ( [\"X-A\", \"1\"], [\"X-B\", \"\"] ); remove = [\"Cookie\"]; };\n"
        "    response_headers = { remove = [\"Server\"]; }; }\n"
        "); } );\n");
    const struct gh_conf_route *r;

    ck_assert_msg(c != NULL, "%s", errbuf);
    r = c->servers[0].routes;
    ck_assert_int_eq(r[0].kind, GH_ROUTE_PREFIX);
    ck_assert_int_eq(r[1].kind, GH_ROUTE_PREFIX_STOP);
    ck_assert_str_eq(r[1].pattern, "/b/");
    ck_assert_int_eq(r[2].kind, GH_ROUTE_EXACT);
    ck_assert_int_eq(r[3].kind, GH_ROUTE_REGEX);
    ck_assert_str_eq(r[3].pattern, "\\.php$");
    ck_assert_int_eq(r[4].kind, GH_ROUTE_REGEX_CASELESS);
    ck_assert_str_eq(r[4].pattern, "\\.PNG$");
    ck_assert_str_eq(r[4].path_spec, "~* \\.PNG$");
    ck_assert(r[5].strip_prefix);
    ck_assert_uint_eq(r[5].request_headers.nset, 2);
    ck_assert_str_eq(r[5].request_headers.set[1].name, "X-B");
    ck_assert_str_eq(r[5].request_headers.remove[0], "Cookie");
    ck_assert_str_eq(r[5].response_headers.remove[0], "Server");
    ck_assert_ptr_null(r[5].ret.body);
    gh_conf_free(c);
}
END_TEST

START_TEST(test_values)
{
    struct gh_conf *c = load(LISTEN
        "workers = 3; shutdown_timeout = 2.5; shm_size = 1048576;\n"
        "error_log = { path = \"logs/error.log\"; level = \"warn\"; };\n"
        "access_log = { path = \"/var/log/a.log\"; format = \"json\"; };\n"
        "timeouts = { send = 7; keepalive = 0; tunnel = \"1d\"; };\n"
        "access = { allow = [\"10.0.0.0/8\", \"::1\"]; deny_action = \"close\";\n"
        "  auto_ban = { violations = 5; }; };\n"
        "admin = { address = \"\"; };\n"
        "real_ip = { from = [\"192.168.0.0/16\"]; header = \"X-Real-IP\"; };\n"
        "tls = { protocols = [\"TLSv1.3\"]; };\n"
        "compression = { types = []; level = 9; brotli = false; brotli_level = 11;\n"
        "  zstd = false; zstd_level = 19; };\n"
        "rate_limits = ( { name = \"r\"; key = \"$header_X-Api-Key\"; rate = 2; },\n"
        "  { name = \"s\"; key = \"$cookie_sid\"; rate = 0.5; burst = 0; } );\n");

    ck_assert_msg(c != NULL, "%s", errbuf);
    ck_assert(!c->workers_auto);
    ck_assert_int_eq(c->workers, 3);
    ck_assert_int_eq(c->shutdown_timeout, 2500);
    ck_assert_uint_eq(c->shm_size, 1048576);
    ck_assert_str_eq(c->error_log.path + strlen(tmpdir), "/logs/error.log");
    ck_assert_int_eq(c->error_log.level, GH_LOG_WARN);
    ck_assert_str_eq(c->access_log.path, "/var/log/a.log");
    ck_assert_int_eq(c->access_log.format, GH_ALOG_JSON);
    ck_assert_int_eq(c->timeouts.send, 7000);
    ck_assert_int_eq(c->timeouts.keepalive, 0);
    ck_assert_int_eq(c->timeouts.tunnel, 86400000);
    ck_assert_uint_eq(c->access.nallow, 2);
    ck_assert_int_eq(c->access.allow[1].prefix_len, 128);
    ck_assert_str_eq(c->access.allow[0].text, "10.0.0.0/8");
    ck_assert(c->access.deny_close);
    ck_assert_int_eq(c->access.ban_violations, 5);
    ck_assert(!c->admin.enabled);
    ck_assert_uint_eq(c->real_ip.nfrom, 1);
    ck_assert_str_eq(c->real_ip.header, "X-Real-IP");
    ck_assert_uint_eq(c->tls.protocols, GH_TLS_V1_3);
    ck_assert_uint_eq(c->compression.ntypes, 0);
    ck_assert_int_eq(c->compression.level, 9);
    ck_assert(c->compression.gzip && !c->compression.brotli && !c->compression.zstd);
    ck_assert_int_eq(c->compression.brotli_level, 11);
    ck_assert_int_eq(c->compression.zstd_level, 19);
    ck_assert(c->rate_limits[0].rate == 2.0);
    ck_assert(c->rate_limits[1].rate == 0.5);
    gh_conf_free(c);
}
END_TEST

START_TEST(test_workers)
{
    struct gh_conf *c = load(LISTEN "workers = 64;\n");

    ck_assert_msg(c != NULL, "%s", errbuf);
    ck_assert_int_eq(c->workers, 64);
    gh_conf_free(c);
    EXPECT(LISTEN "workers = 0;\n", "2: 'workers' must be between 1 and 64");
    EXPECT(LISTEN "workers = 65;\n", "2: 'workers' must be between 1 and 64");
    EXPECT(LISTEN "workers = \"many\";\n",
           "2: 'workers' must be a number from 1 to 64, or \"auto\"");
    EXPECT(LISTEN "workers = 1.5;\n",
           "2: 'workers' must be a number from 1 to 64, or \"auto\"");
}
END_TEST

/* Load text, dump it, load the dump from elsewhere, dump again: the two
 * dumps must match (but for the "# file:" and "# prefix:" comments). */
static void check_round_trip(const char *text)
{
    struct gh_conf *c = load(text), *c2;
    char *d1 = NULL, *d2 = NULL, *p;
    size_t l1, l2;
    FILE *f;

    ck_assert_msg(c != NULL, "%s", errbuf);
    f = open_memstream(&d1, &l1);
    gh_conf_dump(c, f);
    fclose(f);
    gh_conf_free(c);
    write_file("dump.conf", d1);
    c2 = gh_conf_load(path, "/nonexistent-prefix", stderr);
    ck_assert_msg(c2 != NULL, "dump does not load:\n%s", d1);
    f = open_memstream(&d2, &l2);
    gh_conf_dump(c2, f);
    fclose(f);
    gh_conf_free(c2);
    /* skip the two header comment lines that name the file and prefix */
    p = strstr(d1, "\nworkers");
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(strstr(d2, "\nworkers"));
    ck_assert_str_eq(p, strstr(d2, "\nworkers"));
    free(d1);
    free(d2);
}

START_TEST(test_dump_round_trip)
{
    check_round_trip(spec_sample);
    check_round_trip(LISTEN);
    check_round_trip(LISTEN "workers = 2; shutdown_timeout = \"1500ms\"; cache = { size = \"300k\"; override = true; };\n"
                     "access = { deny = [\"10.0.0.0/8\"]; deny_action = \"close\"; };\n"
                     "admin = { address = \"\"; token = \"s\\\"e\\\\c\"; };\n"
                     "rate_limits = ( { name = \"r\"; rate = 0.1; } );\n"
                     "upstreams = ( { name = \"u\"; health = { expect = \"204\"; };\n"
                     "  servers = ( { address = \"[::1]:81\"; } ); } );\n"
                     "servers = ( { names = [\"default\"]; routes = (\n"
                     "  { path = \"~* \\\\.png$\"; upstream = \"u\"; cache = { ttl = 0; }; },\n"
                     "  { path = \"/t\"; return = { status = 200; body = \"tab\\there\\x01\"; }; }\n"
                     "); } );\n");
}
END_TEST

START_TEST(test_dump_content)
{
    struct gh_conf *c = load(spec_sample);
    char *d = NULL;
    size_t len;
    FILE *f;

    ck_assert_msg(c != NULL, "%s", errbuf);
    f = open_memstream(&d, &len);
    gh_conf_dump(c, f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(d, "upstream_send = \"1m\";"));
    ck_assert_ptr_nonnull(strstr(d, "max_body_size = \"10M\";"));
    ck_assert_ptr_nonnull(strstr(d, "body = \"pong\\n\";"));
    ck_assert_ptr_nonnull(strstr(d, "workers = \"auto\";"));
    ck_assert_ptr_nonnull(strstr(d, "split_by = \"\";"));
    free(d);
    gh_conf_free(c);
}
END_TEST

/* The repository root, from this file's path (or -DGH_SOURCE_DIR). */
static void repo_file(char *out, size_t size, const char *rel)
{
#ifdef GH_SOURCE_DIR
    snprintf(out, size, "%s/%s", GH_SOURCE_DIR, rel);
#else
    const char *me = __FILE__, *end = strstr(me, "t/unit/test_conf.c");
    ck_assert_ptr_nonnull(end);
    snprintf(out, size, "%.*s%s", (int)(end - me), me, rel);
#endif
}

START_TEST(test_etc_configs)
{
    char file[PATH_MAX];
    struct gh_conf *c;

    repo_file(file, sizeof(file), "etc/gatehouse.conf");
    c = gh_conf_load(file, tmpdir, stderr);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->workers, 2);
    ck_assert_str_eq(c->listens[0].addr.text, "127.0.0.1:8080");
    ck_assert_str_eq(c->pid_file + strlen(tmpdir), "/gatehouse.pid");
    ck_assert_str_eq(c->access_log.path + strlen(tmpdir), "/logs/access.log");
    ck_assert_str_eq(c->error_log.path, "stderr");
    ck_assert_uint_eq(c->nupstreams, 1);
    ck_assert_str_eq(c->upstreams[0].name, "app");
    ck_assert_uint_eq(c->upstreams[0].nservers, 2);
    ck_assert_str_eq(c->upstreams[0].servers[1].addr.text, "127.0.0.1:9002");
    ck_assert_str_eq(c->servers[0].names[0], "default");
    ck_assert_int_eq(c->servers[0].routes[0].kind, GH_ROUTE_EXACT);
    ck_assert_str_eq(c->servers[0].routes[0].ret.body, "pong\n");
    ck_assert_int_eq(c->servers[0].routes[1].upstream_idx, 0);
    gh_conf_free(c);

    repo_file(file, sizeof(file), "etc/gatehouse-minimal.conf");
    c = gh_conf_load(file, tmpdir, stderr);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->nupstreams, 0);
    ck_assert_str_eq(c->listens[0].addr.text, "127.0.0.1:8080");
    ck_assert_int_eq(c->servers[0].routes[1].ret.status, 200);
    ck_assert_str_eq(c->servers[0].routes[1].ret.body, "Hello from gatehouse\n");
    gh_conf_free(c);
}
END_TEST

START_TEST(test_prefix_relative)
{
    char cwd[PATH_MAX], want[PATH_MAX + 64];
    struct gh_conf *c;

    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    write_file("t.conf", LISTEN "pid_file = \"./run/gh.pid\";\n");
    c = gh_conf_load(path, "some/dir/", stderr);
    ck_assert_ptr_nonnull(c);
    snprintf(want, sizeof(want), "%s/some/dir/run/gh.pid", cwd);
    ck_assert_str_eq(c->pid_file, want);
    gh_conf_free(c);
    c = gh_conf_load(path, ".", stderr);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(c->prefix, cwd);
    gh_conf_free(c);
}
END_TEST

static Suite *conf_suite(void)
{
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("load");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_upstream_route_defaults);
    tcase_add_test(tc, test_spec_sample);
    tcase_add_test(tc, test_route_kinds);
    tcase_add_test(tc, test_values);
    tcase_add_test(tc, test_workers);
    tcase_add_test(tc, test_dump_round_trip);
    tcase_add_test(tc, test_dump_content);
    tcase_add_test(tc, test_etc_configs);
    tcase_add_test(tc, test_prefix_relative);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(conf_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
