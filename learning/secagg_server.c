/*
 * secagg_server.c - the collector's side of secure aggregation
 * (hush_secagg.h): it relays the devices' boxes, collects masked vectors,
 * signatures and revealed shares, and at the end reconstructs the
 * survivors' self masks and the dropped devices' masking keys -- from t
 * shares each -- and removes them.  If any of those secrets cannot be
 * reconstructed the round fails and nothing is released.
 */
#include <sodium.h>
#include <string.h>

#include "hush_secagg.h"
#include "secagg_internal.h"

enum { U2 = 1, U3 = 2 };

/* The shares revealed about one device: t are enough. */
struct revealed {
    uint32_t n;
    uint32_t *xs;
    uint8_t *shares;
    uint8_t kind;
};

struct hush_secagg_server {
    hush_secagg_params p;
    hush_secagg_keys *keys;
    uint8_t session[HUSH_SECAGG_SESSION_BYTES];
    uint32_t *nb;           /* n x k */
    hush_secagg_box **from; /* each device's boxes (k), or NULL */
    hush_secagg_box **inbox;
    uint32_t *inbox_n;
    uint8_t *state; /* U2 | U3 bits */
    uint32_t **y;
    uint8_t (
        *commit)[HUSH_SECAGG_SESSION_BYTES]; /* each survivor's self-mask commitment */
    bool fixed;                              /* the survivors are fixed */
    uint32_t *survivors, *dropped;
    size_t n_survivors, n_dropped;
    uint8_t *msg; /* the survivor list's signed message */
    size_t msg_len;
    hush_secagg_sig *sigs;
    size_t n_sigs;
    bool *signed_by;
    bool *revealed_by;
    struct revealed *rev; /* per device */
};

int hush_secagg_server_new(const hush_secagg_params *p, const hush_secagg_keys *keys,
                           hush_secagg_server **out, hush_err *err)
{
    *out = NULL;
    int rc = hush_secagg_params_check(p, err);
    if (rc != 0) {
        return rc;
    }
    if (sodium_init() < 0) { /* (it also selects libsodium's SIMD ChaCha20) */
        return hush_err_set(err, HUSH_EIO, "libsodium failed to initialise");
    }
    hush_secagg_server *s = hush_calloc(1, sizeof *s);
    size_t n = p->n;
    if (s != NULL) {
        s->p = *p;
        s->keys = hush_malloc(n * sizeof *keys);
        s->nb = hush_malloc(n * p->k * sizeof *s->nb);
        s->from = hush_calloc(n, sizeof *s->from);
        s->state = hush_calloc(n, 1);
        s->y = hush_calloc(n, sizeof *s->y);
        s->commit = hush_calloc(n, sizeof *s->commit);
        s->sigs = hush_calloc(n, sizeof *s->sigs);
        s->signed_by = hush_calloc(n, sizeof *s->signed_by);
        s->revealed_by = hush_calloc(n, sizeof *s->revealed_by);
        s->rev = hush_calloc(n, sizeof *s->rev);
    }
    if (s == NULL || s->keys == NULL || s->nb == NULL || s->from == NULL ||
        s->state == NULL || s->y == NULL || s->commit == NULL || s->sigs == NULL ||
        s->signed_by == NULL || s->revealed_by == NULL || s->rev == NULL) {
        hush_secagg_server_free(s);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    memcpy(s->keys, keys, n * sizeof *keys);
    hush_secagg_session(p, keys, s->session);
    if ((rc = hush__sa_graph(p, s->session, s->nb)) != 0) {
        hush_secagg_server_free(s);
        return hush_err_set(err, rc, "out of memory");
    }
    *out = s;
    return 0;
}

void hush_secagg_server_free(hush_secagg_server *s)
{
    if (s == NULL) {
        return;
    }
    for (uint32_t i = 0; s->from != NULL && i < s->p.n; i++) {
        hush_free(s->from[i]);
    }
    for (uint32_t i = 0; s->inbox != NULL && i < s->p.n; i++) {
        hush_free(s->inbox[i]);
    }
    for (uint32_t i = 0; s->y != NULL && i < s->p.n; i++) {
        hush_free(s->y[i]);
    }
    for (uint32_t i = 0; s->rev != NULL && i < s->p.n; i++) {
        hush_free(s->rev[i].xs);
        hush_free(s->rev[i].shares);
    }
    hush_free(s->keys);
    hush_free(s->nb);
    hush_free(s->from);
    hush_free(s->inbox);
    hush_free(s->inbox_n);
    hush_free(s->state);
    hush_free(s->y);
    hush_free(s->commit);
    hush_free(s->survivors);
    hush_free(s->dropped);
    hush_free(s->msg);
    hush_free(s->sigs);
    hush_free(s->signed_by);
    hush_free(s->revealed_by);
    hush_free(s->rev);
    hush_free(s);
}

int hush_secagg_server_add_boxes(hush_secagg_server *s, uint32_t from,
                                 const hush_secagg_box *boxes, size_t n, hush_err *err)
{
    if (s->inbox != NULL) {
        return hush_err_set(err, HUSH_ESTATE, "secagg: the share stage is over");
    }
    if (from >= s->p.n || s->from[from] != NULL) {
        return hush_err_set(err, HUSH_EINVAL,
                            "secagg: device %u sent boxes already or "
                            "is not in the list",
                            from);
    }
    const uint32_t *row = s->nb + (size_t)from * s->p.k;
    if (n != s->p.k) {
        return hush_err_set(err, HUSH_EINVAL, "secagg: %zu boxes, %u neighbours", n,
                            s->p.k);
    }
    for (size_t i = 0; i < n; i++) {
        if (boxes[i].from != from || boxes[i].to != row[i]) {
            return hush_err_set(err, HUSH_EINVAL,
                                "secagg: box %zu is not from %u to its neighbour %u", i,
                                from, row[i]);
        }
    }
    s->from[from] = hush_malloc(n * sizeof *boxes);
    if (s->from[from] == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    memcpy(s->from[from], boxes, n * sizeof *boxes);
    s->state[from] |= U2;
    return 0;
}

/* The share stage closed: every box sorted to its receiver. */
static int build_inboxes(hush_secagg_server *s, hush_err *err)
{
    uint32_t n = s->p.n, k = s->p.k;
    s->inbox = hush_calloc(n, sizeof *s->inbox);
    s->inbox_n = hush_calloc(n, sizeof *s->inbox_n);
    for (uint32_t i = 0; s->inbox != NULL && s->inbox_n != NULL && i < n; i++) {
        s->inbox[i] = hush_malloc((size_t)k * sizeof **s->inbox);
        if (s->inbox[i] == NULL) {
            break;
        }
    }
    for (uint32_t i = 0; s->inbox != NULL && s->inbox_n != NULL && i < n; i++) {
        if (s->inbox[i] == NULL) {
            return hush_err_set(err, HUSH_ENOMEM, "out of memory");
        }
        for (uint32_t j = 0; s->from[i] != NULL && j < k; j++) {
            uint32_t to = s->from[i][j].to;
            s->inbox[to][s->inbox_n[to]++] = s->from[i][j];
        }
    }
    return s->inbox != NULL && s->inbox_n != NULL
               ? 0
               : hush_err_set(err, HUSH_ENOMEM, "out of memory");
}

int hush_secagg_server_boxes_for(hush_secagg_server *s, uint32_t to,
                                 const hush_secagg_box **out, size_t *n, hush_err *err)
{
    if (to >= s->p.n) {
        return hush_err_set(err, HUSH_EINVAL, "secagg: no device %u", to);
    }
    int rc = s->inbox == NULL ? build_inboxes(s, err) : 0;
    if (rc == 0) {
        *out = s->inbox[to];
        *n = s->inbox_n[to];
    }
    return rc;
}

int hush_secagg_server_add_masked(hush_secagg_server *s, uint32_t from, const uint32_t *y,
                                  const uint8_t commit[HUSH_SECAGG_SESSION_BYTES],
                                  hush_err *err)
{
    if (s->fixed) {
        return hush_err_set(err, HUSH_ESTATE, "secagg: the survivors are fixed");
    }
    if (from >= s->p.n || !(s->state[from] & U2) || s->y[from] != NULL) {
        return hush_err_set(err, HUSH_EINVAL,
                            "secagg: device %u sent no shares, or its vector already",
                            from);
    }
    s->y[from] = hush_malloc((size_t)s->p.length * sizeof *y);
    if (s->y[from] == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    memcpy(s->y[from], y, (size_t)s->p.length * sizeof *y);
    memcpy(s->commit[from], commit, HUSH_SECAGG_SESSION_BYTES);
    s->state[from] |= U3;
    return 0;
}

int hush_secagg_server_survivors(hush_secagg_server *s, const uint32_t **list, size_t *n,
                                 hush_err *err)
{
    if (!s->fixed) {
        s->survivors = hush_malloc(((size_t)s->p.n + 1) * sizeof *s->survivors);
        s->dropped = hush_malloc(((size_t)s->p.n + 1) * sizeof *s->dropped);
        if (s->survivors == NULL || s->dropped == NULL) {
            return hush_err_set(err, HUSH_ENOMEM, "out of memory");
        }
        for (uint32_t i = 0; i < s->p.n; i++) {
            if (s->state[i] & U3) {
                s->survivors[s->n_survivors++] = i;
            } else if (s->state[i] & U2) {
                s->dropped[s->n_dropped++] = i;
            }
        }
        s->msg = hush__sa_survivors_message(s->session, s->survivors, s->n_survivors,
                                            &s->msg_len);
        if (s->msg == NULL) {
            return hush_err_set(err, HUSH_ENOMEM, "out of memory");
        }
        s->fixed = true;
    }
    *list = s->survivors;
    *n = s->n_survivors;
    return 0;
}

int hush_secagg_server_add_sig(hush_secagg_server *s, uint32_t from,
                               const uint8_t sig[HUSH_SECAGG_SIG_BYTES], hush_err *err)
{
    if (!s->fixed || from >= s->p.n || !(s->state[from] & U3) || s->signed_by[from]) {
        return hush_err_set(err, HUSH_EINVAL,
                            "secagg: a signature from %u is not expected now", from);
    }
    if (crypto_sign_verify_detached(sig, s->msg, s->msg_len, s->keys[from].sign_pk) !=
        0) {
        return hush_err_set(err, HUSH_EINVAL,
                            "secagg: device %u's signature does not verify", from);
    }
    s->sigs[s->n_sigs].from = from;
    memcpy(s->sigs[s->n_sigs].sig, sig, HUSH_SECAGG_SIG_BYTES);
    s->n_sigs++;
    s->signed_by[from] = true;
    return 0;
}

int hush_secagg_server_unmask_request(hush_secagg_server *s, const hush_secagg_sig **sigs,
                                      size_t *n_sigs, const uint32_t **dropped,
                                      size_t *n_dropped, hush_err *err)
{
    if (!s->fixed || s->n_sigs < s->p.q) {
        return hush_err_set(err, HUSH_ESTATE,
                            "secagg: %zu survivors signed; the round needs %u", s->n_sigs,
                            s->p.q);
    }
    *sigs = s->sigs;
    *n_sigs = s->p.q; /* a device needs q; more only cost bandwidth */
    *dropped = s->dropped;
    *n_dropped = s->n_dropped;
    return 0;
}

int hush_secagg_server_add_reveals(hush_secagg_server *s, uint32_t from,
                                   const hush_secagg_reveal *r, size_t n, hush_err *err)
{
    if (!s->fixed || from >= s->p.n || !s->signed_by[from] || s->revealed_by[from]) {
        return hush_err_set(err, HUSH_EINVAL,
                            "secagg: reveals from %u are not expected now", from);
    }
    const uint32_t *row = s->nb + (size_t)from * s->p.k;
    for (size_t i = 0; i < n; i++) {
        uint32_t a = r[i].about;
        uint8_t want = a < s->p.n && (s->state[a] & U3) ? HUSH_SECAGG_SELF_SHARE
                                                        : HUSH_SECAGG_KEY_SHARE;
        if (r[i].from != from || a >= s->p.n || hush__sa_find(row, s->p.k, a) < 0 ||
            !(s->state[a] & U2) || r[i].kind != want) {
            return hush_err_set(err, HUSH_EINVAL, "secagg: reveal %zu from %u is wrong",
                                i, from);
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct revealed *rv = &s->rev[r[i].about];
        if (rv->xs == NULL) {
            rv->xs = hush_malloc((size_t)s->p.k * sizeof *rv->xs);
            rv->shares = hush_malloc((size_t)s->p.k * HUSH_SECAGG_SHARE_BYTES);
            if (rv->xs == NULL || rv->shares == NULL) {
                return hush_err_set(err, HUSH_ENOMEM, "out of memory");
            }
        }
        if (rv->n < s->p.k) {
            rv->xs[rv->n] = from + 1;
            memcpy(rv->shares + (size_t)rv->n * HUSH_SECAGG_SHARE_BYTES, r[i].share,
                   HUSH_SECAGG_SHARE_BYTES);
            rv->kind = r[i].kind;
            rv->n++;
        }
    }
    s->revealed_by[from] = true;
    return 0;
}

/* Whether a secret rebuilt for device i is the one it committed to: its
 * self-mask commitment (a survivor) or its public masking key (dropped). */
static bool genuine(const hush_secagg_server *s, uint32_t i,
                    const uint8_t secret[HUSH__SECRET_BYTES])
{
    uint8_t h[32], sk[32];
    if (s->state[i] & U3) {
        hush__sa_derive(h, "self-commit", s->session, secret, HUSH__SECRET_BYTES, NULL,
                        0);
        return sodium_memcmp(h, s->commit[i], 32) == 0;
    }
    hush__sa_mask_keypair(secret, h, sk);
    sodium_memzero(sk, sizeof sk);
    return sodium_memcmp(h, s->keys[i].mask_pk, 32) == 0;
}

/* The secret of device i from the shares revealed about it: the first t,
 * or (if they do not rebuild the committed secret) the first t without
 * share `skip`, for each share in turn -- one bad share is found when more
 * than t were revealed.  HUSH_ESTATE if none rebuilds it. */
static int join(hush_secagg_server *s, uint32_t i, uint8_t secret[HUSH__SECRET_BYTES],
                hush_err *err)
{
    const struct revealed *rv = &s->rev[i];
    uint32_t t = s->p.t;
    if (rv->n < t) {
        return hush_err_set(err, HUSH_ESTATE,
                            "secagg: %u shares about device %u; %u are needed: the round "
                            "fails and releases nothing",
                            rv->n, i, t);
    }
    uint32_t *px = hush_malloc((size_t)t * sizeof *px);
    uint8_t *ps = hush_malloc((size_t)t * HUSH_SECAGG_SHARE_BYTES);
    int rc = px != NULL && ps != NULL ? HUSH_ESTATE
                                      : hush_err_set(err, HUSH_ENOMEM, "out of memory");
    /* attempt 0 skips nothing; attempt a > 0 skips share a - 1 */
    uint32_t attempts = rv->n > t ? rv->n + 1 : 1;
    for (uint32_t a = 0; rc == HUSH_ESTATE && a < attempts; a++) {
        uint32_t skip = a == 0 ? UINT32_MAX : a - 1;
        for (uint32_t j = 0, m = 0; m < t; j++) {
            if (j != skip) {
                px[m] = rv->xs[j];
                memcpy(ps + (size_t)m * HUSH_SECAGG_SHARE_BYTES,
                       rv->shares + (size_t)j * HUSH_SECAGG_SHARE_BYTES,
                       HUSH_SECAGG_SHARE_BYTES);
                m++;
            }
        }
        if (hush__shamir_join(px, ps, t, secret, err) == 0 && genuine(s, i, secret)) {
            rc = 0;
        }
    }
    if (ps != NULL) {
        sodium_memzero(ps, (size_t)t * HUSH_SECAGG_SHARE_BYTES);
    }
    hush_free(px);
    hush_free(ps);
    if (rc == HUSH_ESTATE) {
        sodium_memzero(secret, HUSH__SECRET_BYTES);
        hush_err_clear(err);
        return hush_err_set(
            err, HUSH_ESTATE,
            "secagg: the shares revealed about device %u do not rebuild the "
            "secret it committed to: the round fails and releases nothing",
            i);
    }
    return rc;
}

/* Removes dropped device v's pairwise masks from the sum: each surviving
 * neighbour w added sign(w, v) * PRG(k_wv). */
static int remove_dropped(hush_secagg_server *s, uint32_t v, uint32_t *sum, uint32_t *buf,
                          hush_err *err)
{
    uint8_t secret[HUSH__SECRET_BYTES], pk[32], sk[32], key[32];
    int rc = join(s, v, secret, err);
    if (rc != 0) {
        return rc;
    }
    hush__sa_mask_keypair(secret, pk, sk); /* join checked pk against the key list */
    sodium_memzero(secret, sizeof secret);
    const uint32_t *row = s->nb + (size_t)v * s->p.k;
    for (uint32_t j = 0; rc == 0 && j < s->p.k; j++) {
        uint32_t w = row[j];
        if (!(s->state[w] & U3)) {
            continue;
        }
        if (hush__sa_pair_key(s->session, v, pk, sk, w, s->keys[w].mask_pk, key) != 0) {
            rc = hush_err_set(err, HUSH_ESTATE, "secagg: an unusable masking key");
            break;
        }
        hush__sa_add_mask(sum, buf, s->p.length, key, w < v ? -1 : +1);
    }
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(key, sizeof key);
    return rc;
}

int hush_secagg_server_finish(hush_secagg_server *s, uint32_t *sum, hush_err *err)
{
    if (!s->fixed || s->n_sigs < s->p.q) {
        return hush_err_set(err, HUSH_ESTATE, "secagg: the round is not at unmasking");
    }
    uint32_t len = s->p.length;
    uint32_t *acc = hush_calloc(len, sizeof *acc), *buf = hush_malloc(len * sizeof *buf);
    int rc =
        acc != NULL && buf != NULL ? 0 : hush_err_set(err, HUSH_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < s->n_survivors; i++) {
        const uint32_t *y = s->y[s->survivors[i]];
        for (uint32_t c = 0; c < len; c++) {
            acc[c] += y[c];
        }
    }
    uint8_t secret[HUSH__SECRET_BYTES], key[32];
    for (size_t i = 0; rc == 0 && i < s->n_survivors; i++) {
        uint32_t u = s->survivors[i];
        if ((rc = join(s, u, secret, err)) == 0) {
            hush__sa_derive(key, "self", s->session, secret, HUSH__SECRET_BYTES, NULL, 0);
            hush__sa_add_mask(acc, buf, len, key, -1);
        }
    }
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(key, sizeof key);
    for (size_t i = 0; rc == 0 && i < s->n_dropped; i++) {
        rc = remove_dropped(s, s->dropped[i], acc, buf, err);
    }
    if (rc == 0) {
        uint32_t top = s->p.bits == 32 ? UINT32_MAX : (1u << s->p.bits) - 1;
        for (uint32_t c = 0; c < len; c++) {
            sum[c] = acc[c] & top;
        }
    }
    hush_free(acc);
    hush_free(buf);
    return rc;
}
