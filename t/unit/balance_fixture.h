/*
 * balance_fixture.h - an upstream built by hand for the balancer and
 * upstream-state tests: n servers "10.0.0.N:80" with given weights.
 */
#ifndef GH_T_BALANCE_FIXTURE_H
#define GH_T_BALANCE_FIXTURE_H

#include <stdio.h>
#include <string.h>

#include "common/conf.h"
#include "server/upstream.h"

#define FX_MAX 64

struct fx_up {
    struct gh_conf_upstream c;
    struct gh_conf_upstream_server srv[FX_MAX];
    char addr[FX_MAX][32];
    struct gh_upstream_rt rt;
};

/* Servers first..first+n-1 (addresses 10.0.0.K:80), weight 1. */
static inline void fx_up_init(struct fx_up *f, const char *name, int balance, int first, int n)
{
    memset(f, 0, sizeof(*f));
    f->c.name = (char *)name;
    f->c.balance = balance;
    f->c.hash_key = (char *)"$remote_addr";
    f->c.sticky_cookie = (char *)"";
    f->c.servers = f->srv;
    f->c.nservers = (size_t)n;
    f->c.max_fails = 3;
    f->c.fail_timeout = 10000;
    f->c.retries = 1;
    for (int i = 0; i < n; i++) {
        snprintf(f->addr[i], sizeof(f->addr[i]), "10.0.0.%d:80", first + i);
        f->srv[i].addr.text = f->addr[i];
        f->srv[i].weight = 1;
    }
}

#endif
