/*
 * test_admin_html.c - server/admin_html.c: the dashboard page rendered from
 * a status document lists every upstream and server, escapes every name
 * from the configuration (text, attributes, the buttons' URLs), shows a
 * drained server as draining with an enable button, dashes unknown
 * figures; the page for a 401 holds no data; nothing is loaded from
 * elsewhere. (GET /status through the handler: test_balance_admin.c.)
 */
#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "server/admin_html.h"

static const char doc_text[] =
    "{\"upstreams\": ["
    " {\"name\": \"a<b>&\\\"c'\", \"balance\": \"least_conn\", \"health_checks\": true,"
    "  \"servers\": ["
    "   {\"address\": \"unix:/tmp/<x>&\\\"'.sock\", \"state\": \"up\", \"drained\": false,"
    "    \"backup\": true, \"active\": 2, \"requests\": 1234, \"errors\": 5,"
    "    \"requests_per_s\": 12.25, \"errors_per_s\": 0.5, \"error_rate\": 0.0408,"
    "    \"p50_ms\": 0.5, \"p99_ms\": 9.75},"
    "   {\"address\": \"10.0.0.2:80\", \"state\": \"drained\", \"drained\": true,"
    "    \"backup\": false, \"active\": 0, \"requests\": 0, \"errors\": 0,"
    "    \"requests_per_s\": null, \"errors_per_s\": null, \"error_rate\": null,"
    "    \"p50_ms\": null, \"p99_ms\": null}]},"
    " {\"name\": \"api\", \"balance\": \"round_robin\", \"health_checks\": false,"
    "  \"servers\": [{\"address\": \"10.0.0.3:80\", \"state\": \"down\", \"drained\": false,"
    "   \"active\": 0, \"requests\": 7, \"errors\": 7, \"requests_per_s\": 0,"
    "   \"errors_per_s\": 1, \"error_rate\": 1, \"p50_ms\": 1, \"p99_ms\": 2}]}]}";

static char *page(const char *text, size_t *len)
{
    json_error_t err;
    json_t *doc = text ? json_loads(text, 0, &err) : NULL;
    ck_assert(text == NULL || doc != NULL);
    char *html = gh_admin_html(doc, len);
    json_decref(doc);
    ck_assert_ptr_nonnull(html);
    ck_assert_uint_eq(strlen(html), *len);
    return html;
}

static bool has(const char *html, const char *s)
{
    return strstr(html, s) != NULL;
}

/* Nothing comes from elsewhere: no src/href attributes, no url(), no
 * @import, no link element. */
static void self_contained(const char *html)
{
    ck_assert(!has(html, " src="));
    ck_assert(!has(html, "href="));
    ck_assert(!has(html, "url("));
    ck_assert(!has(html, "@import"));
    ck_assert(!has(html, "<link"));
}

START_TEST(page_lists_and_escapes)
{
    size_t len;
    char *html = page(doc_text, &len);
    self_contained(html);
    ck_assert(has(html, "<section data-upstream=\"a&lt;b&gt;&amp;&quot;c&#39;\">"));
    ck_assert(has(html, "<h2>a&lt;b&gt;&amp;&quot;c&#39; <small>least_conn, health checks"));
    ck_assert(has(html, "data-server=\"unix:/tmp/&lt;x&gt;&amp;&quot;&#39;.sock\" data-state=\"up\""));
    ck_assert(!has(html, "<x>"));
    ck_assert(!has(html, "<b>"));
    /* The buttons' paths: every byte but the unreserved ones %-encoded. */
    ck_assert(has(html, "action=\"upstreams/a%3Cb%3E%26%22c%27/servers/"
                        "unix%3A%2Ftmp%2F%3Cx%3E%26%22%27.sock/drain\""));
    ck_assert(has(html, "<td data-k=\"requests\">1234</td><td data-k=\"requests_per_s\">12.2"));
    ck_assert(has(html, "<td data-k=\"error_rate\">4.1 %</td>"));
    ck_assert(has(html, "<td data-k=\"p99_ms\">9.8</td>"));       /* 9.75 rounded */
    ck_assert(has(html, "<span class=\"tag\"> backup</span>"));
    /* Drained: shown as draining, with an enable button; unknowns dashed. */
    ck_assert(has(html, "data-server=\"10.0.0.2:80\" data-state=\"draining\""));
    ck_assert(has(html, "class=\"st st-draining\">draining</td>"));
    ck_assert(has(html, "action=\"upstreams/a%3Cb%3E%26%22c%27/servers/10.0.0.2%3A80/enable\">"
                        "<button type=\"submit\" data-act=\"enable\">enable</button>"));
    ck_assert(has(html, "<td data-k=\"p50_ms\">\xe2\x80\x93</td>"));
    ck_assert(has(html, "data-server=\"10.0.0.3:80\" data-state=\"down\""));
    ck_assert(has(html, "<td data-k=\"error_rate\">100.0 %</td>"));
    ck_assert(has(html, "<form id=\"auth\" hidden>"));
    ck_assert(has(html, "<main id=\"ups\" data-rendered=\"server\">"));
    ck_assert(has(html, "<script>\n'use strict';"));
    ck_assert(has(html, "</script>\n</body></html>\n"));
    free(html);
}
END_TEST

START_TEST(locked_page_has_no_data)
{
    size_t len;
    char *html = page(NULL, &len);
    self_contained(html);
    ck_assert(has(html, "<form id=\"auth\">"));
    ck_assert(has(html, "type=\"password\" id=\"token\""));
    ck_assert(!has(html, "data-server="));
    ck_assert(!has(html, "<section"));
    ck_assert(has(html, "data-rendered=\"none\""));
    free(html);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("admin_html");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, page_lists_and_escapes);
    tcase_add_test(tc, locked_page_has_no_data);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
