/*
 * secagg.c - secure aggregation (hush_secagg.h): parameters, the session
 * and its graph, the key derivations, and the device's and the collector's
 * sides of the stages.
 *
 * Derivations (every key hashed with the session id, so nothing carries
 * over between rounds; BLAKE2b is libsodium's crypto_generichash):
 *  - masking key pair of device u: crypto_kx_seed_keypair(H("mask-seed",
 *    m_u)) for a secret m_u (two GF(p) elements, what is Shamir-shared);
 *  - pairwise mask key of u < v: crypto_kx session keys with u as client,
 *    H("pair", session, tx_u || rx_u) -- both sides compute the same;
 *  - self mask key: H("self", session, b_u);
 *  - a mask: ChaCha20 (IETF, libsodium's vectorized implementation) keyed
 *    by the whole 32-byte key, nonce 0 (each key masks one vector);
 *  - share boxes: XChaCha20-Poly1305 with u's crypto_kx transmit key for
 *    v, nonce H("nonce", session, u, v), associated data session, u, v,
 *    round.
 */
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "hush_secagg.h"
#include "secagg_internal.h"

/* ---- parameters ---- */

int hush_secagg_params_check(const hush_secagg_params *p, hush_err *err)
{
    if (p->n < 2 || p->n > HUSH_SECAGG_MAX_DEVICES) {
        return hush_err_set(err, HUSH_EINVAL, "secagg: n must be in [2, %d]",
                            HUSH_SECAGG_MAX_DEVICES);
    }
    if (!(p->k == p->n - 1 || (p->k % 2 == 0 && p->k >= 2 && p->k < p->n - 1))) {
        return hush_err_set(err, HUSH_EINVAL,
                            "secagg: k must be even and below n - 1, or n - 1");
    }
    if (p->t < 2 || p->t > p->k) {
        return hush_err_set(err, HUSH_EINVAL, "secagg: t must be in [2, k]");
    }
    if (p->q <= p->n / 2 || p->q > p->n) {
        return hush_err_set(err, HUSH_EINVAL, "secagg: q must be a majority of n");
    }
    if (p->bits < 1 || p->bits > 32 || p->length < 1 ||
        p->length > HUSH_SECAGG_MAX_LENGTH) {
        return hush_err_set(err, HUSH_EINVAL,
                            "secagg: bits in [1, 32] and length in [1, %u]",
                            HUSH_SECAGG_MAX_LENGTH);
    }
    return 0;
}

/* log P[Bin(k, p) >= t] (log of 0 is -inf). */
static double log_tail_ge(uint32_t k, double p, uint32_t t)
{
    if (t == 0) {
        return 0.0;
    }
    if (p <= 0.0) {
        return -INFINITY;
    }
    double terms = -INFINITY;
    for (uint32_t i = t; i <= k; i++) {
        double lt = lgamma(k + 1.0) - lgamma(i + 1.0) - lgamma(k - i + 1.0) + i * log(p) +
                    (k - i) * log1p(-p);
        terms = terms > lt ? terms + log1p(exp(lt - terms)) : lt + log1p(exp(terms - lt));
    }
    return terms;
}

int hush_secagg_choose(uint32_t n, double dropout, double dishonest, unsigned security,
                       unsigned correctness, uint32_t bits, uint32_t length,
                       hush_secagg_params *out, hush_err *err)
{
    if (!(dropout >= 0 && dropout < 1) || !(dishonest >= 0 && dishonest < 0.5) || n < 3 ||
        n > HUSH_SECAGG_MAX_DEVICES) {
        return hush_err_set(err, HUSH_EINVAL,
                            "secagg: n in [3, %d], dropout in [0, 1), dishonest in "
                            "[0, 0.5)",
                            HUSH_SECAGG_MAX_DEVICES);
    }
    uint32_t c = (uint32_t)ceil(dishonest * n);
    uint32_t q = (n + c) / 2 + 1;
    if ((double)n * (1.0 - dropout) < q) {
        return hush_err_set(err, HUSH_EINVAL,
                            "secagg: with %.0f%% dropping out, fewer than the %u "
                            "signatures a round needs would remain",
                            100 * dropout, q);
    }
    double ln2 = log(2.0), logn = log((double)n);
    /* the union over devices for the events that fail the round or cut the
     * graph anywhere; per device for a targeted device's exposure */
    double sec = -(double)security * ln2 - logn, cor = -(double)correctness * ln2 - logn;
    double sec_one = -(double)security * ln2;
    *out = (hush_secagg_params){.n = n, .q = q, .bits = bits, .length = length};
    for (uint32_t k = 2; k < n - 1; k += 2) {
        double lost = dropout + dishonest;
        if (lost > 0 && (k / 2) * log(lost) > sec) {
            continue; /* the honest survivors may be cut apart */
        }
        for (uint32_t t = 2; t <= k; t++) {
            if (log_tail_ge(k, dishonest, t) > sec_one) {
                continue; /* t dishonest neighbours are too likely */
            }
            /* P[Bin(k, 1 - dropout) < t] = P[Bin(k, dropout) >= k - t + 1] */
            if (log_tail_ge(k, dropout, k - t + 1) <= cor) {
                out->k = k;
                out->t = t;
                return hush_secagg_params_check(out, err);
            }
            break; /* a larger t only makes recovery less likely */
        }
    }
    /* the complete graph: every device a neighbour of every other */
    out->k = n - 1;
    for (uint32_t t = 2; t <= n - 1; t++) {
        if (log_tail_ge(n - 1, dishonest, t) <= sec_one) {
            out->t = t;
            break;
        }
    }
    if (out->t == 0 || log_tail_ge(n - 1, dropout, n - 1 - out->t + 1) > cor) {
        return hush_err_set(err, HUSH_EINVAL,
                            "secagg: no graph meets the bounds for n = %u", n);
    }
    return hush_secagg_params_check(out, err);
}

/* ---- the session and its graph ---- */

void hush__sa_put32(uint8_t *b, uint32_t x)
{
    b[0] = (uint8_t)x;
    b[1] = (uint8_t)(x >> 8);
    b[2] = (uint8_t)(x >> 16);
    b[3] = (uint8_t)(x >> 24);
}

void hush_secagg_session(const hush_secagg_params *p, const hush_secagg_keys *keys,
                         uint8_t out[HUSH_SECAGG_SESSION_BYTES])
{
    crypto_generichash_state st;
    uint8_t hdr[7 * 4];
    const uint32_t f[7] = {p->n, p->k, p->t, p->q, p->bits, p->length, p->round};
    for (int i = 0; i < 7; i++) {
        hush__sa_put32(hdr + 4 * i, f[i]);
    }
    crypto_generichash_init(&st, (const uint8_t *)"hush-secagg-v1", 14,
                            HUSH_SECAGG_SESSION_BYTES);
    crypto_generichash_update(&st, hdr, sizeof hdr);
    crypto_generichash_update(&st, (const uint8_t *)keys, (size_t)p->n * sizeof *keys);
    crypto_generichash_final(&st, out, HUSH_SECAGG_SESSION_BYTES);
}

/* The graph's order: a permutation of 0..n-1 drawn from the session id
 * (Fisher-Yates on a ChaCha20 stream, unbiased by rejection). */
static int graph_order(uint32_t n, const uint8_t session[32], uint32_t *order,
                       uint32_t *position)
{
    uint8_t key[32];
    crypto_generichash(key, sizeof key, session, 32, (const uint8_t *)"order", 5);
    size_t cap = 4096, used = cap;
    uint32_t *stream = hush_malloc(cap * sizeof *stream);
    if (stream == NULL) {
        return HUSH_ENOMEM;
    }
    uint64_t counter = 0;
    for (uint32_t i = 0; i < n; i++) {
        order[i] = i;
    }
    for (uint32_t i = n - 1; i > 0; i--) {
        uint32_t bound = i + 1, limit = UINT32_MAX - UINT32_MAX % bound, r;
        do {
            if (used == cap) {
                uint8_t nonce[8];
                for (int b = 0; b < 8; b++) {
                    nonce[b] = (uint8_t)(counter >> (8 * b));
                }
                counter++;
                crypto_stream_chacha20((uint8_t *)stream, cap * sizeof *stream, nonce,
                                       key);
                used = 0;
            }
            r = stream[used++];
        } while (r >= limit);
        uint32_t j = r % bound, tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    for (uint32_t i = 0; i < n; i++) {
        position[order[i]] = i;
    }
    hush_free(stream);
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Every device's neighbours: n rows of k, each ascending. */
int hush__sa_graph(const hush_secagg_params *p, const uint8_t session[32], uint32_t *nb)
{
    uint32_t n = p->n, k = p->k;
    uint32_t *order = hush_malloc((size_t)n * sizeof *order);
    uint32_t *pos = hush_malloc((size_t)n * sizeof *pos);
    int rc =
        order != NULL && pos != NULL ? graph_order(n, session, order, pos) : HUSH_ENOMEM;
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        uint32_t *row = nb + (size_t)i * k;
        if (k == n - 1) {
            for (uint32_t j = 0, w = 0; j < n; j++) {
                if (j != i) {
                    row[w++] = j;
                }
            }
            continue;
        }
        for (uint32_t d = 1; d <= k / 2; d++) {
            row[2 * (d - 1)] = order[(pos[i] + d) % n];
            row[2 * (d - 1) + 1] = order[(pos[i] + n - d) % n];
        }
        qsort(row, k, sizeof *row, cmp_u32);
    }
    hush_free(order);
    hush_free(pos);
    return rc;
}

int hush_secagg_neighbours(const hush_secagg_params *p, const uint8_t session[32],
                           uint32_t i, uint32_t *out, hush_err *err)
{
    int rc = hush_secagg_params_check(p, err);
    if (rc != 0) {
        return rc;
    }
    if (i >= p->n) {
        return hush_err_set(err, HUSH_EINVAL, "secagg: no device %u", i);
    }
    uint32_t *all = hush_malloc((size_t)p->n * p->k * sizeof *all);
    rc = all != NULL ? hush__sa_graph(p, session, all) : HUSH_ENOMEM;
    if (rc == 0) {
        memcpy(out, all + (size_t)i * p->k, p->k * sizeof *out);
    }
    hush_free(all);
    return rc != 0 ? hush_err_set(err, rc, "out of memory") : 0;
}

/* Position of x in a sorted row, or -1. */
long hush__sa_find(const uint32_t *row, size_t n, uint32_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (row[mid] < x) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < n && row[lo] == x ? (long)lo : -1;
}

/* ---- derivations ---- */

void hush__sa_derive(uint8_t out[32], const char *label, const uint8_t session[32],
                     const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, (const uint8_t *)label, strlen(label) + 1);
    crypto_generichash_update(&st, session, 32);
    crypto_generichash_update(&st, a, alen);
    if (b != NULL) {
        crypto_generichash_update(&st, b, blen);
    }
    crypto_generichash_final(&st, out, 32);
}

/* The masking key pair from its shared secret. */
void hush__sa_mask_keypair(const uint8_t secret[HUSH__SECRET_BYTES], uint8_t pk[32],
                           uint8_t sk[32])
{
    uint8_t seed[crypto_kx_SEEDBYTES];
    crypto_generichash(seed, sizeof seed, secret, HUSH__SECRET_BYTES,
                       (const uint8_t *)"hush-secagg-mask-seed", 21);
    crypto_kx_seed_keypair(pk, sk, seed);
    sodium_memzero(seed, sizeof seed);
}

/* The crypto_kx session keys of `me` (index i) with `peer` (index j): the
 * lower index is the client.  0, or -1 for an unusable peer key. */
int hush__sa_kx(uint32_t i, const uint8_t me_pk[32], const uint8_t me_sk[32], uint32_t j,
                const uint8_t peer_pk[32], uint8_t rx[32], uint8_t tx[32])
{
    return i < j ? crypto_kx_client_session_keys(rx, tx, me_pk, me_sk, peer_pk)
                 : crypto_kx_server_session_keys(rx, tx, me_pk, me_sk, peer_pk);
}

/* The pairwise mask key of i and j, the same on both sides. */
int hush__sa_pair_key(const uint8_t session[32], uint32_t i, const uint8_t pk[32],
                      const uint8_t sk[32], uint32_t j, const uint8_t peer_pk[32],
                      uint8_t key[32])
{
    uint8_t rx[32], tx[32];
    if (hush__sa_kx(i, pk, sk, j, peer_pk, rx, tx) != 0) {
        return -1;
    }
    /* the client's (tx, rx) is the server's (rx, tx) */
    if (i < j) {
        hush__sa_derive(key, "pair", session, tx, 32, rx, 32);
    } else {
        hush__sa_derive(key, "pair", session, rx, 32, tx, 32);
    }
    sodium_memzero(rx, sizeof rx);
    sodium_memzero(tx, sizeof tx);
    return 0;
}

/* acc += sign * ChaCha20(key) over `length` words (mod 2^32; the caller
 * reduces mod 2^bits at the end). */
void hush__sa_add_mask(uint32_t *acc, uint32_t *buf, uint32_t length,
                       const uint8_t key[32], int sign)
{
    static const uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
    crypto_stream_chacha20_ietf((uint8_t *)buf, (size_t)length * 4, nonce, key);
    if (sign > 0) {
        for (uint32_t i = 0; i < length; i++) {
            acc[i] += buf[i];
        }
    } else {
        for (uint32_t i = 0; i < length; i++) {
            acc[i] -= buf[i];
        }
    }
}

void hush__sa_box_ad(uint8_t ad[44], const uint8_t session[32], uint32_t from,
                     uint32_t to, uint32_t round)
{
    memcpy(ad, session, 32);
    hush__sa_put32(ad + 32, from);
    hush__sa_put32(ad + 36, to);
    hush__sa_put32(ad + 40, round);
}

void hush__sa_box_nonce(uint8_t *nonce, const uint8_t session[32], const uint8_t ad[44])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    crypto_generichash_update(&st, (const uint8_t *)"nonce", 6);
    crypto_generichash_update(&st, session, 32);
    crypto_generichash_update(&st, ad + 32, 12);
    crypto_generichash_final(&st, nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
}

/* The survivor list's signed message: "survivors", session, count, list. */
uint8_t *hush__sa_survivors_message(const uint8_t session[32], const uint32_t *list,
                                    size_t n, size_t *len)
{
    *len = 10 + 32 + 4 + 4 * n;
    uint8_t *m = hush_malloc(*len);
    if (m != NULL) {
        memcpy(m, "survivors", 10);
        memcpy(m + 10, session, 32);
        hush__sa_put32(m + 42, (uint32_t)n);
        for (size_t i = 0; i < n; i++) {
            hush__sa_put32(m + 46 + 4 * i, list[i]);
        }
    }
    return m;
}

bool hush__sa_sorted_unique(const uint32_t *list, size_t n, uint32_t below)
{
    for (size_t i = 0; i < n; i++) {
        if (list[i] >= below || (i > 0 && list[i] <= list[i - 1])) {
            return false;
        }
    }
    return true;
}
