/*
 * conf.h - the configuration (SPEC section 4), parsed by libconfig into
 * typed structures. Every setting is parsed, validated and defaulted here,
 * even where the feature behind it lands later. All memory of one
 * configuration hangs off the gh_conf and is freed by gh_conf_free, so a
 * reload can build a new one and drop the old one whole.
 */
#ifndef GH_CONF_H
#define GH_CONF_H

#define GH_CONF_CACHE_MIN_SIZE (256u * 1024)   /* smallest cache.size but 0 */

#include <stdio.h>
#include <sys/socket.h>
#include "common/logfmt.h"
#include "common/gh.h"

/* A parsed socket address: "0.0.0.0:8080", "[::]:8443", "unix:/path", or
 * (upstream servers only) "host.name:port", resolved at load time. */
enum gh_addr_kind { GH_ADDR_INET, GH_ADDR_UNIX, GH_ADDR_NAME };
struct gh_conf_addr {
    char *text;                         /* as written in the file */
    enum gh_addr_kind kind;
    struct sockaddr_storage sa;         /* for GH_ADDR_NAME: the first resolved address */
    socklen_t salen;
    char *host;                         /* GH_ADDR_NAME: the name; else NULL */
    int port;                           /* 0 for unix */
};

struct gh_conf_listen {
    struct gh_conf_addr addr;
    bool tls, http2, proxy_protocol;
    int line;
};

struct gh_conf_header_set { char *name, *value; };
struct gh_conf_headers {
    struct gh_conf_header_set *set;
    size_t nset;
    char **remove;
    size_t nremove;
};

struct gh_conf_tls_cert { char *cert, *key; int line; };
enum { GH_TLS_V1_2 = 1u << 0, GH_TLS_V1_3 = 1u << 1 };
struct gh_conf_tls {
    struct gh_conf_tls_cert *certs;
    size_t ncerts;
    unsigned protocols;                 /* GH_TLS_V1_x bits; default both */
    bool session_tickets;               /* default true */
    bool ocsp_stapling;                 /* default false */
    char *client_ca;                    /* "" = no mTLS */
    gh_msec_t ticket_rotation;          /* default 1h: a new ticket key this often */
    bool strict_sni;                    /* default false: true = 421 when Host names
                                           another server than SNI */
    char *ocsp_file;                    /* "" = fetch from the responder (with
                                           ocsp_stapling) */
    int line;                           /* of the tls group (0 = absent) */
};

enum gh_balance {
    GH_BALANCE_ROUND_ROBIN = 0, GH_BALANCE_LEAST_CONN, GH_BALANCE_IP_HASH,
    GH_BALANCE_HASH, GH_BALANCE_RANDOM2,
};

struct gh_conf_upstream_server {
    struct gh_conf_addr addr;
    int weight;                         /* default 1, 1..1000 */
    int max_conns;                      /* 0 = unlimited */
    bool backup;
    int line;
};

struct gh_conf_upstream {
    char *name;                         /* [A-Za-z0-9_.-]+, unique (also rate limits) */
    enum gh_balance balance;
    char *hash_key;                     /* default "$remote_addr" */
    struct gh_conf_upstream_server *servers;
    size_t nservers;                    /* >= 1 */
    int keepalive;                      /* default 32 */
    gh_msec_t keepalive_timeout;        /* default 4s */
    int64_t keepalive_requests;         /* default 10000; 0 = no limit */
    int retries;                        /* default 1 */
    size_t retry_buffer;                /* default 64k */
    int max_fails;                      /* passive.max_fails, default 3 (0 = off) */
    gh_msec_t fail_timeout;             /* passive.fail_timeout, default 10s */
    struct {
        bool enabled;                   /* a health block is present */
        char *path;                     /* default "/healthz" */
        char *host;                     /* "" = the server's address */
        gh_msec_t interval, timeout;    /* 2s, 1s */
        int rise, fall;                 /* 2, 3 */
        int expect_lo, expect_hi;       /* "200-399" */
    } health;
    gh_msec_t slow_start;               /* default 0 */
    char *sticky_cookie;                /* "" = none */
    struct {
        bool enable, verify;            /* false, true */
        char *sni, *ca;                 /* "", "" */
        int line;                       /* of the tls group (the upstream's when absent) */
    } tls;
    int line;
};

enum gh_route_kind {
    GH_ROUTE_PREFIX = 0,                /* "/api/" */
    GH_ROUTE_PREFIX_STOP,               /* "^~ /api/": longest prefix wins over regexes */
    GH_ROUTE_EXACT,                     /* "= /ping" */
    GH_ROUTE_REGEX,                     /* "~ ^/v[0-9]+/" */
    GH_ROUTE_REGEX_CASELESS,            /* "~* \.png$" */
};

struct gh_conf_split {
    char *upstream;
    int upstream_idx;                   /* index into conf->upstreams */
    int weight;                         /* >= 0; the weights of a route sum to > 0 */
};

struct gh_conf_route {
    char *path_spec;                    /* as written */
    enum gh_route_kind kind;
    char *pattern;                      /* the path or regex without its modifier */
    char *upstream;                     /* NULL when split or return is used */
    int upstream_idx;                   /* -1 when none */
    char *rate_limit;                   /* NULL = none */
    int rate_limit_idx;                 /* -1 when none */
    bool strip_prefix;                  /* not allowed on regex routes */
    bool cache_enabled;                 /* a cache block is present */
    gh_msec_t cache_ttl;                /* cache.ttl, default 60s: freshness of a
                                           response that states none itself */
    struct gh_conf_split *splits;
    size_t nsplits;
    char *split_by;                     /* "" = per request; only with split */
    bool has_return;
    struct {
        int status;                     /* 100..599, required; 301/302/303/307/308
                                           also require location */
        char *body;                     /* NULL = none */
        char *location;                 /* NULL = none */
    } ret;
    struct gh_conf_headers request_headers, response_headers;
    int line;
};

struct gh_conf_vserver {
    char **names;                       /* lower-cased; "default" allowed */
    size_t nnames;
    bool redirect_https;
    struct gh_conf_route *routes;
    size_t nroutes;
    struct gh_conf_headers request_headers, response_headers;
    int line;
};

struct gh_conf_rate_limit {
    char *name;
    char *key;                          /* $remote_addr, $header_NAME, $cookie_NAME */
    double rate;                        /* requests per second, > 0 */
    int burst;                          /* >= 0 */
    int line;
};

enum gh_access_log_format { GH_ALOG_COMBINED = 0, GH_ALOG_JSON, GH_ALOG_OFF, GH_ALOG_CUSTOM };

struct gh_conf_cidr {
    char *text;
    int family;                         /* AF_INET or AF_INET6 */
    uint8_t addr[16];                   /* network byte order, host bits zeroed */
    int prefix_len;
    int line;
};

struct gh_conf {
    char *file;                         /* path of the file read, as given */
    char *prefix;                       /* for relative paths; made absolute (joined
                                           to the cwd), so every resolved path is */

    int workers;                        /* 1..64; "auto" -> online CPUs, clamped */
    bool workers_auto;
    char *pid_file;                     /* resolved against prefix */
    char *user;                         /* "" = do not switch */
    size_t shm_size;                    /* default 64M */
    gh_msec_t shutdown_timeout;         /* default 30s */

    struct { char *path; int level; } error_log;          /* "stderr", GH_LOG_INFO
                                                             (a GH_LOG_* value) */
    struct {
        char *path;
        enum gh_access_log_format format;
        char *template;                 /* custom: as written ("" otherwise) */
        struct gh_logfmt custom;        /* custom: the compiled template */
    } access_log;

    struct {
        gh_msec_t client_header, client_body, send, keepalive;
        gh_msec_t upstream_connect, upstream_send, upstream_read, tunnel;
    } timeouts;

    struct {
        size_t max_header_size;         /* 16k */
        int max_headers;                /* 100 */
        size_t max_uri_size;            /* 8k */
        size_t max_body_size;           /* 10M; 0 = unlimited */
        size_t max_upstream_header_size;/* 16k */
        size_t min_client_rate;         /* 1k bytes/s; 0 = off */
        int max_connections;            /* per worker; "auto" (the default): the
                                           most that the hard RLIMIT_NOFILE fits, up
                                           to 10000 (common/nofile.h) */
        bool max_connections_auto;      /* "auto" or not set: derived as above */
        int max_conns_per_ip;           /* 0 = off */
    } limits;

    struct gh_conf_listen *listens;     /* IP literals only; http2 on a plain
                                           listener: h2c with prior knowledge */
    size_t nlistens;                    /* >= 1 */

    struct gh_conf_tls tls;

    struct {
        int max_concurrent_streams;     /* 128: SETTINGS_MAX_CONCURRENT_STREAMS */
    } http2;

    struct {
        bool enabled;                   /* address present and not "" */
        struct gh_conf_addr addr;
        char *token;                    /* "" = none */
    } admin;

    struct {
        struct gh_conf_cidr *from;
        size_t nfrom;
        char *header;                   /* "X-Forwarded-For" */
    } real_ip;

    struct gh_conf_upstream *upstreams;
    size_t nupstreams;

    struct {
        struct gh_conf_cidr *allow, *deny;
        size_t nallow, ndeny;
        bool deny_close;                /* deny_action = "close" */
        int ban_violations;             /* 0 = off */
        gh_msec_t ban_window, ban_duration;
    } access;

    struct gh_conf_rate_limit *rate_limits;
    size_t nrate_limits;

    struct {
        size_t size, max_object_size;   /* size 0: no cache */
        bool override;                  /* a route's cache.ttl beats the upstream's freshness */
        gh_msec_t lock_timeout;         /* default 5s: a collapsed miss's wait for the head */
    } cache;

    struct {
        bool gzip, brotli, zstd;        /* each codec on by itself (modules/compress.c) */
        int level;                      /* gzip: 1..9 */
        int brotli_level;               /* 0..11 */
        int zstd_level;                 /* 1..19 */
        size_t min_size;
        char **types;
        size_t ntypes;
    } compression;

    struct gh_conf_vserver *servers;
    size_t nservers;

    void *arena;                        /* private: owns every allocation above */
};

/* Parse and validate `file`; relative paths in it resolve against `prefix`
 * (NULL or "" = the current directory). Upstream host names are resolved
 * now (getaddrinfo, so this may block). On errors, print every one of them
 * to `errs` (NULL = stderr) as "FILE:LINE: message", sorted by line, and
 * return NULL; a file that cannot be read gives "FILE: cannot read the
 * configuration file (strerror)", a syntax error libconfig's message.
 * The caller owns the result, one arena freed by gh_conf_free; it is
 * read-only afterwards, so workers share it after fork without locks. */
struct gh_conf *gh_conf_load(const char *file, const char *prefix, FILE *errs);
/* Free the configuration and everything in it. NULL is ignored. */
void gh_conf_free(struct gh_conf *conf);
/* Print the effective configuration, every default filled in, in the same
 * libconfig syntax (for -T): gh_conf_load reads it back to the same
 * configuration. Paths are printed resolved (absolute); upstream names as
 * written (resolved again on load). */
void gh_conf_dump(const struct gh_conf *conf, FILE *out);

/* "500ms", "10s", "2m", "1h", "1d" or a plain number of seconds (may be
 * fractional: "1.5", "0.25s"; rounded to the millisecond). No sign, spaces,
 * exponent or other unit; at most 10^15 ms. 0, or -1 (out untouched). */
int gh_parse_duration(const char *s, gh_msec_t *out);
/* "16k", "10M", "1G" (binary multiples, case-insensitive) or a plain number
 * of bytes ("0" allowed). No fractions or sign; -1 on overflow. 0 or -1. */
int gh_parse_size(const char *s, size_t *out);
/* Parse a listen/server address: "IPv4:port", "[IPv6]:port" (port 0..65535;
 * 0 = any free port, which callers may refuse), "unix:/absolute/path", or,
 * when allow_name, "name:port" resolved now with getaddrinfo (the first
 * address is kept). 0, or -1 with a message in err (errlen bytes).
 * On success out->text (a copy of s) and out->host are malloc'd: release
 * them with gh_conf_addr_release (gh_conf_load copies them into its arena).
 * On failure nothing is left allocated. */
int gh_parse_addr(const char *s, bool allow_name, struct gh_conf_addr *out,
                  char *err, size_t errlen);
/* Free the strings gh_parse_addr allocated and set them to NULL. */
void gh_conf_addr_release(struct gh_conf_addr *a);
/* "10.0.0.0/8", "::1", "2001:db8::/32"; a bare address is a /32 or /128.
 * Fills family, addr and prefix_len (text and line are the caller's).
 * 0; -1 when malformed; -2 when the address has bits set past the prefix
 * ("10.0.0.1/8"): out then holds the normalized network (10.0.0.0/8), and
 * gh_conf_load reports it as an error suggesting that network, since such
 * an entry is usually a typo for a single host. */
int gh_parse_cidr(const char *s, struct gh_conf_cidr *out);

#endif
