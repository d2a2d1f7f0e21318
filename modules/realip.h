/*
 * realip.h - real_ip: the client address behind trusted proxies.
 *
 * When the connection's address (the peer's, or the PROXY protocol's) is
 * in real_ip.from, the request's client is taken from real_ip.header, as
 * nginx's realip module with real_ip_recursive on: every line of that
 * header, in order, forms one comma-separated list, walked from the right;
 * addresses that are themselves trusted are skipped, and the first
 * untrusted one is the client. An entry that is not an address stops the
 * walk: the last good address is kept (the connection's when there is
 * none), so a forged or broken entry can never become the client. An
 * untrusted connection's header is ignored.
 */
#ifndef GH_REALIP_H
#define GH_REALIP_H

#include "modules/acl.h"
#include "server/http1_parse.h"

/* Parse one entry: an IPv4 or IPv6 address, optionally "1.2.3.4:PORT",
 * "[v6]" or "[v6]:PORT", surrounding blanks ignored. Fills out (key and
 * text, IPv4 and v4-mapped IPv6 as dotted IPv4). 0, or -1 when it is not
 * an address. */
int gh_realip_parse(struct gh_str s, struct gh_client *out);

/* The walk above over the headers named `name` (case-insensitive) in
 * h[0..n). Returns true with out set to the client found, false when the
 * header holds no valid address (keep the connection's). No allocation;
 * O(total header length). */
bool gh_realip_walk(const struct gh_acl *trusted, const struct gh_http_header *h, size_t n,
                    struct gh_str name, struct gh_client *out);

#endif
