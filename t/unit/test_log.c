/*
 * test_log.c - the error log (common/log.c) and the access-log writer
 * (common/alog.c): line format, levels, truncation, reopen after rotation,
 * buffering and flushing, and several processes sharing one access log.
 */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/alog.h"
#include "common/log.h"
#include "common/str.h"

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/gh-test-log-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    GH_UNUSED(st);
    GH_UNUSED(flag);
    GH_UNUSED(ftw);
    return remove(path);
}

static void teardown(void)
{
    gh_log_open("stderr", GH_LOG_INFO); /* closes the file, frees the path */
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *path_in(const char *name)
{
    static char paths[4][128];
    static int next;
    char *p = paths[next++ % 4];
    gh_snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
    return p;
}

/* The whole file, NUL-terminated (caller frees); "" when missing. */
static char *slurp(const char *path, size_t *lenp)
{
    FILE *f = fopen(path, "r");
    char *s;
    size_t len = 0;

    if (f == NULL) {
        s = calloc(1, 1);
        ck_assert_ptr_nonnull(s);
        if (lenp != NULL)
            *lenp = 0;
        return s;
    }
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    ck_assert_int_ge(size, 0);
    rewind(f);
    s = malloc((size_t)size + 1);
    ck_assert_ptr_nonnull(s);
    len = fread(s, 1, (size_t)size, f);
    ck_assert_uint_eq(len, (size_t)size);
    s[len] = '\0';
    fclose(f);
    if (lenp != NULL)
        *lenp = len;
    return s;
}

static bool matches(const char *s, const char *re)
{
    regex_t r;
    ck_assert_int_eq(regcomp(&r, re, REG_EXTENDED | REG_NEWLINE | REG_NOSUB), 0);
    int rc = regexec(&r, s, 0, NULL, 0);
    regfree(&r);
    return rc == 0;
}

START_TEST(test_levels)
{
    ck_assert_int_eq(gh_log_level_parse("alert"), GH_LOG_ALERT);
    ck_assert_int_eq(gh_log_level_parse("error"), GH_LOG_ERROR);
    ck_assert_int_eq(gh_log_level_parse("warn"), GH_LOG_WARN);
    ck_assert_int_eq(gh_log_level_parse("notice"), GH_LOG_NOTICE);
    ck_assert_int_eq(gh_log_level_parse("info"), GH_LOG_INFO);
    ck_assert_int_eq(gh_log_level_parse("debug"), GH_LOG_DEBUG);
    ck_assert_int_eq(gh_log_level_parse("verbose"), -1);
    ck_assert_int_eq(gh_log_level_parse(NULL), -1);
    ck_assert_str_eq(gh_log_level_name(GH_LOG_WARN), "warn");
    ck_assert_str_eq(gh_log_level_name(42), "unknown");
    ck_assert_int_eq(gh_log_open("stderr", GH_LOG_WARN), 0);
    ck_assert_int_eq(gh_log_fd(), 2);
    ck_assert_int_eq(gh_log_level, GH_LOG_WARN);
    ck_assert_int_eq(gh_log_reopen(), 0);
}
END_TEST

START_TEST(test_line_format)
{
    char *path = path_in("error.log");
    char re[256];

    ck_assert_int_eq(gh_log_open(path, GH_LOG_INFO), 0);
    ck_assert_int_ne(gh_log_fd(), 2);
    errno = 77;
    gh_log_error("hello %d", 42);
    ck_assert_int_eq(errno, 77);        /* preserved */
    gh_log(GH_LOG_ERROR, EACCES, "open() \"%s\" failed", "/x");
    gh_log_debug("not at info level");
    gh_log_alert("last");

    char *s = slurp(path, NULL);
    gh_snprintf(re, sizeof(re),
                "^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} \\[error\\] %d: hello 42\n"
                "[0-9/]{10} [0-9:]{8} \\[error\\] %d: open\\(\\) \"/x\" failed "
                "\\(13: Permission denied\\)\n"
                "[0-9/]{10} [0-9:]{8} \\[alert\\] %d: last\n$",
                (int)getpid(), (int)getpid(), (int)getpid());
    ck_assert_msg(matches(s, re), "got: %s", s);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0644 & ~(unsigned)umask(022));
    free(s);
}
END_TEST

START_TEST(test_truncation)
{
    char *path = path_in("error.log");
    char *big = malloc(10000);
    size_t len;

    ck_assert_ptr_nonnull(big);
    memset(big, 'a', 9999);
    big[9999] = '\0';
    ck_assert_int_eq(gh_log_open(path, GH_LOG_INFO), 0);
    gh_log_error("%s", big);
    gh_log(GH_LOG_ERROR, ENOENT, "%s", big);
    gh_log_error("short");

    char *s = slurp(path, &len);
    char *l1 = s, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    ck_assert_uint_eq((size_t)(l2 - l1), 2047);
    ck_assert_int_eq(strncmp(l2 - 6, "aa...\n", 6), 0);
    ck_assert_uint_eq((size_t)(l3 - l2), 2047);
    const char *suffix = "a... (2: No such file or directory)\n";
    ck_assert_int_eq(strncmp(l3 - strlen(suffix), suffix, strlen(suffix)), 0);
    ck_assert(matches(l3, "\\[error\\] [0-9]+: short\n$"));
    free(s);
    free(big);
}
END_TEST

START_TEST(test_reopen_after_rename)
{
    char *path = path_in("error.log"), *rotated = path_in("error.log.1");

    ck_assert_int_eq(gh_log_open(path, GH_LOG_INFO), 0);
    gh_log_notice("before");
    ck_assert_int_eq(rename(path, rotated), 0);
    gh_log_notice("between");           /* still the old file */
    ck_assert_int_eq(gh_log_reopen(), 0);
    gh_log_notice("after");

    char *old = slurp(rotated, NULL), *cur = slurp(path, NULL);
    ck_assert_ptr_nonnull(strstr(old, "before"));
    ck_assert_ptr_nonnull(strstr(old, "between"));
    ck_assert_ptr_null(strstr(old, "after"));
    ck_assert(matches(cur, "^[0-9/]{10} [0-9:]{8} \\[notice\\] [0-9]+: after\n$"));
    free(old);
    free(cur);
}
END_TEST

START_TEST(test_reopen_failure_keeps_old)
{
    char *sub = path_in("sub"), *moved = path_in("moved");
    char path[160], moved_log[160];

    ck_assert_int_eq(mkdir(sub, 0755), 0);
    gh_snprintf(path, sizeof(path), "%s/error.log", sub);
    gh_snprintf(moved_log, sizeof(moved_log), "%s/error.log", moved);
    ck_assert_int_eq(gh_log_open(path, GH_LOG_INFO), 0);
    ck_assert_int_eq(rename(sub, moved), 0);
    ck_assert_int_eq(gh_log_reopen(), -1);      /* the directory is gone */
    gh_log_error("still logging");
    ck_assert_int_eq(gh_log_open(path, GH_LOG_INFO), -1);  /* open failure, too */
    gh_log_error("and still");

    char *s = slurp(moved_log, NULL);
    ck_assert_ptr_nonnull(strstr(s, "[alert]"));
    ck_assert_ptr_nonnull(strstr(s, "(2: No such file or directory)"));
    ck_assert_ptr_nonnull(strstr(s, "still logging"));
    ck_assert_ptr_nonnull(strstr(s, "and still"));
    free(s);
}
END_TEST

START_TEST(test_alog_disabled)
{
    struct gh_alog a;

    memset(&a, 0, sizeof(a));           /* zeroed = closed */
    ck_assert_int_eq(gh_log_open(path_in("error.log"), GH_LOG_INFO), 0);
    ck_assert(!gh_alog_enabled(&a));
    ck_assert_int_eq(gh_alog_flush(&a), 0);
    gh_alog_append(&a, "x\n", 2);
    ck_assert_int_eq(gh_alog_reopen(&a), 0);
    ck_assert_int_eq(gh_alog_open(&a, "off"), 0);
    ck_assert(!gh_alog_enabled(&a));
    ck_assert_int_eq(gh_alog_open(&a, NULL), 0);
    ck_assert(!gh_alog_enabled(&a));
    ck_assert_int_eq(gh_alog_open(&a, "/nonexistent/dir/access.log"), -1);
    ck_assert(!gh_alog_enabled(&a));
    char *s = slurp(path_in("error.log"), NULL);
    ck_assert_ptr_nonnull(strstr(s, "[error]"));
    ck_assert_ptr_nonnull(strstr(s, "/nonexistent/dir/access.log\" failed (2: "));
    free(s);
    gh_alog_close(&a);
    gh_alog_close(&a);
}
END_TEST

START_TEST(test_alog_buffering)
{
    struct gh_alog a = { .fd = -1 };
    char *path = path_in("access.log");
    char line[1000];
    size_t len;

    memset(line, 'x', sizeof(line));
    line[sizeof(line) - 1] = '\n';
    ck_assert_int_eq(gh_alog_open(&a, path), 0);
    ck_assert(gh_alog_enabled(&a));
    gh_alog_append(&a, "first\n", 6);
    gh_alog_append(&a, "no newline", 10);
    char *s = slurp(path, &len);
    ck_assert_uint_eq(len, 0);          /* buffered */
    free(s);
    ck_assert_int_eq(gh_alog_flush(&a), 0);
    s = slurp(path, NULL);
    ck_assert_str_eq(s, "first\nno newline\n");
    free(s);

    /* 65 lines of 1000 bytes fit in 64 KiB; the 66th flushes them first. */
    for (int i = 0; i < 65; i++)
        gh_alog_append(&a, line, sizeof(line));
    s = slurp(path, &len);
    ck_assert_uint_eq(len, 17);
    free(s);
    gh_alog_append(&a, line, sizeof(line));
    s = slurp(path, &len);
    ck_assert_uint_eq(len, 17 + 65 * 1000);
    free(s);

    /* A line larger than the buffer is written at once, after the rest. */
    size_t hlen = GH_ALOG_BUF_SIZE + 100;
    char *huge = malloc(hlen);
    ck_assert_ptr_nonnull(huge);
    memset(huge, 'h', hlen);
    gh_alog_append(&a, huge, hlen);
    s = slurp(path, &len);
    ck_assert_uint_eq(len, 17 + 66 * 1000 + hlen + 1);
    ck_assert_int_eq(s[len - 1], '\n');
    ck_assert_int_eq(s[17 + 66 * 1000], 'h');
    free(s);
    free(huge);

    /* Rotation: reopen flushes to the old file, then writes the new one. */
    gh_alog_append(&a, "old\n", 4);
    ck_assert_int_eq(rename(path, path_in("access.log.1")), 0);
    ck_assert_int_eq(gh_alog_reopen(&a), 0);
    gh_alog_append(&a, "new\n", 4);
    gh_alog_close(&a);                  /* flushes */
    ck_assert(!gh_alog_enabled(&a));
    s = slurp(path, NULL);
    ck_assert_str_eq(s, "new\n");
    free(s);
    s = slurp(path_in("access.log.1"), &len);
    ck_assert_int_eq(strcmp(s + len - 4, "old\n"), 0);
    free(s);
}
END_TEST

START_TEST(test_alog_open_switches_files)
{
    struct gh_alog a = { .fd = -1 };
    char *p1 = path_in("a1.log"), *p2 = path_in("a2.log");

    ck_assert_int_eq(gh_log_open(path_in("error.log"), GH_LOG_INFO), 0);
    ck_assert_int_eq(gh_alog_open(&a, p1), 0);
    gh_alog_append(&a, "one\n", 4);
    ck_assert_int_eq(gh_alog_open(&a, "/nonexistent/x.log"), -1);
    ck_assert(gh_alog_enabled(&a));     /* kept */
    gh_alog_append(&a, "two\n", 4);
    ck_assert_int_eq(gh_alog_open(&a, p2), 0);
    gh_alog_append(&a, "three\n", 6);
    ck_assert_int_eq(gh_alog_open(&a, "off"), 0);   /* flushes and closes */
    char *s1 = slurp(p1, NULL), *s2 = slurp(p2, NULL);
    ck_assert_str_eq(s1, "one\ntwo\n");
    ck_assert_str_eq(s2, "three\n");
    free(s1);
    free(s2);
}
END_TEST

#define NCHILD 4
#define NLINES 3000

START_TEST(test_alog_shared_by_processes)
{
    char *path = path_in("shared.log");
    pid_t pids[NCHILD];

    for (int c = 0; c < NCHILD; c++) {
        pids[c] = fork();
        ck_assert_int_ne(pids[c], -1);
        if (pids[c] == 0) {
            struct gh_alog a = { .fd = -1 };
            char line[600];
            if (gh_alog_open(&a, path) == -1)
                _exit(1);
            for (int i = 0; i < NLINES; i++) {
                int pad = (i * 37 + c * 11) % 500;
                size_t n = gh_snprintf(line, sizeof(line), "child=%d line=%d pad=%d ", c, i, pad);
                memset(line + n, 'a' + c, (size_t)pad);
                line[n + (size_t)pad] = '\n';
                gh_alog_append(&a, line, n + (size_t)pad + 1);
            }
            gh_alog_close(&a);
            _exit(0);
        }
    }
    for (int c = 0; c < NCHILD; c++) {
        int st;
        ck_assert_int_eq(waitpid(pids[c], &st, 0), pids[c]);
        ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    char *s = slurp(path, NULL);
    int seen[NCHILD] = { 0 };
    for (char *l = s, *nl; *l != '\0'; l = nl + 1) {
        nl = strchr(l, '\n');
        ck_assert_ptr_nonnull(nl);
        int c, i, pad, off = 0;
        ck_assert_int_eq(sscanf(l, "child=%d line=%d pad=%d%n", &c, &i, &pad, &off), 3);
        ck_assert_int_eq(l[off++], ' ');
        ck_assert(c >= 0 && c < NCHILD);
        ck_assert_int_eq(i, seen[c]);   /* in order, none lost */
        seen[c]++;
        ck_assert_int_eq(nl - (l + off), pad);
        bool intact = true;
        for (int k = 0; k < pad; k++)
            intact = intact && l[off + k] == 'a' + c;
        ck_assert(intact);
    }
    for (int c = 0; c < NCHILD; c++)
        ck_assert_int_eq(seen[c], NLINES);
    free(s);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    /* The shared-log test forks writers of a fixed count of lines; under
     * ASan on a loaded 2-core machine they need more than Check's 4 s. */
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_levels);
    tcase_add_test(tc, test_line_format);
    tcase_add_test(tc, test_truncation);
    tcase_add_test(tc, test_reopen_after_rename);
    tcase_add_test(tc, test_reopen_failure_keeps_old);
    tcase_add_test(tc, test_alog_disabled);
    tcase_add_test(tc, test_alog_buffering);
    tcase_add_test(tc, test_alog_open_switches_files);
    tcase_add_test(tc, test_alog_shared_by_processes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(log_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
