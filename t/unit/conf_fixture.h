/*
 * conf_fixture.h - shared by the configuration tests: a temporary directory
 * per test (created and removed by a checked fixture), and helpers that
 * load a configuration from text and compare its exact error output.
 */
#ifndef GH_T_CONF_FIXTURE_H
#define GH_T_CONF_FIXTURE_H

#include <check.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/log.h"

static char tmpdir[PATH_MAX];
static char path[PATH_MAX + 32];
static char *errbuf;

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "%s/gh-conf-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    errbuf = NULL;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static void teardown(void)
{
    ck_assert_int_eq(nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    free(errbuf);
}

static const char *write_file(const char *name, const char *text)
{
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

/* Load text (written to t.conf in tmpdir); errbuf gets the error output. */
static struct gh_conf *load(const char *text)
{
    size_t len;
    FILE *errs;
    struct gh_conf *c;

    free(errbuf);
    errbuf = NULL;
    errs = open_memstream(&errbuf, &len);
    ck_assert_ptr_nonnull(errs);
    c = gh_conf_load(write_file("t.conf", text), tmpdir, errs);
    ck_assert_int_eq(fclose(errs), 0);
    return c;
}

#define LISTEN "listen = ( { address = \"127.0.0.1:0\"; } );\n"

/* The configuration must fail, and errbuf be exactly the given lines,
 * each "LINE: message" here and "DIR/t.conf:LINE: message" in the output. */
static void expect_errors(const char *text, const char *const *want)
{
    struct gh_conf *c = load(text);
    char exp[8192] = "";
    size_t i;

    for (i = 0; want[i] != NULL; i++)
        snprintf(exp + strlen(exp), sizeof(exp) - strlen(exp), "%s/t.conf:%s\n",
                 tmpdir, want[i]);
    ck_assert_msg(c == NULL, "loaded:\n%s", text);
    ck_assert_str_eq(errbuf, exp);
}

#define EXPECT(text, ...) expect_errors(text, (const char *const[]){ __VA_ARGS__, NULL })

#endif
