/*
 * test_conf_errors.c - every class of configuration error, each with its
 * exact "FILE:LINE: message", and many errors reported at once.
 */
#include "conf_fixture.h"

START_TEST(test_err_syntax)
{
    EXPECT(LISTEN "workers = ;\n", "2: syntax error");
    EXPECT(LISTEN "a = 1;\na = 2;\n", "3: duplicate setting name");
}
END_TEST

START_TEST(test_err_missing_file)
{
    size_t len;
    FILE *errs = open_memstream(&errbuf, &len);
    char want[PATH_MAX + 128];

    snprintf(path, sizeof(path), "%s/none.conf", tmpdir);
    ck_assert_ptr_null(gh_conf_load(path, tmpdir, errs));
    fclose(errs);
    snprintf(want, sizeof(want),
             "%s: cannot read the configuration file (No such file or directory)\n", path);
    ck_assert_str_eq(errbuf, want);
}
END_TEST

START_TEST(test_err_unknown)
{
    EXPECT(LISTEN "wrokers = 2;\n", "2: unknown setting 'wrokers'");
    EXPECT(LISTEN "upstreams = (\n  { name = \"a\";\n    servers = ( { address = \"127.0.0.1:1\"; } );\n"
           "    x = 1; } );\n",
           "5: unknown setting 'x' in 'upstreams.[0]'");
    EXPECT(LISTEN "upstreams = ( { name = \"a\";\n servers = ( { address = \"127.0.0.1:1\"; wieght = 2; } );\n"
           " health = { pth = \"/\"; }; } );\n",
           "3: unknown setting 'wieght' in 'upstreams.[0].servers.[0]'",
           "4: unknown setting 'pth' in 'upstreams.[0].health'");
    EXPECT(LISTEN "timeouts = { sned = 1; };\nlimits = { foo = 1; };\n",
           "2: unknown setting 'sned' in 'timeouts'", "3: unknown setting 'foo' in 'limits'");
    EXPECT("listen = ( { address = \"127.0.0.1:0\"; ssl = true; } );\n",
           "1: unknown setting 'ssl' in 'listen.[0]'");
    EXPECT(LISTEN "servers = ( { names = [\"a\"]; routes = (\n"
           "  { path = \"/\"; return = { status = 200; code = 1; }; cache = { tl = 1; }; } ); } );\n",
           "3: unknown setting 'code' in 'servers.[0].routes.[0].return'",
           "3: unknown setting 'tl' in 'servers.[0].routes.[0].cache'");
    EXPECT(LISTEN "access = { auto_ban = { x = 1; }; };\ntls = { certificates = ( { cert = \"a\"; "
           "key = \"b\"; chain = \"c\"; } ); };\n",
           "2: unknown setting 'x' in 'access.auto_ban'",
           "3: unknown setting 'chain' in 'tls.certificates.[0]'");
}
END_TEST

START_TEST(test_err_types)
{
    EXPECT(LISTEN "user = 5;\n", "2: 'user' must be a string");
    EXPECT(LISTEN "tls = { session_tickets = \"yes\"; };\n",
           "2: 'tls.session_tickets' must be true or false");
    EXPECT(LISTEN "timeouts = 5;\n", "2: 'timeouts' must be a group ({ ... })");
    EXPECT(LISTEN "limits = { max_headers = \"100\"; };\n",
           "2: 'limits.max_headers' must be an integer");
    EXPECT(LISTEN "upstreams = { };\n", "2: 'upstreams' must be a list");
    EXPECT(LISTEN "timeouts = { send = true; };\n",
           "2: 'timeouts.send' must be a duration (\"10s\", \"500ms\", ...)");
    EXPECT(LISTEN "cache = { size = 1.5; };\n",
           "2: 'cache.size' must be a size (\"16k\", \"10M\", ...)");
    EXPECT(LISTEN "cache = { size = \"100k\"; };\n",
           "2: 'cache.size' must be 0 (no cache) or at least 256k");
    EXPECT(LISTEN "shm_size = \"16M\";\ncache = {\n size = \"13M\"; override = 1; };\n",
           "4: 'cache.override' must be true or false",
           "4: 'cache.size' must be at most 3/4 of shm_size (the cache lives in the shared "
           "segment): raise shm_size");
    EXPECT(LISTEN "cache = { size = \"1M\";\n max_object_size = 0; };\n",
           "3: 'cache.max_object_size' must be greater than 0");
    EXPECT(LISTEN "compression = { types = [1]; };\n",
           "2: 'compression.types.[0]' must be a string");
    EXPECT(LISTEN "rate_limits = ( { name = \"r\"; rate = \"fast\"; } );\n",
           "2: 'rate_limits.[0].rate' must be a number");
}
END_TEST

START_TEST(test_err_durations_sizes)
{
    EXPECT(LISTEN "shutdown_timeout = \"10x\";\n",
           "2: 'shutdown_timeout': invalid duration '10x'");
    EXPECT(LISTEN "timeouts = {\n send = \"-1s\";\n client_body = \"\";\n tunnel = \"1.5.2s\"; };\n",
           "3: 'timeouts.send': invalid duration '-1s'",
           "4: 'timeouts.client_body': invalid duration ''",
           "5: 'timeouts.tunnel': invalid duration '1.5.2s'");
    EXPECT(LISTEN "timeouts = { send = -1; };\n", "2: 'timeouts.send': invalid duration -1");
    EXPECT(LISTEN "timeouts = { send = 0; };\n", "2: 'timeouts.send' must be greater than 0");
    EXPECT(LISTEN "timeouts = { send = \"99999999999999999999999h\"; };\n",
           "2: 'timeouts.send': invalid duration '99999999999999999999999h'");
    EXPECT(LISTEN "limits = { max_body_size = \"10x\"; };\n",
           "2: 'limits.max_body_size': invalid size '10x'");
    EXPECT(LISTEN "limits = { max_body_size = -1; };\n",
           "2: 'limits.max_body_size': invalid size -1");
    EXPECT(LISTEN "limits = { max_header_size = \"0\"; };\n",
           "2: 'limits.max_header_size' must be greater than 0");
    EXPECT(LISTEN "cache = { size = \"99999999999999999999G\"; };\n",
           "2: 'cache.size': invalid size '99999999999999999999G'");
}
END_TEST

START_TEST(test_err_ranges)
{
    EXPECT("listen = ( { address = \"127.0.0.1:70000\"; } );\n",
           "1: 'listen.[0].address': bad port in '127.0.0.1:70000'");
    EXPECT(LISTEN "upstreams = ( { name = \"a\"; servers = (\n"
           "  { address = \"127.0.0.1:1\"; weight = 0; },\n"
           "  { address = \"127.0.0.1:2\"; weight = 1001; },\n"
           "  { address = \"127.0.0.1:0\"; } ); } );\n",
           "3: 'upstreams.[0].servers.[0].weight' must be between 1 and 1000",
           "4: 'upstreams.[0].servers.[1].weight' must be between 1 and 1000",
           "5: 'upstreams.[0].servers.[2].address': port 0 is not allowed for an upstream server");
    EXPECT(LISTEN "servers = ( { names = [\"a\"]; routes = (\n"
           "  { path = \"/a\"; return = { status = 99; }; },\n"
           "  { path = \"/b\"; return = { status = 600; }; },\n"
           "  { path = \"/c\"; return = { body = \"x\"; }; },\n"
           "  { path = \"/d\"; return = { status = 302; }; } ); } );\n",
           "3: 'servers.[0].routes.[0].return.status' must be between 100 and 599",
           "4: 'servers.[0].routes.[1].return.status' must be between 100 and 599",
           "5: 'servers.[0].routes.[2].return.status' is required",
           "6: 'servers.[0].routes.[3].return.location' is required with status 302");
    EXPECT(LISTEN "compression = { level = 0; };\n",
           "2: 'compression.level' must be between 1 and 9");
    EXPECT(LISTEN "compression = { level = 10; };\n",
           "2: 'compression.level' must be between 1 and 9");
    EXPECT(LISTEN "compression = { brotli_level = -1; };\n",
           "2: 'compression.brotli_level' must be between 0 and 11");
    EXPECT(LISTEN "compression = {\n  brotli_level = 12;\n  zstd_level = 0; };\n",
           "3: 'compression.brotli_level' must be between 0 and 11",
           "4: 'compression.zstd_level' must be between 1 and 19");
    EXPECT(LISTEN "compression = { zstd_level = 20; brotli = 1; };\n",
           "2: 'compression.brotli' must be true or false",
           "2: 'compression.zstd_level' must be between 1 and 19");
    EXPECT(LISTEN "limits = { max_conns_per_ip = -1; };\n",
           "2: 'limits.max_conns_per_ip' must be between 0 and 10000000");
    EXPECT(LISTEN "rate_limits = ( { name = \"r\"; rate = 0; burst = -1; } );\n",
           "2: 'rate_limits.[0].rate' must be between 0.001 and 1e+09",
           "2: 'rate_limits.[0].burst' must be between 0 and 1000000000");
}
END_TEST

START_TEST(test_err_duplicates)
{
    EXPECT(LISTEN "upstreams = (\n { name = \"a\"; servers = ( { address = \"127.0.0.1:1\"; } ); },\n"
           " { name = \"a\"; servers = ( { address = \"127.0.0.1:2\"; } ); } );\n",
           "4: duplicate upstream 'a' (first at line 3)");
    EXPECT(LISTEN "rate_limits = (\n { name = \"r\"; rate = 1; },\n { name = \"r\"; rate = 2; } );\n",
           "4: duplicate rate limit 'r' (first at line 3)");
    EXPECT(LISTEN "servers = (\n { names = [\"a.com\", \"default\"]; },\n"
           " { names = [\"b.com\", \"A.COM\"]; } );\n",
           "4: duplicate server name 'a.com' (first at line 3)");
    EXPECT(LISTEN "servers = ( { names = [\"a.com\", \"a.com\"]; } );\n",
           "2: duplicate server name 'a.com'");
    EXPECT(LISTEN "upstreams = ( { name = \"a\"; servers = (\n { address = \"127.0.0.1:1\"; },\n"
           " { address = \"127.0.0.1:1\"; } ); } );\n",
           "4: duplicate server '127.0.0.1:1' in upstream 'a' (first at line 3)");
    EXPECT("listen = (\n { address = \"127.0.0.1:80\"; },\n { address = \"127.0.0.1:80\"; } );\n",
           "3: duplicate listen address '127.0.0.1:80' (first at line 2)");
    EXPECT(LISTEN "servers = ( { names = [\"a\"]; routes = (\n"
           "  { path = \"/x\"; return = { status = 204; }; },\n"
           "  { path = \"/x\"; return = { status = 204; }; } ); } );\n",
           "4: duplicate route '/x' (first at line 3)");
}
END_TEST

START_TEST(test_err_references)
{
    EXPECT(LISTEN "rate_limits = ( { name = \"r\"; rate = 1; } );\n"
           "upstreams = ( { name = \"a\"; servers = ( { address = \"127.0.0.1:1\"; } ); } );\n"
           "servers = ( { names = [\"a\"]; routes = (\n"
           "  { path = \"/1\"; upstream = \"b\"; },\n"
           "  { path = \"/2\"; split = ( { upstream = \"a\"; }, { upstream = \"c\"; } ); },\n"
           "  { path = \"/3\"; upstream = \"a\"; rate_limit = \"q\"; } ); } );\n",
           "5: 'servers.[0].routes.[0].upstream': undefined upstream 'b'",
           "6: 'servers.[0].routes.[1].split.[1].upstream': undefined upstream 'c'",
           "7: 'servers.[0].routes.[2].rate_limit': undefined rate limit 'q'");
}
END_TEST

START_TEST(test_err_routes)
{
    EXPECT(LISTEN "servers = ( { names = [\"a\"]; routes = (\n"
           "  { path = \"api\"; return = { status = 204; }; },\n"
           "  { path = \"= api\"; return = { status = 204; }; },\n"
           "  { path = \"~ \"; return = { status = 204; }; },\n"
           "  { path = \"\"; return = { status = 204; }; },\n"
           "  { return = { status = 204; }; },\n"
           "  { path = \"/n\"; },\n"
           "  { path = \"/m\"; upstream = \"a\"; return = { status = 204; }; },\n"
           "  { path = \"~ x\"; strip_prefix = true; return = { status = 204; }; },\n"
           "  { path = \"/s\"; split_by = \"$cookie_x\"; return = { status = 204; }; }\n"
           "); } );\n",
           "3: 'servers.[0].routes.[0].path': invalid path 'api' (expected \"/x\", \"= /x\", "
           "\"^~ /x\", \"~ regex\" or \"~* regex\")",
           "4: 'servers.[0].routes.[1].path': invalid path '= api' (expected \"/x\", \"= /x\", "
           "\"^~ /x\", \"~ regex\" or \"~* regex\")",
           "5: 'servers.[0].routes.[2].path': invalid path '~ ' (expected \"/x\", \"= /x\", "
           "\"^~ /x\", \"~ regex\" or \"~* regex\")",
           "6: 'servers.[0].routes.[3].path': invalid path '' (expected \"/x\", \"= /x\", "
           "\"^~ /x\", \"~ regex\" or \"~* regex\")",
           "7: 'servers.[0].routes.[4].path' is required",
           "8: 'servers.[0].routes.[5]' needs exactly one of 'upstream', 'split' or 'return'",
           "9: 'servers.[0].routes.[6]' needs exactly one of 'upstream', 'split' or 'return'",
           "9: 'servers.[0].routes.[6].upstream': undefined upstream 'a'",
           "10: 'servers.[0].routes.[7].strip_prefix' needs a prefix path, not a regular expression",
           "11: 'servers.[0].routes.[8].split_by' needs 'split'");
}
END_TEST

START_TEST(test_err_split)
{
    EXPECT(LISTEN "upstreams = ( { name = \"a\"; servers = ( { address = \"127.0.0.1:1\"; } ); } );\n"
           "servers = ( { names = [\"a\"]; routes = (\n"
           "  { path = \"/\"; split = (\n { upstream = \"a\"; weight = 0; } ); },\n"
           "  { path = \"/b\"; split = ( { upstream = \"a\"; } ); split_by = \"$uri\"; },\n"
           "  { path = \"/c\"; split = ( { weight = 2; } ); } ); } );\n",
           "4: 'servers.[0].routes.[0].split' weights must add up to more than 0",
           "6: 'servers.[0].routes.[1].split_by': invalid key '$uri' (expected \"\", "
           "$cookie_NAME or $remote_addr)",
           "7: 'servers.[0].routes.[2].split.[0].upstream' is required");
}
END_TEST

START_TEST(test_err_listen)
{
    EXPECT("workers = 1;\n", "1: at least one 'listen' is required");
    EXPECT("listen = ();\n", "1: at least one 'listen' is required");
    EXPECT("listen = ( { address = \"localhost:80\"; },\n { address = \"0.0.0.0\"; },\n"
           " { tls = true; }, 5 );\n",
           "1: 'listen.[0].address': 'localhost' is not an IP address (host names are not allowed here)",
           "2: 'listen.[1].address': missing port in '0.0.0.0'",
           "3: 'listen.[2].address' is required",
           "3: 'listen.[3]' must be a group ({ address = ...; })");
    EXPECT("listen = ( { address = \"[::]:8443\";\n tls = true; } );\n",
           "2: listen '[::]:8443' has tls = true but 'tls.certificates' is empty");
}
END_TEST

START_TEST(test_err_enums)
{
    EXPECT(LISTEN "access_log = { format = \"common\"; };\n",
           "2: 'access_log.format': unknown value 'common' (expected combined | json | off | custom)");
    EXPECT(LISTEN "error_log = { level = \"alert\"; };\n",
           "2: 'error_log.level': unknown value 'alert' (expected debug | info | notice | warn | error)");
    EXPECT(LISTEN "access = { deny_action = \"drop\"; };\n",
           "2: 'access.deny_action': unknown value 'drop' (expected 403 | close)");
    EXPECT(LISTEN "tls = { protocols = [\"TLSv1.1\"]; };\n",
           "2: 'tls.protocols': unknown value 'TLSv1.1' (expected TLSv1.2 | TLSv1.3)");
    EXPECT(LISTEN "tls = { protocols = []; };\n", "2: 'tls.protocols' must not be empty");
    EXPECT(LISTEN "upstreams = ( { name = \"a\"; balance = \"fair\";\n"
           " hash_key = \"$foo\"; servers = ( { address = \"127.0.0.1:1\"; } );\n"
           " health = { expect = \"2xx\"; }; } );\n",
           "2: 'upstreams.[0].balance': unknown value 'fair' (expected round_robin | least_conn | "
           "ip_hash | hash | random2)",
           "3: 'upstreams.[0].hash_key': invalid key '$foo' (expected $remote_addr, $uri, $host, "
           "$cookie_NAME or $header_NAME)",
           "4: 'upstreams.[0].health.expect': invalid status range '2xx' (expected \"200\" or "
           "\"200-399\")");
    EXPECT(LISTEN "upstreams = ( { name = \"a\"; health = { expect = \"399-200\"; };\n"
           " servers = ( { address = \"127.0.0.1:1\"; } ); } );\n",
           "2: 'upstreams.[0].health.expect': invalid status range '399-200' (expected \"200\" or "
           "\"200-399\")");
    EXPECT(LISTEN "rate_limits = ( { name = \"r\"; rate = 1; key = \"$host\"; },\n"
           " { name = \"s\"; rate = 1; key = \"$cookie_\"; } );\n",
           "2: 'rate_limits.[0].key': invalid key '$host' (expected $remote_addr, $header_NAME or "
           "$cookie_NAME)",
           "3: 'rate_limits.[1].key': invalid key '$cookie_' (expected $remote_addr, $header_NAME or "
           "$cookie_NAME)");
}
END_TEST

START_TEST(test_good_keys)
{
    static const char *const keys[] = { "$remote_addr", "$uri", "$host", "$cookie_sid",
                                        "$header_X-User" };
    char text[1024];
    size_t i;

    for (i = 0; i < GH_ARRAY_LEN(keys); i++) {
        struct gh_conf *c;
        snprintf(text, sizeof(text), LISTEN "upstreams = ( { name = \"a\"; balance = \"hash\"; "
                 "hash_key = \"%s\"; servers = ( { address = \"127.0.0.1:1\"; } ); } );\n", keys[i]);
        c = load(text);
        ck_assert_msg(c != NULL, "%s: %s", keys[i], errbuf);
        ck_assert_int_eq(c->upstreams[0].balance, GH_BALANCE_HASH);
        gh_conf_free(c);
    }
}
END_TEST

START_TEST(test_err_cidrs)
{
    EXPECT(LISTEN "access = { deny = [\"10.0.0.1/8\",\n \"1.2.3.4/33\",\n \"::/0\", \"x\"]; };\n"
           "real_ip = { from = [\"2001:db8::1/32\"]; };\n",
           "2: 'access.deny.[0]': '10.0.0.1/8' has host bits set (did you mean '10.0.0.0/8'?)",
           "3: 'access.deny.[1]': invalid CIDR '1.2.3.4/33'",
           "4: 'access.deny.[3]': invalid CIDR 'x'",
           "5: 'real_ip.from.[0]': '2001:db8::1/32' has host bits set (did you mean "
           "'2001:db8::/32'?)");
}
END_TEST

START_TEST(test_err_addresses)
{
    EXPECT(LISTEN "upstreams = ( { name = \"a\"; servers = (\n"
           " { address = \"no-such-host.invalid:80\"; },\n"
           " { address = \"unix:relative.sock\"; },\n"
           " { address = \"[::1:80\"; },\n"
           " { weight = 2; } ); },\n"
           " { name = \"b\"; servers = (); },\n"
           " { name = \"bad name\"; servers = ( { address = \"127.0.0.1:1\"; } ); } );\n"
           "admin = { address = \"localhost:9901\"; };\n",
           "3: 'upstreams.[0].servers.[0].address': cannot resolve 'no-such-host.invalid': "
           "Name or service not known",
           "4: 'upstreams.[0].servers.[1].address': unix socket path must be absolute",
           "5: 'upstreams.[0].servers.[2].address': missing ']' in '[::1:80'",
           "6: 'upstreams.[0].servers.[3].address' is required",
           "7: 'upstreams.[1].servers' needs at least one server",
           "8: 'upstreams.[2].name': invalid name 'bad name' (use letters, digits, '_', '.', '-')",
           "9: 'admin.address': 'localhost' is not an IP address (host names are not allowed here)");
}
END_TEST

START_TEST(test_err_many)
{
    /* every error of the file, in line order, and nothing loaded */
    EXPECT("workers = 0;\n"
           "bogus = 1;\n"
           "shm_size = \"10x\";\n"
           "listen = ( { address = \"1.2.3.4\"; } );\n"
           "upstreams = ( { name = \"a\"; servers = ( { address = \"127.0.0.1:1\"; weight = 0; } ); } );\n"
           "servers = ( { names = [\"x\"]; routes = ( { path = \"/\"; upstream = \"nope\"; } ); } );\n"
           "compression = { level = 11; };\n",
           "1: 'workers' must be between 1 and 64",
           "2: unknown setting 'bogus'",
           "3: 'shm_size': invalid size '10x'",
           "4: 'listen.[0].address': missing port in '1.2.3.4'",
           "5: 'upstreams.[0].servers.[0].weight' must be between 1 and 1000",
           "6: 'servers.[0].routes.[0].upstream': undefined upstream 'nope'",
           "7: 'compression.level' must be between 1 and 9");
}
END_TEST

START_TEST(test_err_include)
{
    char want[2 * PATH_MAX + 256];
    struct gh_conf *c;

    write_file("inc.conf", "\nrate_limits = ( { name = \"r\"; rate = -1; } );\n");
    c = load(LISTEN "@include \"inc.conf\"\nworkers = 0;\n");
    ck_assert_ptr_null(c);
    /* the main file's errors first, then the included file's */
    snprintf(want, sizeof(want), "%s/t.conf:3: 'workers' must be between 1 and 64\n"
             "%s/inc.conf:2: 'rate_limits.[0].rate' must be between 0.001 and 1e+09\n",
             tmpdir, tmpdir);
    ck_assert_str_eq(errbuf, want);
}
END_TEST

static Suite *conf_errors_suite(void)
{
    Suite *s = suite_create("conf_errors");
    TCase *tc = tcase_create("load");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_err_syntax);
    tcase_add_test(tc, test_err_missing_file);
    tcase_add_test(tc, test_err_unknown);
    tcase_add_test(tc, test_err_types);
    tcase_add_test(tc, test_err_durations_sizes);
    tcase_add_test(tc, test_err_ranges);
    tcase_add_test(tc, test_err_duplicates);
    tcase_add_test(tc, test_err_references);
    tcase_add_test(tc, test_err_routes);
    tcase_add_test(tc, test_err_split);
    tcase_add_test(tc, test_err_listen);
    tcase_add_test(tc, test_err_enums);
    tcase_add_test(tc, test_good_keys);
    tcase_add_test(tc, test_err_cidrs);
    tcase_add_test(tc, test_err_addresses);
    tcase_add_test(tc, test_err_many);
    tcase_add_test(tc, test_err_include);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(conf_errors_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
