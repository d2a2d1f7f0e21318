/*
 * tls_ocsp.h - OCSP stapling (tls.ocsp_stapling), shared by tls_ocsp.c (the
 * state of each certificate, the shared slots, the handshake callback) and
 * tls_ocsp_fetch.c (the helper process that asks the responders).
 *
 * Each certificate of tls.certificates gets a struct gh_ocsp_cert when the
 * master loads the configuration, hung on its X509 as ex_data, so the
 * handshake finds it from SSL_get_certificate and it is freed with the
 * certificate. Fetched responses live in the shared segment, one slot per
 * certificate index (region "tls_ocsp"): the helper writes, workers read.
 * A slot is a seqlock (readers copy it and retry while a writer is inside)
 * with a robust mutex between writers (an old helper and its replacement
 * overlap at a reload): a writer killed midway leaves the sequence odd, so
 * no reader ever takes that torn copy and none waits for it; the next
 * writer recovers the mutex and rewrites the slot. Slots are keyed by the
 * certificate's SHA-256, so a reload that reorders the certificates never
 * staples one certificate's status for another.
 */
#ifndef GH_TLS_OCSP_H
#define GH_TLS_OCSP_H

#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include "common/conf.h"
#include "common/shm.h"

#define GH_OCSP_SLOTS 64                /* certificates past the 64th are not fetched for */
#define GH_OCSP_DER_MAX 4096            /* the largest response kept */

struct gh_ocsp_slot {
    pthread_mutex_t lock;               /* writers only */
    _Atomic uint32_t seq;               /* odd while written; 0 = never written */
    uint8_t fp[32];                     /* SHA-256 of the certificate (DER) */
    uint32_t der_len;
    int32_t status;                     /* V_OCSP_CERTSTATUS_* */
    int64_t this_update_s, expires_s;   /* CLOCK_REALTIME seconds */
    uint8_t der[GH_OCSP_DER_MAX];
    /* Counters, outside the seqlock: atomic adds, never reset. */
    _Atomic uint64_t served, fetched, failures;
};

struct gh_ocsp_region {
    uint32_t nslots;
    struct gh_ocsp_slot slots[GH_OCSP_SLOTS];
};

/* What one certificate needs to be stapled. */
struct gh_ocsp_cert {
    size_t index;                       /* in tls.certificates */
    bool has_slot;                      /* index < GH_OCSP_SLOTS */
    uint8_t fp[32];
    X509 *leaf;                         /* no reference: this hangs on leaf itself */
    X509 *issuer;                       /* a reference, or NULL */
    STACK_OF(X509) *chain;              /* the rest of the certificate file (references) */
    OCSP_CERTID *id;                    /* NULL without an issuer */
    char *cert_path, *name;             /* for messages: the file, its first DNS name */
    int line;
    /* Fetching (tls.ocsp_file empty): the responder. */
    char *url, *authority, *path;       /* "http://h:p/x", "h:p" (the Host field), "/x" */
    struct gh_conf_addr addr;
    /* tls.ocsp_file: the response stapled for this certificate, or NULL. */
    unsigned char *file_der;
    size_t file_len;
    int64_t file_expires_s;             /* its nextUpdate; INT64_MAX without one */
};

/* The region, or NULL (no stapling configured, or no room in the segment). */
extern struct gh_ocsp_region *gh_ocsp_region;

/* Reserve (or find) the slots in shm. The master, before forking; also the
 * unit tests. 0, or -1 (logged). */
int gh_ocsp_region_attach(struct gh_shm *shm);

/* Write a response into slot s (takes the slot's writer lock; the copy is
 * bounded; no syscall under it). len <= GH_OCSP_DER_MAX. 0, or -1 when the
 * lock is unusable (logged). */
int gh_ocsp_slot_store(struct gh_ocsp_slot *s, const uint8_t fp[32], const unsigned char *der,
                       size_t len, int status, int64_t this_update_s, int64_t expires_s);
/* Copy the response of slot s into der (GH_OCSP_DER_MAX bytes) when it is
 * there for the certificate fp: its length, expiry and status. Lock-free;
 * false when the slot is empty, for another certificate, or being written
 * (a handshake then goes without a staple rather than wait). */
bool gh_ocsp_slot_load(const struct gh_ocsp_slot *s, const uint8_t fp[32], unsigned char *der,
                       size_t *len, int64_t *expires_s, int *status);

/* The state hung on a certificate, or NULL. */
struct gh_ocsp_cert *gh_ocsp_cert_of(const X509 *x);

/* The time of an ASN.1 time as Unix seconds, or -1. */
int64_t gh_ocsp_time(const ASN1_GENERALIZEDTIME *t);

#endif
