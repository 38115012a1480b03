/*
 * voprf.c - RFC 9497's VOPRF mode over ristretto255 with SHA-512
 * (hush_token.h), written from the RFC's sections 2-4 on libsodium's
 * ristretto255 group and scalar operations, which run in constant time.
 *
 *   contextString = "OPRFV1-" || I2OSP(0x01, 1) || "-ristretto255-SHA512"
 *   HashToGroup   = hash_to_ristretto255 (RFC 9380, expand_message_xmd
 *                   with SHA-512 to 64 bytes, then libsodium's from_hash)
 *   HashToScalar  = expand_message_xmd to 64 bytes, reduced mod L
 *
 * Transcripts are fed to SHA-512 in parts (each a byte string), never
 * copied into one buffer, so an input of any allowed length costs no
 * allocation.
 */
#include <sodium.h>
#include <string.h>

#include "hush_token.h"

#define NE HUSH_VOPRF_ELEMENT
#define NS HUSH_VOPRF_SCALAR

static const uint8_t CONTEXT[] = "OPRFV1-\x01-ristretto255-SHA512";
#define CONTEXT_LEN (sizeof CONTEXT - 1)

/* One part of a message. */
struct part {
    const uint8_t *data;
    size_t len;
};

static void i2osp2(uint8_t out[2], size_t v)
{
    out[0] = (uint8_t)(v >> 8);
    out[1] = (uint8_t)v;
}

static void update_parts(crypto_hash_sha512_state *st, const struct part *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        crypto_hash_sha512_update(st, p[i].data, p[i].len);
    }
}

/* expand_message_xmd (RFC 9380 5.3.1) with SHA-512 for 64 bytes: one
 * block, b_1 = H(b_0 || 1 || DST'), b_0 = H(Z_pad || msg || I2OSP(64, 2)
 * || 0 || DST'). */
static void expand64(const struct part *msg, size_t n, const uint8_t *dst, size_t dst_len,
                     uint8_t out[64])
{
    static const uint8_t zpad[128];
    const uint8_t lib[3] = {0, 64, 0}, one = 1, dlen = (uint8_t)dst_len;
    uint8_t b0[64];
    crypto_hash_sha512_state st;
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, zpad, sizeof zpad);
    update_parts(&st, msg, n);
    crypto_hash_sha512_update(&st, lib, sizeof lib);
    crypto_hash_sha512_update(&st, dst, dst_len);
    crypto_hash_sha512_update(&st, &dlen, 1);
    crypto_hash_sha512_final(&st, b0);
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, b0, sizeof b0);
    crypto_hash_sha512_update(&st, &one, 1);
    crypto_hash_sha512_update(&st, dst, dst_len);
    crypto_hash_sha512_update(&st, &dlen, 1);
    crypto_hash_sha512_final(&st, out);
    sodium_memzero(b0, sizeof b0);
}

/* A DST: prefix || contextString (at most 64 bytes here). */
static size_t dst_of(const char *prefix, uint8_t out[64])
{
    size_t n = strlen(prefix);
    memcpy(out, prefix, n);
    memcpy(out + n, CONTEXT, CONTEXT_LEN);
    return n + CONTEXT_LEN;
}

static void hash_to_scalar(const struct part *msg, size_t n, const char *prefix,
                           uint8_t s[NS])
{
    uint8_t dst[64], wide[64];
    size_t dl = dst_of(prefix, dst);
    expand64(msg, n, dst, dl, wide);
    crypto_core_ristretto255_scalar_reduce(s, wide);
    sodium_memzero(wide, sizeof wide);
}

static int hash_to_group(const uint8_t *input, size_t len, uint8_t p[NE])
{
    uint8_t dst[64], wide[64];
    size_t dl = dst_of("HashToGroup-", dst);
    struct part msg = {input, len};
    expand64(&msg, 1, dst, dl, wide);
    return crypto_core_ristretto255_from_hash(p, wide);
}

static bool is_zero(const uint8_t *b, size_t n)
{
    return sodium_is_zero(b, n) == 1;
}

/* A received element: canonical and not the identity. */
static bool element_ok(const uint8_t e[NE])
{
    return crypto_core_ristretto255_is_valid_point(e) == 1 && !is_zero(e, NE);
}

int hush_voprf_derive_key(const uint8_t seed[32], const uint8_t *info, size_t info_len,
                          uint8_t sk[NS], uint8_t pk[NE], hush_err *err)
{
    if (info_len > 65535 || (info == NULL && info_len > 0)) {
        return hush_err_set(err, HUSH_EINVAL, "voprf: key info longer than 65535 bytes");
    }
    uint8_t ilen[2], counter = 0;
    i2osp2(ilen, info_len);
    do {
        struct part msg[] = {{seed, 32}, {ilen, 2}, {info, info_len}, {&counter, 1}};
        hash_to_scalar(msg, 4, "DeriveKeyPair", sk);
    } while (is_zero(sk, NS) && counter++ < 255);
    if (is_zero(sk, NS) || crypto_scalarmult_ristretto255_base(pk, sk) != 0) {
        return hush_err_set(err, HUSH_EINTERNAL, "voprf: no key from this seed");
    }
    return 0;
}

void hush_voprf_keygen(uint8_t sk[NS], uint8_t pk[NE])
{
    do {
        crypto_core_ristretto255_scalar_random(sk);
    } while (is_zero(sk, NS) || crypto_scalarmult_ristretto255_base(pk, sk) != 0);
}

int hush_voprf_blind(const uint8_t *input, size_t len, uint8_t blind[NS], int fixed_blind,
                     uint8_t blinded[NE], hush_err *err)
{
    uint8_t p[NE];
    if (len > HUSH_VOPRF_INPUT_MAX || (input == NULL && len > 0)) {
        return hush_err_set(err, HUSH_EINVAL, "voprf: input longer than %d bytes",
                            HUSH_VOPRF_INPUT_MAX);
    }
    if (hash_to_group(input, len, p) != 0 || is_zero(p, NE)) {
        return hush_err_set(err, HUSH_EINVAL, "voprf: the input maps to the identity");
    }
    if (!fixed_blind) {
        do {
            crypto_core_ristretto255_scalar_random(blind);
        } while (is_zero(blind, NS));
    }
    if (is_zero(blind, NS) || crypto_scalarmult_ristretto255(blinded, blind, p) != 0) {
        return hush_err_set(err, HUSH_EINVAL, "voprf: a zero blind");
    }
    return 0;
}

/* ComputeComposites (2.2.1): M = sum d_i C_i and, unless k is given (the
 * server's fast form, Z = k M), Z = sum d_i D_i. */
static int composites(const uint8_t b[NE], const uint8_t *c, const uint8_t *d, size_t n,
                      const uint8_t *k, uint8_t m[NE], uint8_t z[NE])
{
    uint8_t dst[64], seed[64], blen[2], slen[2], dsl[2], ci[2], term[NE], di[NS];
    size_t dl = dst_of("Seed-", dst);
    i2osp2(blen, NE);
    i2osp2(dsl, dl);
    crypto_hash_sha512_state st;
    crypto_hash_sha512_init(&st);
    struct part seed_parts[] = {{blen, 2}, {b, NE}, {dsl, 2}, {dst, dl}};
    update_parts(&st, seed_parts, 4);
    crypto_hash_sha512_final(&st, seed);
    i2osp2(slen, sizeof seed);
    static const uint8_t composite[] = "Composite";
    for (size_t i = 0; i < n; i++) {
        i2osp2(ci, i);
        struct part t[] = {{slen, 2},        {seed, 64},
                           {ci, 2},          {blen, 2},
                           {c + i * NE, NE}, {blen, 2},
                           {d + i * NE, NE}, {composite, sizeof composite - 1}};
        hash_to_scalar(t, 8, "HashToScalar-", di);
        if (crypto_scalarmult_ristretto255(term, di, c + i * NE) != 0) {
            return -1;
        }
        if (i == 0) {
            memcpy(m, term, NE);
        } else if (crypto_core_ristretto255_add(m, m, term) != 0) {
            return -1;
        }
        if (k != NULL) {
            continue;
        }
        if (crypto_scalarmult_ristretto255(term, di, d + i * NE) != 0) {
            return -1;
        }
        if (i == 0) {
            memcpy(z, term, NE);
        } else if (crypto_core_ristretto255_add(z, z, term) != 0) {
            return -1;
        }
    }
    return k != NULL ? crypto_scalarmult_ristretto255(z, k, m) : 0;
}

/* The challenge c = HashToScalar(B, M, Z, t2, t3, "Challenge") (2.2.1). */
static void challenge(const uint8_t b[NE], const uint8_t m[NE], const uint8_t z[NE],
                      const uint8_t t2[NE], const uint8_t t3[NE], uint8_t c[NS])
{
    uint8_t len[2];
    i2osp2(len, NE);
    static const uint8_t label[] = "Challenge";
    struct part t[] = {{len, 2},
                       {b, NE},
                       {len, 2},
                       {m, NE},
                       {len, 2},
                       {z, NE},
                       {len, 2},
                       {t2, NE},
                       {len, 2},
                       {t3, NE},
                       {label, sizeof label - 1}};
    hash_to_scalar(t, 11, "HashToScalar-", c);
}

int hush_voprf_blind_evaluate(const uint8_t sk[NS], const uint8_t pk[NE],
                              const uint8_t *blinded, size_t n, const uint8_t *r,
                              uint8_t *evaluated, uint8_t proof[HUSH_VOPRF_PROOF],
                              hush_err *err)
{
    if (n == 0 || n > HUSH_VOPRF_BATCH_MAX) {
        return hush_err_set(err, HUSH_EINVAL, "voprf: %zu elements (1 to %d)", n,
                            HUSH_VOPRF_BATCH_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        if (!element_ok(blinded + i * NE) ||
            crypto_scalarmult_ristretto255(evaluated + i * NE, sk, blinded + i * NE) !=
                0) {
            return hush_err_set(err, HUSH_EINVAL,
                                "voprf: blinded element %zu is not a valid element", i);
        }
    }
    uint8_t m[NE], z[NE], t2[NE], t3[NE], rr[NS], c[NS], ck[NS];
    if (r != NULL) {
        memcpy(rr, r, NS);
    } else {
        crypto_core_ristretto255_scalar_random(rr);
    }
    int rc = composites(pk, blinded, evaluated, n, sk, m, z) != 0 ||
                     crypto_scalarmult_ristretto255_base(t2, rr) != 0 ||
                     crypto_scalarmult_ristretto255(t3, rr, m) != 0
                 ? hush_err_set(err, HUSH_EINTERNAL, "voprf: a degenerate proof")
                 : 0;
    if (rc == 0) {
        challenge(pk, m, z, t2, t3, c);
        crypto_core_ristretto255_scalar_mul(ck, c, sk);
        memcpy(proof, c, NS);
        crypto_core_ristretto255_scalar_sub(proof + NS, rr, ck); /* s = r - c k */
    }
    sodium_memzero(rr, sizeof rr);
    sodium_memzero(ck, sizeof ck);
    return rc;
}

/* VerifyProof (2.2.2): t2 = s G + c B, t3 = s M + c Z, c' = challenge. */
static bool proof_ok(const uint8_t pk[NE], const uint8_t *c_el, const uint8_t *d_el,
                     size_t n, const uint8_t proof[HUSH_VOPRF_PROOF])
{
    const uint8_t *c = proof, *s = proof + NS;
    uint8_t m[NE], z[NE], t2[NE], t3[NE], a[NE], b[NE], expect[NS];
    if (is_zero(c, NS) || is_zero(s, NS) ||
        composites(pk, c_el, d_el, n, NULL, m, z) != 0 ||
        crypto_scalarmult_ristretto255_base(a, s) != 0 ||
        crypto_scalarmult_ristretto255(b, c, pk) != 0 ||
        crypto_core_ristretto255_add(t2, a, b) != 0 ||
        crypto_scalarmult_ristretto255(a, s, m) != 0 ||
        crypto_scalarmult_ristretto255(b, c, z) != 0 ||
        crypto_core_ristretto255_add(t3, a, b) != 0) {
        return false;
    }
    challenge(pk, m, z, t2, t3, expect);
    return sodium_memcmp(expect, c, NS) == 0;
}

/* Output = Hash(I2OSP(len(input), 2) || input || I2OSP(Ne, 2) || N ||
 * "Finalize") (3.3.1). */
static void output_of(const uint8_t *input, size_t len, const uint8_t n_el[NE],
                      uint8_t out[HUSH_VOPRF_OUTPUT])
{
    uint8_t ilen[2], elen[2];
    i2osp2(ilen, len);
    i2osp2(elen, NE);
    static const uint8_t label[] = "Finalize";
    struct part t[] = {
        {ilen, 2}, {input, len}, {elen, 2}, {n_el, NE}, {label, sizeof label - 1}};
    crypto_hash_sha512_state st;
    crypto_hash_sha512_init(&st);
    update_parts(&st, t, 5);
    crypto_hash_sha512_final(&st, out);
}

int hush_voprf_finalize(const uint8_t pk[NE], const uint8_t *const *inputs,
                        const size_t *lens, const uint8_t *blinds, const uint8_t *blinded,
                        const uint8_t *evaluated, size_t n,
                        const uint8_t proof[HUSH_VOPRF_PROOF], uint8_t *outputs,
                        hush_err *err)
{
    if (n == 0 || n > HUSH_VOPRF_BATCH_MAX || !element_ok(pk)) {
        return hush_err_set(err, HUSH_EINVAL, "voprf: %s",
                            n == 0 || n > HUSH_VOPRF_BATCH_MAX
                                ? "a batch of no size"
                                : "the public key is invalid");
    }
    for (size_t i = 0; i < n; i++) {
        if (!element_ok(evaluated + i * NE) || lens[i] > HUSH_VOPRF_INPUT_MAX) {
            return hush_err_set(err, HUSH_EINVAL,
                                "voprf: evaluated element %zu is invalid", i);
        }
    }
    if (!proof_ok(pk, blinded, evaluated, n, proof)) {
        return hush_err_set(err, HUSH_ESIGNATURE,
                            "voprf: the issuer's proof does not verify against its key");
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t inv[NS], unblinded[NE];
        if (crypto_core_ristretto255_scalar_invert(inv, blinds + i * NS) != 0 ||
            crypto_scalarmult_ristretto255(unblinded, inv, evaluated + i * NE) != 0) {
            sodium_memzero(inv, sizeof inv);
            return hush_err_set(err, HUSH_EINVAL, "voprf: blind %zu is zero", i);
        }
        sodium_memzero(inv, sizeof inv);
        output_of(inputs[i], lens[i], unblinded, outputs + i * HUSH_VOPRF_OUTPUT);
    }
    return 0;
}

int hush_voprf_evaluate(const uint8_t sk[NS], const uint8_t *input, size_t len,
                        uint8_t out[HUSH_VOPRF_OUTPUT], hush_err *err)
{
    uint8_t p[NE], t[NE];
    if (len > HUSH_VOPRF_INPUT_MAX || (input == NULL && len > 0)) {
        return hush_err_set(err, HUSH_EINVAL, "voprf: input longer than %d bytes",
                            HUSH_VOPRF_INPUT_MAX);
    }
    if (hash_to_group(input, len, p) != 0 || is_zero(p, NE) ||
        crypto_scalarmult_ristretto255(t, sk, p) != 0) {
        return hush_err_set(err, HUSH_EINVAL, "voprf: the input maps to the identity");
    }
    output_of(input, len, t, out);
    return 0;
}
