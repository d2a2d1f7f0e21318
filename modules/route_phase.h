/*
 * route_phase.h - routing as a pipeline module: the ROUTE phase (path
 * normalization, the virtual server and route, redirect_https, 404) and
 * the CONTENT handler of `return` routes (modules/route.c is the router).
 */
#ifndef GH_ROUTE_PHASE_H
#define GH_ROUTE_PHASE_H

#include "server/request.h"

extern struct gh_module gh_module_route;

/* The upstream index of r's route: its upstream, or for a split route the
 * one picked by weight (per request, or stably by split_by). -1 when the
 * route names none. */
int gh_route_upstream(struct gh_req *r);

#endif
