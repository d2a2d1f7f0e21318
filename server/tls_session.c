/*
 * tls_session.c - TLS resumption that works on any worker and across
 * reloads and binary upgrades: the session-ticket keys and the session
 * cache live in the shared segment.
 *
 * Ticket keys: four slots and the index of the current one. A new key is
 * made every tls.ticket_rotation by whichever worker first issues a ticket
 * after that (the slot three behind the current one is rewritten, so the
 * current key and the two before it still decrypt). Each slot is a seqlock:
 * readers copy it and retry if a writer was inside; a writer killed midway
 * leaves a slot that no reader uses and that the next rotation rewrites.
 *
 * Session cache (TLS 1.2 clients without tickets; TLS 1.3 when tickets are
 * off): a set-associative table of serialized sessions, eight ways per
 * bucket, the least recently used way replaced, behind striped robust
 * locks. Only copies happen under a lock; (de)serialization is outside.
 */
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/lock.h"
#include "common/log.h"
#include "server/tls_priv.h"

#define KEYS_REGION "tls_ticket_keys"
#define KEYS_LAYOUT 1u
#define NKEYS 4
#define KEYS_VALID 3                    /* the current key and the two before it */

#define SESS_REGION "tls_sessions"
#define SESS_LAYOUT 1u
#define SESS_BUCKETS 512
#define SESS_WAYS 8
#define SESS_DER_MAX 880                /* a session with a client certificate may not fit */
#define SESS_STRIPES 64
#define SESSION_TIMEOUT_S 300           /* nginx's ssl_session_timeout */

struct ticket_key {
    _Atomic uint32_t seq;               /* odd while being written; 0 = never written */
    uint8_t name[16];
    uint8_t aes[32];
    uint8_t hmac[32];
    int64_t created_s;                  /* CLOCK_REALTIME seconds */
};

struct keys_region {
    pthread_mutex_t lock;               /* one writer at a time */
    _Atomic uint32_t current;           /* index of the key that encrypts */
    _Atomic int64_t rotation_s;         /* from the configuration, set by the master */
    struct ticket_key keys[NKEYS];
};

struct sess_entry {
    uint8_t id_len;                     /* 0 = free */
    uint8_t id[SSL_MAX_SSL_SESSION_ID_LENGTH];
    uint16_t der_len;
    int64_t expires_s;
    uint64_t used;                      /* the cache's clock when last stored or found */
    uint8_t der[SESS_DER_MAX];
};

struct sess_region {
    _Atomic uint64_t clock;
    _Atomic uint64_t stored, hits, misses, evicted;
    struct sess_entry buckets[SESS_BUCKETS][SESS_WAYS];
    struct gh_stripes locks;            /* SESS_STRIPES of them follow */
};

static struct keys_region *keys;
static struct sess_region *sessions;
static EVP_CIPHER *ticket_cipher;

static int64_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
}

/* ---- ticket keys -------------------------------------------------------- */

static void key_write(struct ticket_key *k, const struct ticket_key *src)
{
    uint32_t s = atomic_load_explicit(&k->seq, memory_order_relaxed);
    atomic_store_explicit(&k->seq, s | 1u, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    memcpy(k->name, src->name, sizeof(k->name));
    memcpy(k->aes, src->aes, sizeof(k->aes));
    memcpy(k->hmac, src->hmac, sizeof(k->hmac));
    k->created_s = src->created_s;
    atomic_store_explicit(&k->seq, (s | 1u) + 1, memory_order_release);
}

/* Copy slot k; false when it was never written or stays busy. */
static bool key_read(const struct ticket_key *k, struct ticket_key *out)
{
    for (int tries = 0; tries < 8; tries++) {
        uint32_t s1 = atomic_load_explicit(&k->seq, memory_order_acquire);
        if (s1 == 0)
            return false;
        if (s1 & 1u)
            continue;
        memcpy(out->name, k->name, sizeof(out->name));
        memcpy(out->aes, k->aes, sizeof(out->aes));
        memcpy(out->hmac, k->hmac, sizeof(out->hmac));
        out->created_s = k->created_s;
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&k->seq, memory_order_relaxed) == s1)
            return true;
    }
    return false;
}

static int key_make(struct ticket_key *k)
{
    if (RAND_bytes(k->name, sizeof(k->name)) != 1 || RAND_bytes(k->aes, sizeof(k->aes)) != 1
        || RAND_bytes(k->hmac, sizeof(k->hmac)) != 1) {
        ERR_clear_error();
        return -1;
    }
    k->created_s = now_s();
    return 0;
}

/* Make the next key current (in the slot that no reader uses). */
static void keys_rotate(struct keys_region *r, uint32_t seen)
{
    struct ticket_key fresh;
    if (key_make(&fresh) == -1)
        return;
    int rc = gh_mutex_trylock(&r->lock);
    if (rc < 0)
        return;                         /* another process rotates now */
    if (rc == GH_LOCK_RECOVERED)
        gh_mutex_consistent(&r->lock);  /* a torn slot is never current: rewritten below */
    uint32_t cur = atomic_load(&r->current);
    if (cur == seen) {
        uint32_t next = (cur + 1) % NKEYS;
        key_write(&r->keys[next], &fresh);
        atomic_store(&r->current, next);
    }
    gh_mutex_unlock(&r->lock);
}

static int ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char *iv,
                     EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
    struct ticket_key k;
    int rc = 1;
    GH_UNUSED(ssl);
    if (keys == NULL || ticket_cipher == NULL)
        return 0;                       /* no ticket issued; none accepted */
    if (enc) {
        uint32_t cur = atomic_load(&keys->current);
        if (!key_read(&keys->keys[cur], &k))
            return 0;
        if (now_s() - k.created_s >= atomic_load(&keys->rotation_s)) {
            keys_rotate(keys, cur);
            cur = atomic_load(&keys->current);
            if (!key_read(&keys->keys[cur], &k))
                return 0;
        }
        if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(ticket_cipher)) != 1) {
            ERR_clear_error();
            return -1;
        }
        memcpy(key_name, k.name, 16);
    } else {
        uint32_t cur = atomic_load(&keys->current);
        int age;
        for (age = 0; age < KEYS_VALID; age++) {
            uint32_t slot = (cur + NKEYS - (uint32_t)age) % NKEYS;
            if (key_read(&keys->keys[slot], &k) && memcmp(k.name, key_name, 16) == 0)
                break;
        }
        if (age == KEYS_VALID)
            return 0;                   /* unknown or retired key: a full handshake */
        rc = age > 0 ? 2 : 1;           /* 2: accepted; send a ticket under the current key */
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof(k.hmac)),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_MAC_CTX_set_params(hctx, params)
             && (enc ? EVP_EncryptInit_ex(cctx, ticket_cipher, NULL, k.aes, iv)
                     : EVP_DecryptInit_ex(cctx, ticket_cipher, NULL, k.aes, iv));
    if (!ok) {
        ERR_clear_error();
        return -1;
    }
    return rc;
}

/* ---- the session cache -------------------------------------------------- */

/* Session ids are random: FNV-1a spreads them well enough. */
static uint64_t id_hash(const unsigned char *id, unsigned len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned i = 0; i < len; i++)
        h = (h ^ id[i]) * 0x100000001b3ull;
    return h;
}

static pthread_mutex_t *bucket_lock(uint64_t h)
{
    return gh_stripe_for(&sessions->locks, h / SESS_BUCKETS);
}

static void sess_lock(pthread_mutex_t *m, struct sess_entry *bucket)
{
    if (gh_mutex_lock(m) == GH_LOCK_RECOVERED) {
        /* An owner died mid-copy: that way may be torn. Drop the bucket. */
        for (int w = 0; w < SESS_WAYS; w++)
            bucket[w].id_len = 0;
        gh_mutex_consistent(m);
    }
}

static int sess_new_cb(SSL *ssl, SSL_SESSION *sess)
{
    GH_UNUSED(ssl);
    unsigned idlen;
    const unsigned char *id = SSL_SESSION_get_id(sess, &idlen);
    int derlen = i2d_SSL_SESSION(sess, NULL);
    if (sessions == NULL || idlen == 0 || idlen > SSL_MAX_SSL_SESSION_ID_LENGTH || derlen <= 0
        || derlen > SESS_DER_MAX)
        return 0;
    unsigned char der[SESS_DER_MAX], *p = der;
    if (i2d_SSL_SESSION(sess, &p) != derlen)
        return 0;
    int64_t expires = (int64_t)SSL_SESSION_get_time(sess) + SSL_SESSION_get_timeout(sess);
    uint64_t h = id_hash(id, idlen);
    struct sess_entry *b = sessions->buckets[h % SESS_BUCKETS];
    uint64_t clock = atomic_fetch_add(&sessions->clock, 1) + 1;
    int64_t now = now_s();
    pthread_mutex_t *m = bucket_lock(h);
    sess_lock(m, b);
    struct sess_entry *victim = &b[0];
    for (int w = 0; w < SESS_WAYS; w++) {
        struct sess_entry *e = &b[w];
        if (e->id_len == idlen && memcmp(e->id, id, idlen) == 0) {
            victim = e;
            break;
        }
        if (e->id_len == 0 || e->expires_s <= now) {
            if (victim->id_len != 0 && victim->expires_s > now)
                victim = e;
        } else if (victim->id_len != 0 && victim->expires_s > now && e->used < victim->used) {
            victim = e;
        }
    }
    bool evict = victim->id_len != 0 && victim->expires_s > now
                 && !(victim->id_len == idlen && memcmp(victim->id, id, idlen) == 0);
    victim->id_len = 0;
    memcpy(victim->id, id, idlen);
    memcpy(victim->der, der, (size_t)derlen);
    victim->der_len = (uint16_t)derlen;
    victim->expires_s = expires;
    victim->used = clock;
    victim->id_len = (uint8_t)idlen;
    gh_mutex_unlock(m);
    atomic_fetch_add(&sessions->stored, 1);
    if (evict)
        atomic_fetch_add(&sessions->evicted, 1);
    return 0;                           /* we keep no reference to sess */
}

static SSL_SESSION *sess_get_cb(SSL *ssl, const unsigned char *id, int idlen, int *copy)
{
    GH_UNUSED(ssl);
    *copy = 0;
    if (sessions == NULL || idlen <= 0 || idlen > SSL_MAX_SSL_SESSION_ID_LENGTH)
        return NULL;
    unsigned char der[SESS_DER_MAX];
    size_t derlen = 0;
    uint64_t h = id_hash(id, (unsigned)idlen);
    struct sess_entry *b = sessions->buckets[h % SESS_BUCKETS];
    int64_t now = now_s();
    pthread_mutex_t *m = bucket_lock(h);
    sess_lock(m, b);
    for (int w = 0; w < SESS_WAYS; w++) {
        struct sess_entry *e = &b[w];
        if (e->id_len == (unsigned)idlen && memcmp(e->id, id, (size_t)idlen) == 0) {
            if (e->expires_s > now) {
                derlen = e->der_len;
                memcpy(der, e->der, derlen);
                e->used = atomic_fetch_add(&sessions->clock, 1) + 1;
            } else {
                e->id_len = 0;
            }
            break;
        }
    }
    gh_mutex_unlock(m);
    if (derlen == 0) {
        atomic_fetch_add(&sessions->misses, 1);
        return NULL;
    }
    atomic_fetch_add(&sessions->hits, 1);
    const unsigned char *p = der;
    SSL_SESSION *s = d2i_SSL_SESSION(NULL, &p, (long)derlen);
    if (s == NULL)
        ERR_clear_error();
    return s;
}

static void sess_remove_cb(SSL_CTX *ctx, SSL_SESSION *sess)
{
    GH_UNUSED(ctx);
    unsigned idlen;
    const unsigned char *id = SSL_SESSION_get_id(sess, &idlen);
    if (sessions == NULL || idlen == 0 || idlen > SSL_MAX_SSL_SESSION_ID_LENGTH)
        return;
    uint64_t h = id_hash(id, idlen);
    struct sess_entry *b = sessions->buckets[h % SESS_BUCKETS];
    pthread_mutex_t *m = bucket_lock(h);
    sess_lock(m, b);
    for (int w = 0; w < SESS_WAYS; w++)
        if (b[w].id_len == idlen && memcmp(b[w].id, id, idlen) == 0)
            b[w].id_len = 0;
    gh_mutex_unlock(m);
}

/* ---- setup -------------------------------------------------------------- */

void gh_tls_session_setup(SSL_CTX *ctx, const struct gh_conf_tls *conf)
{
    SSL_CTX_set_timeout(ctx, SESSION_TIMEOUT_S);
    /* One TLS 1.3 ticket per handshake, not OpenSSL's two: a client uses
     * one per connection and a resumption brings a new one. */
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL
                                   | SSL_SESS_CACHE_NO_AUTO_CLEAR);
    SSL_CTX_sess_set_new_cb(ctx, sess_new_cb);
    SSL_CTX_sess_set_get_cb(ctx, sess_get_cb);
    SSL_CTX_sess_set_remove_cb(ctx, sess_remove_cb);
    if (conf->session_tickets) {
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
    } else {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
}

int gh_tls_shm_attach(struct gh_shm *shm, const struct gh_conf *conf)
{
    bool any = false, fresh;
    for (size_t i = 0; i < conf->nlistens; i++)
        any |= conf->listens[i].tls;
    if (!any)
        return 0;
    if (ticket_cipher == NULL) {
        ticket_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
        if (ticket_cipher == NULL) {
            ERR_clear_error();
            gh_log_error("AES-256-CBC is not available: no session tickets");
        }
    }
    struct keys_region *k = gh_shm_region(shm, KEYS_REGION, KEYS_LAYOUT, sizeof(*k), &fresh);
    if (k == NULL) {
        gh_log_warn("no room for the TLS ticket keys in the shared segment: no session tickets");
    } else {
        if (fresh) {
            struct ticket_key first;
            if (gh_mutex_init_shared(&k->lock) == -1 || key_make(&first) == -1)
                return -1;
            key_write(&k->keys[0], &first);
            atomic_store(&k->current, 0);
        }
        atomic_store(&k->rotation_s, conf->tls.ticket_rotation / 1000);
        keys = k;
    }
    size_t size = sizeof(struct sess_region) + gh_stripes_size(SESS_STRIPES)
                  - sizeof(struct gh_stripes);
    struct sess_region *s = gh_shm_region(shm, SESS_REGION, SESS_LAYOUT, size, &fresh);
    if (s == NULL) {
        gh_log_warn("no room for the TLS session cache in the shared segment: sessions "
                    "without tickets are not resumed");
        return 0;
    }
    if (fresh && gh_stripes_init(&s->locks, SESS_STRIPES) == -1)
        return -1;
    sessions = s;
    return 0;
}
