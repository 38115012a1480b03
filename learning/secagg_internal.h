/*
 * secagg_internal.h - the pieces of secure aggregation (secagg.c) that are
 * tested on their own: arithmetic in GF(2^127 - 1) and Shamir sharing of
 * 32-byte secrets over it.
 */
#ifndef HUSH_SECAGG_INTERNAL_H
#define HUSH_SECAGG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hush_secagg.h"

/* An element of GF(p), p = 2^127 - 1, fully reduced (< p). */
__extension__ typedef unsigned __int128 hush__fe;

hush__fe hush__fe_add(hush__fe a, hush__fe b);
hush__fe hush__fe_sub(hush__fe a, hush__fe b);
hush__fe hush__fe_mul(hush__fe a, hush__fe b);
hush__fe hush__fe_inv(hush__fe a); /* a != 0 */
/* 16 bytes, little endian, of an element; back (HUSH_EINVAL if >= p) */
void hush__fe_store(uint8_t out[16], hush__fe a);
int hush__fe_load(const uint8_t in[16], hush__fe *out);

/* A secret: two field elements, 32 bytes. */
#define HUSH__SECRET_BYTES 32

/* A fresh secret (each half uniform in GF(p)). */
void hush__secret_random(uint8_t out[HUSH__SECRET_BYTES]);

/* Shares of secret for x = xs[0..m-1] (distinct, non-zero): t-of-m, each
 * share HUSH_SECAGG_SHARE_BYTES at out + i * HUSH_SECAGG_SHARE_BYTES.  The
 * random polynomials are wiped before returning. */
int hush__shamir_split(const uint8_t secret[HUSH__SECRET_BYTES], uint32_t t,
                       const uint32_t *xs, size_t m, uint8_t *out, hush_err *err);

/* The secret from t shares at distinct non-zero xs (exactly t used). */
int hush__shamir_join(const uint32_t *xs, const uint8_t *shares, uint32_t t,
                      uint8_t secret[HUSH__SECRET_BYTES], hush_err *err);

/* ddg.c: the Rényi bound of a sum of n discrete Gaussians of scale sigma
 * (real: the tests check it against exact sums at small sigma) */
double hush__ddg_rdp_at(double alpha, double delta2, uint32_t n, double sigma, double d);

/* secagg.c, shared by the device's and the collector's sides */
void hush__sa_put32(uint8_t *b, uint32_t x);
/* every device's k neighbours, n rows, each ascending */
int hush__sa_graph(const hush_secagg_params *p, const uint8_t session[32], uint32_t *nb);
/* position of x in an ascending row, or -1 */
long hush__sa_find(const uint32_t *row, size_t n, uint32_t x);
void hush__sa_derive(uint8_t out[32], const char *label, const uint8_t session[32],
                     const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
void hush__sa_mask_keypair(const uint8_t secret[HUSH__SECRET_BYTES], uint8_t pk[32],
                           uint8_t sk[32]);
/* crypto_kx session keys of device i with device j (the lower is the
 * client): 0, or -1 for an unusable key */
int hush__sa_kx(uint32_t i, const uint8_t me_pk[32], const uint8_t me_sk[32], uint32_t j,
                const uint8_t peer_pk[32], uint8_t rx[32], uint8_t tx[32]);
int hush__sa_pair_key(const uint8_t session[32], uint32_t i, const uint8_t pk[32],
                      const uint8_t sk[32], uint32_t j, const uint8_t peer_pk[32],
                      uint8_t key[32]);
/* acc += sign * ChaCha20(key), length words; buf: room for them */
void hush__sa_add_mask(uint32_t *acc, uint32_t *buf, uint32_t length,
                       const uint8_t key[32], int sign);
void hush__sa_box_ad(uint8_t ad[44], const uint8_t session[32], uint32_t from,
                     uint32_t to, uint32_t round);
void hush__sa_box_nonce(uint8_t *nonce, const uint8_t session[32], const uint8_t ad[44]);
uint8_t *hush__sa_survivors_message(const uint8_t session[32], const uint32_t *list,
                                    size_t n, size_t *len);
bool hush__sa_sorted_unique(const uint32_t *list, size_t n, uint32_t below);

#endif
