/*
 * secagg_client.c - the device's side of secure aggregation
 * (hush_secagg.h): it keeps its secrets, checks everything the collector
 * says against what it can compute itself, and aborts for good at the
 * first inconsistency.  Secrets live in sodium_malloc'd memory and are
 * wiped when the device is freed.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "hush_secagg.h"
#include "secagg_internal.h"

enum stage { NEW, SHARED, MASKED, SIGNED, DONE, ABORTED };

/* What the device keeps secret. */
struct secrets {
    uint8_t enc_sk[crypto_kx_SECRETKEYBYTES];
    uint8_t mask_secret[HUSH__SECRET_BYTES]; /* Shamir-shared */
    uint8_t mask_sk[crypto_kx_SECRETKEYBYTES];
    uint8_t self_secret[HUSH__SECRET_BYTES]; /* Shamir-shared */
    uint8_t sign_sk[crypto_sign_SECRETKEYBYTES];
};

struct hush_secagg_client {
    hush_secagg_policy policy;
    enum stage stage;
    hush_secagg_keys mine;
    struct secrets *sec;
    hush_secagg_params p;
    hush_secagg_keys *keys; /* the key list (n) */
    uint8_t session[HUSH_SECAGG_SESSION_BYTES];
    uint32_t me;
    uint32_t *nb; /* my k neighbours, ascending */
    /* per neighbour: whether it sent me shares, and them */
    bool *heard;
    uint8_t *shares; /* k x (self share, key share) */
    uint8_t *signed_msg;
    size_t signed_len;
};

static int abort_with(hush_secagg_client *c, hush_err *err, const char *why)
{
    c->stage = ABORTED;
    if (c->sec != NULL) {
        sodium_memzero(c->sec, sizeof *c->sec);
    }
    return hush_err_set(err, HUSH_ESTATE, "secagg: device aborts: %s", why);
}

static int at(const hush_secagg_client *c, enum stage want, hush_err *err)
{
    if (c->stage == ABORTED) {
        return hush_err_set(err, HUSH_ESTATE,
                            "secagg: this device has aborted the round");
    }
    return c->stage == want
               ? 0
               : hush_err_set(err, HUSH_ESTATE, "secagg: a message out of order");
}

int hush_secagg_client_new(const hush_secagg_policy *policy, hush_secagg_client **out,
                           hush_secagg_keys *keys, hush_err *err)
{
    *out = NULL;
    if (sodium_init() < 0) {
        return hush_err_set(err, HUSH_EIO, "libsodium failed to initialise");
    }
    hush_secagg_client *c = hush_calloc(1, sizeof *c);
    struct secrets *sec = sodium_malloc(sizeof *sec);
    if (c == NULL || sec == NULL) {
        hush_free(c);
        if (sec != NULL) {
            sodium_free(sec);
        }
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    c->sec = sec;
    c->policy = policy != NULL ? *policy : (hush_secagg_policy){0};
    if (c->policy.min_devices < 2) {
        c->policy.min_devices = 2;
    }
    if (c->policy.min_threshold < 2) {
        c->policy.min_threshold = 2;
    }
    crypto_kx_keypair(c->mine.enc_pk, sec->enc_sk);
    hush__secret_random(sec->mask_secret);
    hush__sa_mask_keypair(sec->mask_secret, c->mine.mask_pk, sec->mask_sk);
    hush__secret_random(sec->self_secret);
    crypto_sign_keypair(c->mine.sign_pk, sec->sign_sk);
    *keys = c->mine;
    *out = c;
    return 0;
}

void hush_secagg_client_free(hush_secagg_client *c)
{
    if (c == NULL) {
        return;
    }
    sodium_free(c->sec); /* zeroes it */
    if (c->shares != NULL) {
        sodium_memzero(c->shares, (size_t)c->p.k * 2 * HUSH_SECAGG_SHARE_BYTES);
    }
    hush_free(c->shares);
    hush_free(c->keys);
    hush_free(c->nb);
    hush_free(c->heard);
    hush_free(c->signed_msg);
    hush_free(c);
}

uint32_t hush_secagg_client_index(const hush_secagg_client *c)
{
    return c->me;
}

static int cmp32(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

/* The key list: mine exactly once, no key twice, parameters within policy. */
static int check_list(hush_secagg_client *c, const hush_secagg_params *p,
                      const hush_secagg_keys *keys, hush_err *err)
{
    hush_err local = {0};
    if (hush_secagg_params_check(p, &local) != 0) {
        return abort_with(c, err, local.msg);
    }
    uint32_t c_max = (uint32_t)(c->policy.max_dishonest * p->n + 0.999999);
    if (p->n < c->policy.min_devices || p->t < c->policy.min_threshold ||
        p->q <= (p->n + c_max) / 2) {
        return abort_with(c, err,
                          "the round's parameters are below this device's policy");
    }
    uint32_t found = 0;
    for (uint32_t i = 0; i < p->n; i++) {
        if (memcmp(&keys[i], &c->mine, sizeof c->mine) == 0) {
            found++;
            c->me = i;
        }
    }
    if (found != 1) {
        return abort_with(c, err,
                          found == 0 ? "its keys are not in the key list"
                                     : "its keys are in the key list twice");
    }
    /* no public key twice anywhere (a copied key would let the collector
     * pose as a neighbour): sort a copy of every key */
    size_t m = (size_t)p->n * 3;
    uint8_t(*all)[32] = hush_malloc(m * 32);
    if (all == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < p->n; i++) {
        memcpy(all[3 * i], keys[i].enc_pk, 32);
        memcpy(all[3 * i + 1], keys[i].mask_pk, 32);
        memcpy(all[3 * i + 2], keys[i].sign_pk, 32);
    }
    qsort(all, m, 32, cmp32);
    bool dup = false;
    for (size_t i = 1; i < m && !dup; i++) {
        dup = memcmp(all[i], all[i - 1], 32) == 0;
    }
    hush_free(all);
    return dup ? abort_with(c, err, "a public key appears twice in the key list") : 0;
}

/* My shares for neighbour j: both secrets' shares at x = nb + 1, boxed. */
static int box_for(hush_secagg_client *c, uint32_t v, const uint8_t *self_share,
                   const uint8_t *key_share, hush_secagg_box *out)
{
    uint8_t rx[32], tx[32], ad[44], nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    uint8_t plain[2 * HUSH_SECAGG_SHARE_BYTES];
    if (hush__sa_kx(c->me, c->mine.enc_pk, c->sec->enc_sk, v, c->keys[v].enc_pk, rx,
                    tx) != 0) {
        return -1;
    }
    memcpy(plain, self_share, HUSH_SECAGG_SHARE_BYTES);
    memcpy(plain + HUSH_SECAGG_SHARE_BYTES, key_share, HUSH_SECAGG_SHARE_BYTES);
    hush__sa_box_ad(ad, c->session, c->me, v, c->p.round);
    hush__sa_box_nonce(nonce, c->session, ad);
    out->from = c->me;
    out->to = v;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out->box, NULL, plain, sizeof plain, ad,
                                               sizeof ad, NULL, nonce, tx);
    sodium_memzero(plain, sizeof plain);
    sodium_memzero(rx, sizeof rx);
    sodium_memzero(tx, sizeof tx);
    return 0;
}

int hush_secagg_client_share(hush_secagg_client *c, const hush_secagg_params *p,
                             const hush_secagg_keys *keys, hush_secagg_box **out,
                             size_t *n_out, hush_err *err)
{
    *out = NULL;
    *n_out = 0;
    int rc = at(c, NEW, err);
    if (rc != 0 || (rc = check_list(c, p, keys, err)) != 0) {
        return rc;
    }
    c->p = *p;
    c->keys = hush_malloc((size_t)p->n * sizeof *keys);
    uint32_t *all = hush_malloc((size_t)p->n * p->k * sizeof *all);
    c->nb = hush_malloc((size_t)p->k * sizeof *c->nb);
    c->heard = hush_calloc(p->k, sizeof *c->heard);
    c->shares = hush_calloc((size_t)p->k * 2, HUSH_SECAGG_SHARE_BYTES);
    uint32_t *xs = hush_malloc((size_t)p->k * sizeof *xs);
    uint8_t *self_sh = hush_malloc((size_t)p->k * HUSH_SECAGG_SHARE_BYTES);
    uint8_t *key_sh = hush_malloc((size_t)p->k * HUSH_SECAGG_SHARE_BYTES);
    hush_secagg_box *boxes = hush_calloc(p->k, sizeof *boxes);
    if (c->keys == NULL || all == NULL || c->nb == NULL || c->heard == NULL ||
        c->shares == NULL || xs == NULL || self_sh == NULL || key_sh == NULL ||
        boxes == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        memcpy(c->keys, keys, (size_t)p->n * sizeof *keys);
        hush_secagg_session(p, keys, c->session);
        rc = hush__sa_graph(p, c->session, all);
        rc = rc != 0 ? hush_err_set(err, rc, "out of memory") : 0;
    }
    if (rc == 0) {
        memcpy(c->nb, all + (size_t)c->me * p->k, p->k * sizeof *c->nb);
        for (uint32_t j = 0; j < p->k; j++) {
            xs[j] = c->nb[j] + 1;
        }
        rc = hush__shamir_split(c->sec->self_secret, p->t, xs, p->k, self_sh, err);
    }
    if (rc == 0) {
        rc = hush__shamir_split(c->sec->mask_secret, p->t, xs, p->k, key_sh, err);
    }
    for (uint32_t j = 0; rc == 0 && j < p->k; j++) {
        if (box_for(c, c->nb[j], self_sh + (size_t)j * HUSH_SECAGG_SHARE_BYTES,
                    key_sh + (size_t)j * HUSH_SECAGG_SHARE_BYTES, &boxes[j]) != 0) {
            rc = abort_with(c, err, "a neighbour's encryption key is unusable");
        }
    }
    if (self_sh != NULL) {
        sodium_memzero(self_sh, (size_t)p->k * HUSH_SECAGG_SHARE_BYTES);
    }
    if (key_sh != NULL) {
        sodium_memzero(key_sh, (size_t)p->k * HUSH_SECAGG_SHARE_BYTES);
    }
    hush_free(self_sh);
    hush_free(key_sh);
    hush_free(xs);
    hush_free(all);
    if (rc != 0) {
        hush_free(boxes);
        c->stage = ABORTED;
        return rc;
    }
    c->stage = SHARED;
    *out = boxes;
    *n_out = p->k;
    return 0;
}

/* Opens one box addressed to me; stores its shares. */
static int open_box(hush_secagg_client *c, const hush_secagg_box *b, hush_err *err)
{
    long j = b->to == c->me ? hush__sa_find(c->nb, c->p.k, b->from) : -1;
    if (j < 0) {
        return abort_with(c, err, "a box not from a neighbour, or not for this device");
    }
    if (c->heard[j]) {
        return abort_with(c, err, "two boxes from one neighbour");
    }
    uint8_t rx[32], tx[32], ad[44], nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    if (hush__sa_kx(c->me, c->mine.enc_pk, c->sec->enc_sk, b->from,
                    c->keys[b->from].enc_pk, rx, tx) != 0) {
        return abort_with(c, err, "a neighbour's encryption key is unusable");
    }
    hush__sa_box_ad(ad, c->session, b->from, c->me, c->p.round);
    hush__sa_box_nonce(nonce, c->session, ad);
    uint8_t *dst = c->shares + (size_t)j * 2 * HUSH_SECAGG_SHARE_BYTES;
    int bad = crypto_aead_xchacha20poly1305_ietf_decrypt(
        dst, NULL, NULL, b->box, sizeof b->box, ad, sizeof ad, nonce, rx);
    sodium_memzero(rx, sizeof rx);
    sodium_memzero(tx, sizeof tx);
    if (bad != 0) {
        /* forged, or sealed in another session: the sender saw another key
         * list than this device */
        return abort_with(c, err, "a box does not open (another view of the key list?)");
    }
    c->heard[j] = true;
    return 0;
}

int hush_secagg_client_mask(hush_secagg_client *c, const hush_secagg_box *in, size_t n_in,
                            const uint32_t *input, uint32_t **y,
                            uint8_t commit[HUSH_SECAGG_SESSION_BYTES], hush_err *err)
{
    *y = NULL;
    int rc = at(c, SHARED, err);
    for (size_t i = 0; rc == 0 && i < n_in; i++) {
        rc = open_box(c, &in[i], err);
    }
    if (rc != 0) {
        return rc;
    }
    if (n_in < c->p.t) {
        return abort_with(c, err, "fewer neighbours than the threshold sent shares");
    }
    uint32_t len = c->p.length,
             top = c->p.bits == 32 ? UINT32_MAX : (1u << c->p.bits) - 1;
    for (uint32_t i = 0; i < len; i++) {
        if (input[i] > top) {
            return hush_err_set(err, HUSH_EINVAL, "secagg: input %u is not below 2^%u", i,
                                c->p.bits);
        }
    }
    uint32_t *acc = hush_malloc((size_t)len * sizeof *acc);
    uint32_t *buf = hush_malloc((size_t)len * sizeof *buf);
    if (acc == NULL || buf == NULL) {
        hush_free(acc);
        hush_free(buf);
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    memcpy(acc, input, (size_t)len * sizeof *acc);
    uint8_t key[32];
    hush__sa_derive(key, "self", c->session, c->sec->self_secret, HUSH__SECRET_BYTES,
                    NULL, 0);
    hush__sa_add_mask(acc, buf, len, key, +1);
    for (uint32_t j = 0; rc == 0 && j < c->p.k; j++) {
        uint32_t v = c->nb[j];
        if (!c->heard[j]) {
            continue; /* it dropped before sharing: nobody masks with it */
        }
        if (hush__sa_pair_key(c->session, c->me, c->mine.mask_pk, c->sec->mask_sk, v,
                              c->keys[v].mask_pk, key) != 0) {
            rc = abort_with(c, err, "a neighbour's masking key is unusable");
            break;
        }
        hush__sa_add_mask(acc, buf, len, key, c->me < v ? +1 : -1);
    }
    sodium_memzero(key, sizeof key);
    sodium_memzero(buf, (size_t)len * sizeof *buf);
    hush_free(buf);
    if (rc != 0) {
        hush_free(acc);
        return rc;
    }
    for (uint32_t i = 0; i < len; i++) {
        acc[i] &= top;
    }
    hush__sa_derive(commit, "self-commit", c->session, c->sec->self_secret,
                    HUSH__SECRET_BYTES, NULL, 0);
    c->stage = MASKED;
    *y = acc;
    return 0;
}

int hush_secagg_client_sign(hush_secagg_client *c, const uint32_t *survivors,
                            size_t n_survivors, uint8_t sig[HUSH_SECAGG_SIG_BYTES],
                            hush_err *err)
{
    int rc = at(c, MASKED, err);
    if (rc != 0) {
        return rc;
    }
    if (!hush__sa_sorted_unique(survivors, n_survivors, c->p.n)) {
        return abort_with(c, err,
                          "the survivor list is not ascending, unique, in the list");
    }
    if (hush__sa_find(survivors, n_survivors, c->me) < 0) {
        return abort_with(c, err, "the survivor list leaves out this device");
    }
    if (n_survivors < c->p.q) {
        return abort_with(c, err, "fewer survivors than the signatures a round needs");
    }
    if (n_survivors < c->policy.min_survivors) {
        return abort_with(c, err,
                          "fewer survivors than the devices whose noise this device's "
                          "privacy counts on");
    }
    /* a survivor must have sent shares: every neighbour on the list that
     * this device did not hear from is a contradiction */
    for (uint32_t j = 0; j < c->p.k; j++) {
        if (!c->heard[j] && hush__sa_find(survivors, n_survivors, c->nb[j]) >= 0) {
            return abort_with(c, err, "a survivor never sent this device its shares");
        }
    }
    c->signed_msg =
        hush__sa_survivors_message(c->session, survivors, n_survivors, &c->signed_len);
    if (c->signed_msg == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    crypto_sign_detached(sig, NULL, c->signed_msg, c->signed_len, c->sec->sign_sk);
    c->stage = SIGNED; /* it signs one list, once */
    return 0;
}

/* Whether the survivor list this device signed holds i (it is in the
 * signed message, after the 46-byte header). */
static bool signed_holds(const hush_secagg_client *c, uint32_t i)
{
    size_t n = (c->signed_len - 46) / 4;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const uint8_t *b = c->signed_msg + 46 + 4 * mid;
        uint32_t x = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                     (uint32_t)b[3] << 24;
        if (x == i) {
            return true;
        }
        if (x < i) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

/* At least q valid signatures by distinct survivors on the signed list. */
static int check_sigs(hush_secagg_client *c, const hush_secagg_sig *sigs, size_t n,
                      hush_err *err)
{
    uint8_t *seen = hush_calloc(c->p.n, 1);
    if (seen == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    uint32_t good = 0;
    for (size_t i = 0; i < n && good < c->p.q; i++) { /* q are enough */
        uint32_t f = sigs[i].from;
        if (f >= c->p.n || seen[f] || !signed_holds(c, f)) {
            continue;
        }
        if (crypto_sign_verify_detached(sigs[i].sig, c->signed_msg, c->signed_len,
                                        c->keys[f].sign_pk) == 0) {
            seen[f] = 1;
            good++;
        }
    }
    hush_free(seen);
    return good >= c->p.q ? 0
                          : abort_with(c, err,
                                       "fewer than q survivors signed the list this "
                                       "device signed");
}

int hush_secagg_client_unmask(hush_secagg_client *c, const hush_secagg_sig *sigs,
                              size_t n_sigs, const uint32_t *dropped, size_t n_dropped,
                              hush_secagg_reveal **out, size_t *n_out, hush_err *err)
{
    *out = NULL;
    *n_out = 0;
    if (c->stage == DONE) {
        return abort_with(c, err, "a second unmask request");
    }
    int rc = at(c, SIGNED, err);
    if (rc != 0 || (rc = check_sigs(c, sigs, n_sigs, err)) != 0) {
        return rc;
    }
    if (!hush__sa_sorted_unique(dropped, n_dropped, c->p.n)) {
        return abort_with(c, err,
                          "the dropped list is not ascending, unique, in the list");
    }
    for (size_t i = 0; i < n_dropped; i++) {
        if (signed_holds(c, dropped[i])) {
            return abort_with(c, err, "a device is listed as alive and as dropped");
        }
    }
    hush_secagg_reveal *r = hush_calloc(c->p.k + 1, sizeof *r);
    if (r == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory");
    }
    size_t m = 0;
    for (uint32_t j = 0; j < c->p.k; j++) {
        uint32_t v = c->nb[j];
        if (!c->heard[j]) {
            continue;
        }
        bool alive = signed_holds(c, v);
        if (!alive && hush__sa_find(dropped, n_dropped, v) < 0) {
            hush_free(r);
            return abort_with(c, err, "a neighbour is neither a survivor nor dropped");
        }
        /* one share per neighbour, never both: the self-mask share of a
         * survivor, the masking-key share of a dropped device */
        r[m].from = c->me;
        r[m].about = v;
        r[m].kind = alive ? HUSH_SECAGG_SELF_SHARE : HUSH_SECAGG_KEY_SHARE;
        memcpy(r[m].share,
               c->shares + ((size_t)j * 2 + (alive ? 0 : 1)) * HUSH_SECAGG_SHARE_BYTES,
               HUSH_SECAGG_SHARE_BYTES);
        m++;
    }
    c->stage = DONE;
    sodium_memzero(c->shares, (size_t)c->p.k * 2 * HUSH_SECAGG_SHARE_BYTES);
    *out = r;
    *n_out = m;
    return 0;
}
