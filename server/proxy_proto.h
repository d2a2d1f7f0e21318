/*
 * proxy_proto.h - the PROXY protocol (HAProxy's proxy-protocol.txt),
 * versions 1 (text) and 2 (binary), as received on a listener with
 * proxy_protocol = true.
 *
 * The parser is pure and incremental: it is given every byte received so
 * far (from the first one of the connection) and says whether the header
 * is complete, needs more bytes, or is malformed. It rejects as early as it
 * can: the first byte that cannot start or continue a valid header is an
 * error, so a client that is not a balancer is refused at once.
 */
#ifndef GH_PROXY_PROTO_H
#define GH_PROXY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define GH_PP_V1_MAX 107                /* the longest v1 line, CRLF included */
#define GH_PP_V2_MAX 4096               /* the longest v2 header we take: 16 + addresses + TLVs */

enum gh_pp_verdict {
    GH_PP_ERROR = -1,                   /* malformed: close the connection */
    GH_PP_NEED_MORE = 0,                /* valid so far: read more */
    GH_PP_DONE = 1,                     /* complete: see struct gh_pp_result */
};

struct gh_pp_result {
    size_t consumed;                    /* header bytes; what follows is the client's */
    int version;                        /* 1 or 2 */
    /* AF_INET or AF_INET6: src holds the client's address and port. AF_UNSPEC:
     * keep the socket's peer (v1 UNKNOWN, v2 LOCAL, v2 AF_UNSPEC or AF_UNIX,
     * v2 with an unspecified transport). */
    int family;
    struct sockaddr_storage src;
    /* v2 with a PP2_TYPE_SSL TLV whose PP2_CLIENT_SSL bit is set: the client
     * spoke TLS to the balancer (which terminated it). */
    bool ssl;
};

/* Parse p[0..len), the first bytes of a connection. Returns GH_PP_DONE
 * (res filled), GH_PP_NEED_MORE (res untouched) or GH_PP_ERROR. Never reads
 * beyond len nor more than GH_PP_V2_MAX bytes; no allocation. */
int gh_pp_parse(const uint8_t *p, size_t len, struct gh_pp_result *res);

#endif
