/*
 * pipeline.h - running the phases of server/request.h over a request: the
 * server's side (the modules see request.h only).
 */
#ifndef GH_PIPELINE_H
#define GH_PIPELINE_H

#include "server/request.h"

/* The server's own modules: the protocol-level refusals of the ACCESS
 * phase (pipeline.c) and the proxy, the last CONTENT handler (proxy.c). */
extern struct gh_module gh_module_http_checks, gh_module_proxy;

/* Give each module its index and run the worker_init of each in list
 * order, then flatten the phase handlers into one array. 0, or -1 when a
 * module cannot start (what was started is stopped again). */
int gh_pipeline_init(const struct gh_worker_env *env);
/* Run every module's worker_exit, in reverse order. */
void gh_pipeline_exit(void);
/* Run a request whose head is complete through ACCESS .. CONTENT: it ends
 * answered (here or by the proxy), failed with its error status, or with
 * its connection closed. */
void gh_pipeline_run(struct gh_req *r);
/* The LOG phase of a finished (or abandoned) request. */
void gh_pipeline_log(struct gh_req *r);

#endif
