/*
 * test_balance_admin.c - the pieces of the helper that need no process:
 * health-check status lines (modules/health.c) and admin API routing,
 * token checks and drain/enable on a shared region (server/admin.c).
 */
#include <check.h>
#include <string.h>

#include "common/log.h"
#include "common/shm.h"
#include "modules/health.h"
#include "server/admin.h"
#include "balance_fixture.h"

START_TEST(health_status_line)
{
    ck_assert_int_eq(gh_health_status("HTTP/1.1 200 OK\r\n", 17), 200);
    ck_assert_int_eq(gh_health_status("HTTP/1.0 503\r\n", 14), 503);
    ck_assert_int_eq(gh_health_status("HTTP/1.1 204", 12), 204);
    ck_assert_int_eq(gh_health_status("HTTP/2 200 OK\r\n", 15), -1);
    ck_assert_int_eq(gh_health_status("HTTP/1.1 2000 OK\r\n", 18), -1);
    ck_assert_int_eq(gh_health_status("HTTP/1.1 20x OK\r\n", 17), -1);
    ck_assert_int_eq(gh_health_status("garbage", 7), -1);
}
END_TEST

static struct gh_shm shm;
static struct fx_up up;
static struct gh_conf conf;

static int call(const char *method, const char *target, const char *auth, char **out)
{
    size_t len = 0;
    struct gh_str a = auth ? gh_str_make(auth, strlen(auth)) : gh_str_make("", 0);
    char *resp = gh_admin_handle(&conf, gh_us_region(), gh_str_make(method, strlen(method)),
                                 gh_str_make(target, strlen(target)), auth ? &a : NULL, &len);
    ck_assert_ptr_nonnull(resp);
    int status = 0;
    ck_assert_int_eq(sscanf(resp, "HTTP/1.1 %d", &status), 1);
    if (out != NULL)
        *out = resp;
    else
        free(resp);
    return status;
}

START_TEST(admin_routes)
{
    gh_log_set_level(GH_LOG_ERROR);
    ck_assert_int_eq(gh_shm_create(&shm, 8u << 20), 0);
    fx_up_init(&up, "app", 0, 1, 2);
    up.srv[1].addr.text = (char *)"unix:/run/app.sock";
    memset(&conf, 0, sizeof(conf));
    conf.upstreams = &up.c;
    conf.nupstreams = 1;
    conf.admin.token = (char *)"";
    ck_assert_int_eq(gh_us_reserve(&shm, &conf, 1), 0);
    struct gh_us_slot *s0 = gh_us_slot(gh_us_region(), gh_us_find(gh_us_region(), "app", "10.0.0.1:80"));
    struct gh_us_slot *s1 = gh_us_slot(gh_us_region(), gh_us_find(gh_us_region(), "app", "unix:/run/app.sock"));

    ck_assert_int_eq(call("POST", "/upstreams/app/servers/10.0.0.1:80/drain", NULL, NULL), 200);
    ck_assert_int_eq(atomic_load(&s0->drained), 1);
    ck_assert_int_eq(call("POST", "/upstreams/app/servers/10.0.0.1%3a80/enable", NULL, NULL), 200);
    ck_assert_int_eq(atomic_load(&s0->drained), 0);
    /* A unix address: raw slashes, or %2F. */
    ck_assert_int_eq(call("POST", "/upstreams/app/servers/unix:/run/app.sock/drain", NULL, NULL), 200);
    ck_assert_int_eq(atomic_load(&s1->drained), 1);
    ck_assert_int_eq(call("POST", "/upstreams/app/servers/unix%3A%2Frun%2Fapp.sock/enable", NULL, NULL), 200);
    ck_assert_int_eq(atomic_load(&s1->drained), 0);
    ck_assert_int_eq(call("POST", "/upstreams/app/servers/10.0.0.9:80/drain", NULL, NULL), 404);
    ck_assert_int_eq(call("POST", "/upstreams/app/servers/10.0.0.1:80%/drain", NULL, NULL), 400);
    ck_assert_int_eq(call("POST", "/upstreams/app/servers/10.0.0.1:80%00/drain", NULL, NULL), 400);
    ck_assert_int_eq(call("GET", "/upstreams/app/servers/10.0.0.1:80/drain", NULL, NULL), 405);
    ck_assert_int_eq(call("POST", "/upstreams/app", NULL, NULL), 404);
    ck_assert_int_eq(call("DELETE", "/status", NULL, NULL), 405);
    ck_assert_int_eq(call("GET", "/", NULL, NULL), 404);

    char *resp;
    atomic_store(&s0->down, 1);
    ck_assert_int_eq(call("GET", "/status.json", NULL, &resp), 200);
    ck_assert_ptr_nonnull(strstr(resp, "\"address\":\"10.0.0.1:80\",\"state\":\"down\""));
    ck_assert_ptr_nonnull(strstr(resp, "\"address\":\"unix:/run/app.sock\",\"state\":\"up\""));
    free(resp);
    ck_assert_int_eq(call("GET", "/metrics", NULL, &resp), 200);
    ck_assert_ptr_nonnull(strstr(resp, "gatehouse_upstream_up{upstream=\"app\",server=\"10.0.0.1:80\"} 0\n"));
    free(resp);
    ck_assert_int_eq(call("HEAD", "/status", NULL, &resp), 200);
    ck_assert_ptr_null(strstr(resp, "<html"));
    free(resp);
    ck_assert_int_eq(call("GET", "/status", NULL, &resp), 200);
    ck_assert_ptr_nonnull(strstr(resp, "Content-Type: text/html; charset=utf-8\r\n"));
    ck_assert_ptr_nonnull(strstr(resp, "data-server=\"10.0.0.1:80\" data-state=\"down\""));
    ck_assert_ptr_nonnull(strstr(resp, "data-server=\"unix:/run/app.sock\" data-state=\"up\""));
    free(resp);

    conf.admin.token = (char *)"t0k";
    ck_assert_int_eq(call("GET", "/status.json", NULL, NULL), 401);
    ck_assert_int_eq(call("GET", "/status.json", "Bearer t0", NULL), 401);
    ck_assert_int_eq(call("GET", "/status.json", "Bearer t0kk", NULL), 401);
    ck_assert_int_eq(call("GET", "/status.json", "Basic t0k", NULL), 401);
    ck_assert_int_eq(call("GET", "/status.json", " bearer t0k ", NULL), 200);
    /* The dashboard's 401 is its page without data, whose form takes the
     * token; with the token, the page. */
    ck_assert_int_eq(call("GET", "/status", NULL, &resp), 401);
    ck_assert_ptr_nonnull(strstr(resp, "WWW-Authenticate: Bearer\r\n"));
    ck_assert_ptr_nonnull(strstr(resp, "Content-Type: text/html; charset=utf-8\r\n"));
    ck_assert_ptr_nonnull(strstr(resp, "id=\"token\""));
    ck_assert_ptr_null(strstr(resp, "10.0.0.1"));
    ck_assert_ptr_null(strstr(resp, "data-upstream="));
    free(resp);
    ck_assert_int_eq(call("HEAD", "/status", "Bearer nope", &resp), 401);
    ck_assert_ptr_null(strstr(resp, "<html"));
    free(resp);
    ck_assert_int_eq(call("GET", "/status.json", NULL, &resp), 401);
    ck_assert_ptr_nonnull(strstr(resp, "Content-Type: application/json\r\n"));
    free(resp);
    ck_assert_int_eq(call("GET", "/status", "Bearer t0k", &resp), 200);
    ck_assert_ptr_nonnull(strstr(resp, "data-server=\"10.0.0.1:80\""));
    free(resp);
    gh_shm_detach(&shm);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("balance_admin");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, health_status_line);
    tcase_add_test(tc, admin_routes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
