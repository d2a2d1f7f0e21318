/*
 * admin_json.h - the JSON layer of the admin API (jansson): request bodies
 * parsed and checked against a table of allowed fields, and the replies
 * that the admin handlers fill in and server/admin.c turns into HTTP.
 *
 * A handler for a call with a body declares its fields once:
 *
 *     static const struct gh_aj_field fields[] = {
 *         { "cidr", GH_AJ_STRING, GH_AJ_REQUIRED },
 *         { "ttl", GH_AJ_STRING | GH_AJ_NUMBER, GH_AJ_OPTIONAL },
 *     };
 *     json_t *o = gh_aj_parse(body, fields, GH_ARRAY_LEN(fields), r->reason);
 *     if (o == NULL)
 *         return gh_admin_fail(r, 400, NULL);    // r->reason already says why
 *
 * and then reads the members with jansson (json_object_get, ...) knowing
 * their types, and json_decref()s the object on every path.
 */
#ifndef GH_ADMIN_JSON_H
#define GH_ADMIN_JSON_H

#include <jansson.h>

#include "common/str.h"

/* The types a field may take: a mask. */
enum {
    GH_AJ_STRING = 1u << 0,
    GH_AJ_INTEGER = 1u << 1,
    GH_AJ_REAL = 1u << 2,
    GH_AJ_NUMBER = GH_AJ_INTEGER | GH_AJ_REAL,
    GH_AJ_BOOL = 1u << 3,
    GH_AJ_NULL = 1u << 4,
    GH_AJ_OBJECT = 1u << 5,
    GH_AJ_ARRAY = 1u << 6,
};

enum gh_aj_need {
    GH_AJ_OPTIONAL,
    GH_AJ_REQUIRED,
    /* Exactly one of the fields marked GH_AJ_ONE_OF must be present (a cache
     * purge takes "url" or "prefix", never both). */
    GH_AJ_ONE_OF,
};

struct gh_aj_field {
    const char *name;
    unsigned types;                     /* GH_AJ_* mask */
    enum gh_aj_need need;
};

/* Room for a reason; longer ones are cut (still valid UTF-8 once written by
 * gh_aj_text). */
#define GH_AJ_REASON_MAX 192

/* Parse body as one JSON object whose members are all among fields[0..n)
 * with one of their types, holding every required field (and exactly one
 * GH_AJ_ONE_OF field when any is declared). Duplicate members are refused;
 * an empty body (or only white space) is an empty object, so a call whose
 * fields are all optional may be sent without one. The caller bounds the
 * body's size. Returns a new reference (json_decref it), or NULL with why
 * in reason (NUL-terminated): malformed JSON with its line and column, not
 * an object, an unknown field, a wrong type, a missing field, or out of
 * memory. */
json_t *gh_aj_parse(struct gh_str body, const struct gh_aj_field *fields, size_t n,
                    char reason[GH_AJ_REASON_MAX]);

/* A JSON string of s, which need not be valid UTF-8 (names from the
 * configuration file, a reason that quotes a cut-off name): every byte that
 * is not part of a valid UTF-8 sequence becomes '?'. NULL when out of
 * memory. */
json_t *gh_aj_text(const char *s);

/* A JSON integer of a counter (capped at INT64_MAX, jansson's largest).
 * NULL when out of memory. */
json_t *gh_aj_u64(uint64_t v);

/* j serialized compactly (keys in insertion order) and followed by "\n", in
 * a malloc'd NUL-terminated buffer of *len bytes (free() it). Takes j's
 * reference (NULL is fine). NULL when j is NULL or out of memory. */
char *gh_aj_dump(json_t *j, size_t *len);

/* What an admin handler answers: server/admin.c writes the HTTP response. */
struct gh_admin_reply {
    int status;
    json_t *body;                       /* 2xx: the body (owned: the writer decrefs it) */
    const char *allow;                  /* 405: the "Allow: ...\r\n" header line */
    char reason[GH_AJ_REASON_MAX];      /* an error's reason, "" for none */
};

/* An error reply: sets r->status and, when fmt is not NULL, r->reason
 * (printf-style, cut to fit); fmt NULL keeps the reason already there (as
 * gh_aj_parse wrote it). Returns status. */
int gh_admin_fail(struct gh_admin_reply *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A 200 reply with body (taken; NULL means out of memory, and the
 * connection is then closed). Returns 200. */
int gh_admin_ok(struct gh_admin_reply *r, json_t *body);

/* The error body {"error":"STATUS PHRASE"} or, with a non-empty reason,
 * {"error":"STATUS PHRASE","reason":"..."}, followed by "\n" (malloc'd,
 * *len bytes), or NULL when out of memory. */
char *gh_aj_error_body(int status, const char *reason, size_t *len);

#endif
