/*
 * balance_key.h - keys read from a request for consistent hashing,
 * sticky and split routing and rate-limit keys.
 */
#ifndef GH_BALANCE_KEY_H
#define GH_BALANCE_KEY_H

#include "server/request.h"

/* A 64-bit hash (FNV-1a with a final mix); stable across processes. */
uint64_t gh_balance_hash64(const void *p, size_t len);
/* The value of cookie `name` in r's Cookie headers, or an empty string. */
struct gh_str gh_balance_cookie(const struct gh_req *r, const char *name, size_t name_len);
/* Build r's hash key from a template of $remote_addr, $uri, $host,
 * $cookie_NAME, $header_NAME and literal text, into buf (at most size
 * bytes; longer keys are cut). Returns the length. */
size_t gh_balance_key(const struct gh_req *r, const char *tmpl, char *buf, size_t size);

#endif
