/*
 * reqid.h - X-Request-ID: the client's when it is sane
 * (^[A-Za-z0-9._:@-]{1,128}$), otherwise one we make; and the worker's
 * cheap random numbers (splits, random2).
 */
#ifndef GH_REQID_H
#define GH_REQID_H

#include "common/str.h"

struct gh_req;

/* Seed the worker's generator (getrandom). */
void gh_reqid_init(void);
/* Set r->request_id from the client's header or a new 32-hex-digit id,
 * and r->traceparent / r->trace_id from the client's valid traceparent
 * (exactly one) or a new one. */
void gh_reqid_assign(struct gh_req *r);
/* Is v a valid W3C traceparent (version 00 exactly; later versions by
 * their first four fields)? */
bool gh_trace_valid(struct gh_str v);
/* Is s a request id we pass through? */
bool gh_reqid_valid(struct gh_str s);
/* A fast non-cryptographic random 64-bit number (xoshiro256**). */
uint64_t gh_reqid_random(void);

#endif
