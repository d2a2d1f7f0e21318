/*
 * main.c - the command line (SPEC section 2).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <libconfig.h>
#include <nghttp2/nghttp2.h>
#include <limits.h>
#include <openssl/opensslv.h>
#include <openssl/crypto.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "common/conf.h"
#include "modules/route.h"
#include "server/master.h"
#include "server/tls.h"
#include "server/process.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gatehouse [-c FILE] [-p PREFIX] [-t | -T] [-s reload|reopen|quit|stop] [-d]"
            " [-v | -V] [-h]\n"
            "  -c FILE    configuration file (default: PREFIX/etc/gatehouse.conf)\n"
            "  -p PREFIX  prefix for relative paths (default: the current directory)\n"
            "  -t         test the configuration and exit\n"
            "  -T         test the configuration, print it with defaults filled in, and exit\n"
            "  -s SIGNAL  send reload, reopen, quit or stop to the running master\n"
            "  -d         daemonize\n"
            "  -v, -V     version; version and build details\n"
            "  -h         this help\n");
}

static void version(bool details)
{
    printf("gatehouse version %s\n", GH_VERSION);
    if (!details)
        return;
    char pcre[64] = "";
    pcre2_config(PCRE2_CONFIG_VERSION, pcre);
    printf("built with %s (running with %s)\n", OPENSSL_VERSION_TEXT,
           OpenSSL_version(OPENSSL_VERSION));
    printf("zlib %s, libconfig %d.%d.%d, PCRE2 %s, jansson %s, nghttp2 %s\n", zlibVersion(),
           LIBCONFIG_VER_MAJOR, LIBCONFIG_VER_MINOR, LIBCONFIG_VER_REVISION, pcre,
           jansson_version_str(), nghttp2_version(0)->version_str);
#ifdef GH_DEBUG
    printf("build options: debug, AddressSanitizer, UndefinedBehaviorSanitizer\n");
#else
    printf("build options: release\n");
#endif
}

/* The line of the top-level `user` setting in the file, or 0. */
static int user_line(const char *file)
{
    FILE *f = fopen(file, "r");
    char line[1024];
    int n = 0, found = 0;
    if (f == NULL)
        return 0;
    while (found == 0 && fgets(line, sizeof(line), f) != NULL) {
        n++;
        const char *p = line + strspn(line, " \t");
        if (strncmp(p, "user", 4) == 0) {
            p += 4 + strspn(p + 4, " \t");
            if (*p == '=' || *p == ':')
                found = n;
        }
    }
    fclose(f);
    return found;
}

/* As root, `user` must name an account: the workers switch to it. Without
 * root it is not used (as in nginx). 0, or -1 with FILE:LINE: message. */
static int check_user(const struct gh_conf *conf, const char *file)
{
    uid_t uid;
    gid_t gid;
    if (conf->user == NULL || conf->user[0] == '\0' || geteuid() != 0)
        return 0;
    errno = 0;
    if (gh_user_lookup(conf->user, &uid, &gid) == 0)
        return 0;
    int line = user_line(file);
    if (line > 0)
        fprintf(stderr, "%s:%d: unknown user \"%s\" in 'user'\n", file, line, conf->user);
    else
        fprintf(stderr, "%s: unknown user \"%s\" in 'user'\n", file, conf->user);
    return -1;
}

/* Validate what only the router can check (regular expressions). */
static int check_routes(const struct gh_conf *conf)
{
    struct gh_router *r = gh_router_build(conf, stderr);
    if (r == NULL)
        return -1;
    gh_router_free(r);
    return 0;
}

int main(int argc, char **argv)
{
    const char *conf_file = NULL, *prefix = NULL, *signame = NULL;
    bool test = false, dump = false, daemonize = false;
    char cwd[PATH_MAX], conf_default[PATH_MAX + 32], binary[PATH_MAX];
    int opt;

    opterr = 0;
    while ((opt = getopt(argc, argv, "c:p:tTs:dvVh")) != -1) {
        switch (opt) {
        case 'c': conf_file = optarg; break;
        case 'p': prefix = optarg; break;
        case 't': test = true; break;
        case 'T': test = dump = true; break;
        case 's': signame = optarg; break;
        case 'd': daemonize = true; break;
        case 'v': version(false); return 0;
        case 'V': version(true); return 0;
        case 'h': usage(stdout); return 0;
        default:
            fprintf(stderr, "gatehouse: invalid option -%c\n", optopt);
            usage(stderr);
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gatehouse: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 1;
    }
    if (prefix == NULL) {
        if (getcwd(cwd, sizeof(cwd)) == NULL) {
            fprintf(stderr, "gatehouse: getcwd() failed: %s\n", strerror(errno));
            return 2;
        }
        prefix = cwd;
    }
    if (conf_file == NULL) {
        snprintf(conf_default, sizeof(conf_default), "%s/etc/gatehouse.conf", prefix);
        conf_file = conf_default;
    }
    struct gh_conf *conf = gh_conf_load(conf_file, prefix, stderr);
    if (conf == NULL)
        return 1;
    struct gh_tls *tls = NULL;
    struct gh_tls_upstreams *tls_up = NULL;
    if (signame == NULL) {
        int rc = gh_tls_load(conf, stderr, &tls);
        if (gh_tls_upstream_load(conf, stderr, &tls_up) == -1 || rc == -1) {
            gh_tls_free(tls);
            gh_tls_upstream_free(tls_up);
            gh_conf_free(conf);
            return 1;
        }
    }
    if (test || signame != NULL) {
        gh_tls_free(tls);               /* checked; the master builds its own */
        gh_tls_upstream_free(tls_up);
        tls = NULL;
        tls_up = NULL;
    }
    gh_tls_set_current(tls);
    gh_tls_upstream_set_current(tls_up);
    if (test) {
        int rc = check_routes(conf);
        if (check_user(conf, conf_file) == -1)
            rc = -1;
        if (rc == 0 && dump)
            gh_conf_dump(conf, stdout);
        if (rc == 0)
            printf("configuration ok\n");
        gh_conf_free(conf);
        return rc == 0 ? 0 : 1;
    }
    if (check_routes(conf) == -1 || (signame == NULL && check_user(conf, conf_file) == -1)) {
        gh_tls_free(tls);
        gh_tls_upstream_free(tls_up);
        gh_conf_free(conf);
        return 1;
    }
    if (signame != NULL) {
        int sig = gh_signal_by_command(signame);
        if (sig == -1) {
            fprintf(stderr, "gatehouse: unknown signal \"%s\" (reload, reopen, quit, stop)\n",
                    signame);
            gh_conf_free(conf);
            return 1;
        }
        pid_t pid = gh_pidfile_read(conf->pid_file);
        if (pid == -1) {
            fprintf(stderr, "gatehouse: is gatehouse running? (pid_file is \"%s\")\n",
                    conf->pid_file);
            gh_conf_free(conf);
            return 1;
        }
        if (kill(pid, sig) == -1) {
            if (errno == ESRCH)
                fprintf(stderr, "gatehouse: no process with pid %d: stale pid file \"%s\"; "
                        "is gatehouse running?\n", (int)pid, conf->pid_file);
            else
                fprintf(stderr, "gatehouse: kill(%d, %s) failed: %s\n", (int)pid, signame,
                        strerror(errno));
            gh_conf_free(conf);
            return 1;
        }
        gh_conf_free(conf);
        return 0;
    }
    /* USR2 re-executes this path, so resolve it now, before it can change. */
    ssize_t n = readlink("/proc/self/exe", binary, sizeof(binary) - 1);
    if (n <= 0) {
        fprintf(stderr, "gatehouse: readlink(/proc/self/exe) failed: %s\n", strerror(errno));
        gh_tls_free(tls);
        gh_tls_upstream_free(tls_up);
        gh_conf_free(conf);
        return 2;
    }
    binary[n] = '\0';
    /* A binary replaced on disk shows as "path (deleted)"; exec the path. */
    char *del = strstr(binary, " (deleted)");
    if (del != NULL)
        *del = '\0';
    struct gh_master_opts opts = {
        .conf_file = conf_file, .prefix = prefix, .binary = binary, .argv = argv,
        .daemonize = daemonize,
    };
    return gh_master_run(conf, &opts);
}
