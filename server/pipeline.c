/*
 * pipeline.c - the phases of a request as a table of module handlers (see
 * request.h), flattened once per worker: a request walks one array of
 * function pointers, nginx's ngx_http_core_run_phases without the
 * checkers. Also the server's side of the module API (gh_req_respond,
 * gh_req_log_line) and the protocol-level refusals of the ACCESS phase.
 */
#include <string.h>

#include "common/log.h"
#include "server/http1.h"
#include "server/pipeline.h"

/* The handlers of ACCESS .. CONTENT in order, NULL-terminated, then those
 * of LOG, NULL-terminated: a request walks a pointer down each. */
static gh_phase_fn *handlers[GH_NPHASES * GH_MODULES_MAX + 2];
static gh_phase_fn **log_handlers;
static size_t nstarted;                 /* modules whose worker_init ran */

int gh_pipeline_init(const struct gh_worker_env *env)
{
    size_t n = 0;
    nstarted = 0;
    for (size_t i = 0; gh_modules[i] != NULL; i++) {
        struct gh_module *m = gh_modules[i];
        if (i >= GH_MODULES_MAX) {
            gh_log_error("more than %d modules", GH_MODULES_MAX);
            gh_pipeline_exit();
            return -1;
        }
        m->index = (int)i;
        if (m->worker_init != NULL && m->worker_init(env) == -1) {
            gh_log_error("module %s failed to start", m->name);
            gh_pipeline_exit();
            return -1;
        }
        nstarted = i + 1;
    }
    for (int p = 0; p < GH_NPHASES; p++) {
        if (p == GH_PHASE_LOG) {
            handlers[n++] = NULL;
            log_handlers = &handlers[n];
        }
        for (size_t i = 0; gh_modules[i] != NULL; i++)
            if (gh_modules[i]->phase[p] != NULL)
                handlers[n++] = gh_modules[i]->phase[p];
    }
    handlers[n] = NULL;
    return 0;
}

void gh_pipeline_exit(void)
{
    while (nstarted > 0) {
        struct gh_module *m = gh_modules[--nstarted];
        if (m->worker_exit != NULL)
            m->worker_exit();
    }
}

void gh_pipeline_run(struct gh_req *r)
{
    enum gh_verdict v = GH_CONTINUE;
    for (gh_phase_fn **h = handlers; *h != NULL && v == GH_CONTINUE; h++)
        v = (*h)(r);
    switch (v) {
    case GH_ANSWERED:
        return;
    case GH_FAIL:
        r->io->error(r, r->status, r->fail_close);
        return;
    case GH_DROP:
        gh_conn_close(r->conn);
        return;
    case GH_CONTINUE:
        /* No content handler took it: the proxy takes every request that
         * reaches it, so this is a bug. */
        GH_ASSERT(!"no content handler");
        r->io->error(r, 500, true);
        return;
    }
}

void gh_pipeline_log(struct gh_req *r)
{
    for (gh_phase_fn **h = log_handlers; *h != NULL; h++)
        (void)(*h)(r);
}

void gh_req_respond(struct gh_req *r, int status, const char *body, size_t body_len,
                    const char *location, bool close)
{
    r->io->respond(r, status, body, body_len, location, close);
}

void gh_req_respond_head(struct gh_req *r, const struct gh_resp_head *h, const char *body,
                         size_t body_len)
{
    gh_http1_respond_head(r, h, body, body_len);
}

bool gh_req_log_wanted(const struct gh_req *r)
{
    return r->conf->access_log.format != GH_ALOG_OFF && gh_alog_enabled(&r->conn->w->alog);
}

void gh_req_log_line(struct gh_req *r, const char *line, size_t len)
{
    gh_alog_append(&r->conn->w->alog, line, len);
}

/* ACCESS, after the access check (a denied client gets its 403 first):
 * methods a proxy does not forward, expectations it cannot meet, and a
 * declared body over max_body_size. */
static enum gh_verdict http_checks(struct gh_req *r)
{
    const struct gh_http1_request *h = &r->head;
    if (h->method_id == GH_M_CONNECT || h->method_id == GH_M_TRACE)
        return gh_req_fail(r, 405, false);
    if (h->expect_other)
        return gh_req_fail(r, 417, true);
    uint64_t max_body = r->conf->limits.max_body_size;
    if (max_body > 0 && h->framing.content_length > 0
        && (uint64_t)h->framing.content_length > max_body)
        return gh_req_fail(r, 413, true);
    return GH_CONTINUE;
}

struct gh_module gh_module_http_checks = {
    .name = "http_checks",
    .phase = { [GH_PHASE_ACCESS] = http_checks },
};
