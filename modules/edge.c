/*
 * edge.c - see edge.h.
 */
#include <string.h>

#include "common/log.h"
#include "common/time.h"
#include "modules/acl.h"
#include "modules/balance_key.h"
#include "modules/ratelimit.h"
#include "modules/blacklist.h"
#include "modules/connlimit.h"
#include "modules/edge.h"
#include "modules/realip.h"

static struct {
    const struct gh_conf *conf;
    struct gh_acl allow, deny;
    struct gh_acl trusted;              /* real_ip.from */
    bool has_allow;
    struct gh_bl_cache bl;
    struct gh_bl_region *blr;
    struct gh_cl_region *clr;
    int proc;
    bool rl_ok;
    bool rl_by_addr[GH_RL_MAX_LIMITS];  /* the key is "$remote_addr" alone */
    gh_msec_t rl_full_checked;
    uint64_t rl_full_seen;
} E = { .proc = -1 };

void gh_edge_reserve(struct gh_shm *shm, const struct gh_conf *conf)
{
    (void)gh_bl_reserve(shm);
    (void)gh_cl_reserve(shm);
    if (conf->nrate_limits > 0 && gh_ratelimit_shm_setup(shm, conf) == -1)
        gh_log_error("rate limits are not enforced: no shared state for them");
}

void gh_edge_proc_exit(struct gh_shm *shm, pid_t pid)
{
    gh_bl_proc_exit(shm, pid);
    gh_cl_proc_exit(shm, pid);
}

static int edge_worker_init(const struct gh_worker_env *env)
{
    const struct gh_conf *conf = env->conf;
    E.conf = conf;
    gh_acl_init(&E.allow);
    gh_acl_init(&E.deny);
    gh_acl_init(&E.trusted);
    if (gh_acl_add_conf(&E.allow, conf->access.allow, conf->access.nallow) == -1
        || gh_acl_add_conf(&E.deny, conf->access.deny, conf->access.ndeny) == -1
        || gh_acl_add_conf(&E.trusted, conf->real_ip.from, conf->real_ip.nfrom) == -1
        || gh_bl_cache_init(&E.bl) == -1) {
        gh_log_error("out of memory building the access lists");
        return -1;
    }
    E.has_allow = conf->access.nallow > 0;
    E.blr = gh_bl_region();
    E.clr = gh_cl_region();
    E.proc = gh_shm_proc_claim(env->shm, env->pid, env->generation, env->slot);
    E.rl_ok = conf->nrate_limits > 0 && gh_ratelimit_worker_init(env->shm, conf) == 0;
    E.rl_full_seen = E.rl_ok ? gh_ratelimit_table_full() : 0;
    for (size_t i = 0; i < conf->nrate_limits && i < GH_RL_MAX_LIMITS; i++)
        E.rl_by_addr[i] = strcmp(conf->rate_limits[i].key, "$remote_addr") == 0;
    E.rl_full_checked = gh_now_ms;
    return 0;
}

static void edge_worker_exit(void)
{
    gh_acl_free(&E.allow);
    gh_acl_free(&E.deny);
    gh_acl_free(&E.trusted);
    gh_bl_cache_free(&E.bl);
}

/* Denied by the static lists or the dynamic blacklist? */
static bool denied(const uint8_t key[16])
{
    int64_t now = gh_now_ms;
    if (E.has_allow && !gh_acl_match(&E.allow, key, now))
        return true;
    if (E.deny.n > 0 && gh_acl_match(&E.deny, key, now))
        return true;
    return gh_bl_banned(&E.bl, E.blr, key);
}

bool gh_edge_accept(const struct gh_client *addr, bool *cl_held)
{
    const struct gh_conf *conf = E.conf;
    if (!addr->has_key)
        return true;                    /* unix socket: no address to judge */
    if (conf->access.deny_close && denied(addr->key)) {
        gh_edge_count(E.blr, E.proc, GH_EDGE_BLACKLIST_REJECTED);
        return false;
    }
    /* A trusted proxy (real_ip.from) carries many clients: not limited. */
    if (conf->limits.max_conns_per_ip > 0 && E.clr != NULL
        && (conf->real_ip.nfrom == 0 || !gh_acl_match(&E.trusted, addr->key, 0))) {
        if (gh_cl_acquire(E.clr, E.proc, addr->key, conf->limits.max_conns_per_ip) == -1) {
            gh_edge_count(E.blr, E.proc, GH_EDGE_CONNLIMIT_REJECTED);
            return false;
        }
        *cl_held = true;
    }
    return true;
}

void gh_edge_count_connlimit(void)
{
    gh_edge_count(E.blr, E.proc, GH_EDGE_CONNLIMIT_REJECTED);
}

void gh_edge_count_proxy_rejected(void)
{
    gh_edge_count(E.blr, E.proc, GH_EDGE_PROXY_REJECTED);
}

void gh_edge_count_event(int which)
{
    if (which >= 0 && which < GH_EDGE_NCOUNTERS)
        gh_edge_count(E.blr, E.proc, (enum gh_edge_counter)which);
}

void gh_edge_count_slow_client(void)
{
    gh_edge_count(E.blr, E.proc, GH_EDGE_SLOW_CLIENTS);
}

void gh_edge_conn_release(const struct gh_client *addr, bool *cl_held)
{
    if (*cl_held) {
        *cl_held = false;
        gh_cl_release(E.clr, E.proc, addr->key);
    }
}

/* A route with rate_limit = idx: 0 admitted, or the Retry-After seconds
 * (>= 1) of a refusal (counted; with auto_ban, may ban the client). The key
 * is the limit's template ($remote_addr, $header_NAME, $cookie_NAME); a
 * request whose key is empty (no such header or cookie) is not limited. */
static int rate_limit(struct gh_req *r, int idx)
{
    const struct gh_conf *conf = r->conf;
    if (!E.rl_ok || idx < 0 || (size_t)idx >= conf->nrate_limits)
        return 0;
    int wait;
    struct gh_client *cl = r->client;
    if (idx < GH_RL_MAX_LIMITS && E.rl_by_addr[idx] && cl->has_key) {
        /* The address itself (4 bytes for IPv4), not its text, hashed once
         * per client: per connection (per request when real_ip found the
         * client): one client, one bucket. */
        bool v4 = gh_acl_key_is_v4(cl->key);
        const uint8_t *k = v4 ? cl->key + 12 : cl->key;
        size_t len = v4 ? 4 : 16;
        if (cl->rl_hash_idx != idx + 1) {
            cl->rl_hash = gh_ratelimit_hash(idx, k, len);
            cl->rl_hash_idx = (int16_t)(idx + 1);
        }
        uint64_t h = cl->rl_hash;
        wait = gh_ratelimit_check_hashed(idx, k, len, h, gh_now_ms);
    } else {
        char key[1024];
        size_t len = gh_balance_key(r, conf->rate_limits[idx].key, key, sizeof(key));
        if (len == 0)
            return 0;
        wait = gh_ratelimit_check(idx, key, len, gh_now_ms);
    }
    if (gh_now_ms - E.rl_full_checked >= 60000) {
        E.rl_full_checked = gh_now_ms;
        uint64_t full = gh_ratelimit_table_full();
        if (full != E.rl_full_seen)
            gh_log_warn("the rate limit table is full: %llu buckets forgotten",
                        (unsigned long long)(full - E.rl_full_seen));
        E.rl_full_seen = full;
    }
    /* never a trusted proxy itself (real_ip found no client behind it):
     * banning it would refuse everyone it carries */
    if (wait > 0 && conf->access.ban_violations > 0 && r->client->has_key
        && (conf->real_ip.nfrom == 0 || !gh_acl_match(&E.trusted, r->client->key, 0))
        && gh_bl_violation(E.blr, conf, r->client->key))
        gh_edge_count(E.blr, E.proc, GH_EDGE_AUTO_BANS);
    return wait;
}

bool gh_edge_pp_trusted(const struct gh_client *addr)
{
    if (E.conf->real_ip.nfrom == 0)
        return true;
    return addr->has_key && gh_acl_match(&E.trusted, addr->key, 0);
}

/* When the connection's address is trusted (real_ip.from), point r->client
 * at the address found in real_ip.header (modules/realip.h); otherwise
 * leave it. */
static void real_ip(struct gh_req *r)
{
    const struct gh_client *conn = r->conn_client;
    if (!conn->has_key || !gh_acl_match(&E.trusted, conn->key, 0))
        return;                         /* not a trusted proxy: its headers mean nothing */
    struct gh_client found = { 0 };
    const char *name = r->conf->real_ip.header;
    if (!gh_realip_walk(&E.trusted, r->head.headers, r->head.nheaders,
                        gh_str_make(name, strlen(name)), &found))
        return;
    struct gh_client *cl = gh_palloc(r->pool, sizeof(*cl));
    if (cl == NULL)
        return;                         /* out of memory: the proxy's address, never a forged one */
    *cl = found;
    r->client = cl;
}

/* ACCESS: real_ip (when real_ip.from is set), then the access lists and
 * the dynamic blacklist: 403, or with deny_action = "close" the connection
 * closed without a byte (but for a client behind a trusted proxy, whose
 * connection carries others: it gets its 403). */
static enum gh_verdict edge_access(struct gh_req *r)
{
    if (r->conf->real_ip.nfrom > 0)
        real_ip(r);
    if (!r->client->has_key || !denied(r->client->key))
        return GH_CONTINUE;
    gh_edge_count(E.blr, E.proc, GH_EDGE_BLACKLIST_REJECTED);
    if (r->conf->access.deny_close && r->client == r->conn_client)
        return GH_DROP;
    return gh_req_fail(r, 403, true);
}

/* LIMIT: the route's rate limit, before any 100 Continue (a refused
 * request never gets one): 429 with Retry-After. */
static enum gh_verdict edge_limit(struct gh_req *r)
{
    const struct gh_conf_route *rt = r->match.route;
    if (rt->rate_limit_idx < 0)
        return GH_CONTINUE;
    r->retry_after = rate_limit(r, rt->rate_limit_idx);
    return r->retry_after > 0 ? gh_req_fail(r, 429, false) : GH_CONTINUE;
}

struct gh_module gh_module_edge = {
    .name = "edge",
    .worker_init = edge_worker_init,
    .worker_exit = edge_worker_exit,
    .phase = { [GH_PHASE_ACCESS] = edge_access, [GH_PHASE_LIMIT] = edge_limit },
};
