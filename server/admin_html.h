/*
 * admin_html.h - the dashboard of GET /status: one self-contained HTML page
 * (inline style and script, nothing fetched from elsewhere) rendered from
 * the status document (gh_admin_status_doc), so that without JavaScript it
 * already lists every upstream and server with its state, counts, rates
 * and latency. Its script then refreshes the figures from /status.json
 * every second, keeps the last five minutes of requests/s per server in the
 * page for a chart, and sends drain/enable (with the token typed into its
 * form when admin.token is set). Every name from the configuration is
 * HTML-escaped (and percent-encoded in the buttons' URLs).
 */
#ifndef GH_ADMIN_HTML_H
#define GH_ADMIN_HTML_H

#include <jansson.h>
#include <stddef.h>

/* The page for doc (not taken), or with doc NULL the page without any data
 * that a 401 answers (its form asks for the token; the script then loads
 * everything from /status.json). malloc'd, NUL-terminated, *len bytes;
 * NULL when out of memory. */
char *gh_admin_html(const json_t *doc, size_t *len);

#endif
