/*
 * test_voprf.c - RFC 9497's VOPRF(ristretto255, SHA-512): the RFC's test
 * vectors (Appendix A.1.2: key derivation, blinding, evaluation, the proof
 * with its fixed random scalar, outputs; batches of one and two), then the
 * properties a token system leans on: outputs agree between the blinded
 * and the direct evaluation, a proof made with another key or for other
 * elements is refused, malformed elements are refused, blinding hides the
 * input.
 */
#include <criterion/criterion.h>
#include <sodium.h>
#include <string.h>

#include "hush_token.h"

static void hex(const char *h, uint8_t *out, size_t n)
{
    size_t got = 0;
    cr_assert_eq(sodium_hex2bin(out, n, h, strlen(h), NULL, &got, NULL), 0);
    cr_assert_eq(got, n, "%s", h);
}

#define EXPECT_BYTES(got, hexstr, n)                                         \
    do {                                                                     \
        uint8_t want_[256];                                                  \
        hex(hexstr, want_, n);                                               \
        char g_[513];                                                        \
        sodium_bin2hex(g_, sizeof g_, got, n);                               \
        cr_assert(memcmp(got, want_, n) == 0, "got %s want %s", g_, hexstr); \
    } while (0)

/* RFC 9497 A.1.2 */
static const char SEED[] =
    "a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3";
static const char SKSM[] =
    "e6f73f344b79b379f1a0dd37e07ff62e38d9f71345ce62ae3a9bc60b04ccd909";
static const char PKSM[] =
    "c803e2cc6b05fc15064549b5920659ca4a77b2cca6f04f6b357009335476ad4e";
static const char BLIND1[] =
    "64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706";
static const char BLIND2[] =
    "222a5e897cf59db8145db8d16e597e8facb80ae7d4e26d9881aa6f61d645fc0e";
static const char OUT1[] = "b58cfbe118e0cb94d79b5fd6a6dafb98764dff49c14e1770b566e42402da1"
                           "a7da4d8527693914139caee5bd0"
                           "3903af43a491351d23b430948dd50cde10d32b3c";
static const char OUT2[] = "8a9a2f3c7f085b65933594309041fc1898d42d0858e59f90814ae90571a6d"
                           "f60356f4610bf816f27afdd84f4"
                           "7719e480906d27ecd994985890e5f539e7ea74b6";

static void rfc_key(uint8_t sk[32], uint8_t pk[32])
{
    uint8_t seed[32];
    hex(SEED, seed, 32);
    hush_err err = {0};
    cr_assert_eq(
        hush_voprf_derive_key(seed, (const uint8_t *)"test key", 8, sk, pk, &err), 0,
        "%s", err.msg);
}

Test(voprf, rfc9497_key_derivation)
{
    uint8_t sk[32], pk[32];
    rfc_key(sk, pk);
    EXPECT_BYTES(sk, SKSM, 32);
    EXPECT_BYTES(pk, PKSM, 32);
}

/* One vector of batch size 1: blind, evaluate with the RFC's r, finalize. */
static void one(const uint8_t *input, size_t len, const char *blinded_hex,
                const char *evaluated_hex, const char *proof_hex, const char *out_hex)
{
    uint8_t sk[32], pk[32], blind[32], blinded[32], r[32], evaluated[32], proof[64],
        out[64];
    rfc_key(sk, pk);
    hex(BLIND1, blind, 32);
    hex(BLIND2, r, 32);
    hush_err err = {0};
    cr_assert_eq(hush_voprf_blind(input, len, blind, 1, blinded, &err), 0, "%s", err.msg);
    EXPECT_BYTES(blinded, blinded_hex, 32);
    cr_assert_eq(hush_voprf_blind_evaluate(sk, pk, blinded, 1, r, evaluated, proof, &err),
                 0, "%s", err.msg);
    EXPECT_BYTES(evaluated, evaluated_hex, 32);
    EXPECT_BYTES(proof, proof_hex, 64);
    const uint8_t *inputs[] = {input};
    cr_assert_eq(hush_voprf_finalize(pk, inputs, &len, blind, blinded, evaluated, 1,
                                     proof, out, &err),
                 0, "%s", err.msg);
    EXPECT_BYTES(out, out_hex, 64);
    uint8_t direct[64];
    cr_assert_eq(hush_voprf_evaluate(sk, input, len, direct, &err), 0, "%s", err.msg);
    cr_assert(memcmp(direct, out, 64) == 0, "the issuer's direct evaluation agrees");
}

Test(voprf, rfc9497_test_vector_1)
{
    const uint8_t input[] = {0x00};
    one(input, 1, "863f330cc1a1259ed5a5998a23acfd37fb4351a793a5b3c090b642ddc439b945",
        "aa8fa048764d5623868679402ff6108d2521884fa138cd7f9c7669a9a014267e",
        "ddef93772692e535d1a53903db24367355cc2cc78de93b3be5a8ffcc6985dd066d4346421d17bf51"
        "17a2"
        "a1ff0fcb2a759f58a539dfbe857a40bce4cf49ec600d",
        OUT1);
}

Test(voprf, rfc9497_test_vector_2)
{
    uint8_t input[17];
    memset(input, 0x5a, sizeof input);
    one(input, sizeof input,
        "cc0b2a350101881d8a4cba4c80241d74fb7dcbfde4a61fde2f91443c2bf9ef0c",
        "60a59a57208d48aca71e9e850d22674b611f752bed48b36f7a91b372bd7ad468",
        "401a0da6264f8cf45bb2f5264bc31e109155600babb3cd4e5af7d181a2c9dc0a67154fabf031fd93"
        "6051"
        "dec80b0b6ae29c9503493dde7393b722eafdf5a50b02",
        OUT2);
}

Test(voprf, rfc9497_test_vector_3_batch_of_two)
{
    uint8_t sk[32], pk[32], blinds[64], blinded[64], r[32], evaluated[64], proof[64],
        out[128];
    rfc_key(sk, pk);
    hex(BLIND1, blinds, 32);
    hex(BLIND2, blinds + 32, 32);
    hex("419c4f4f5052c53c45f3da494d2b67b220d02118e0857cdbcf037f9ea84bbe0c", r, 32);
    uint8_t in0[1] = {0}, in1[17];
    memset(in1, 0x5a, sizeof in1);
    const uint8_t *inputs[] = {in0, in1};
    size_t lens[] = {1, 17};
    hush_err err = {0};
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(hush_voprf_blind(inputs[i], lens[i], blinds + 32 * i, 1,
                                      blinded + 32 * i, &err),
                     0);
    }
    EXPECT_BYTES(blinded + 32,
                 "90a0145ea9da29254c3a56be4fe185465ebb3bf2a1801f7124bbbadac751e654", 32);
    cr_assert_eq(hush_voprf_blind_evaluate(sk, pk, blinded, 2, r, evaluated, proof, &err),
                 0);
    EXPECT_BYTES(evaluated + 32,
                 "cc5ac221950a49ceaa73c8db41b82c20372a4c8d63e5dded2db920b7eee36a2a", 32);
    EXPECT_BYTES(
        proof,
        "cc203910175d786927eeb44ea847328047892ddf8590e723c37205cb74600b0a5ab5337c8eb4"
        "ceae0494c2cf89529dcf94572ed267473d567aeed6ab873dee08",
        64);
    cr_assert_eq(hush_voprf_finalize(pk, inputs, lens, blinds, blinded, evaluated, 2,
                                     proof, out, &err),
                 0, "%s", err.msg);
    EXPECT_BYTES(out, OUT1, 64);
    EXPECT_BYTES(out + 64, OUT2, 64);
}

/* A random issuance of n tokens: what the other tests tamper with. */
struct issuance {
    uint8_t sk[32], pk[32], inputs[8][32], blinds[8 * 32], blinded[8 * 32],
        evaluated[8 * 32], proof[64];
    const uint8_t *in[8];
    size_t lens[8];
};

static void issue(struct issuance *is, size_t n)
{
    hush_voprf_keygen(is->sk, is->pk);
    hush_err err = {0};
    for (size_t i = 0; i < n; i++) {
        randombytes_buf(is->inputs[i], 32);
        is->in[i] = is->inputs[i];
        is->lens[i] = 32;
        cr_assert_eq(hush_voprf_blind(is->inputs[i], 32, is->blinds + 32 * i, 0,
                                      is->blinded + 32 * i, &err),
                     0);
    }
    cr_assert_eq(hush_voprf_blind_evaluate(is->sk, is->pk, is->blinded, n, NULL,
                                           is->evaluated, is->proof, &err),
                 0, "%s", err.msg);
}

Test(voprf, tokens_verify_by_direct_evaluation)
{
    struct issuance is;
    issue(&is, 8);
    uint8_t out[8 * 64], direct[64];
    hush_err err = {0};
    cr_assert_eq(hush_voprf_finalize(is.pk, is.in, is.lens, is.blinds, is.blinded,
                                     is.evaluated, 8, is.proof, out, &err),
                 0, "%s", err.msg);
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(hush_voprf_evaluate(is.sk, is.inputs[i], 32, direct, &err), 0);
        cr_assert(memcmp(direct, out + 64 * i, 64) == 0, "token %d", i);
    }
    /* another key gives other outputs */
    uint8_t sk2[32], pk2[32];
    hush_voprf_keygen(sk2, pk2);
    cr_assert_eq(hush_voprf_evaluate(sk2, is.inputs[0], 32, direct, &err), 0);
    cr_assert(memcmp(direct, out, 64) != 0);
}

Test(voprf, a_proof_for_another_key_or_other_elements_is_refused)
{
    struct issuance is;
    issue(&is, 3);
    uint8_t out[3 * 64], sk2[32], pk2[32];
    hush_voprf_keygen(sk2, pk2);
    hush_err err = {0};
    /* the device pinned pk2: an issuer evaluating with sk cannot pass */
    cr_assert_eq(hush_voprf_finalize(pk2, is.in, is.lens, is.blinds, is.blinded,
                                     is.evaluated, 3, is.proof, out, &err),
                 HUSH_ESIGNATURE);
    /* one element evaluated under another key (a tagging issuer) */
    uint8_t bad[3 * 32];
    memcpy(bad, is.evaluated, sizeof bad);
    cr_assert_eq(crypto_scalarmult_ristretto255(bad + 32, sk2, is.blinded + 32), 0);
    hush_err_clear(&err);
    cr_assert_eq(hush_voprf_finalize(is.pk, is.in, is.lens, is.blinds, is.blinded, bad, 3,
                                     is.proof, out, &err),
                 HUSH_ESIGNATURE);
    /* a flipped bit in c or in s */
    for (int byte = 0; byte < 64; byte += 63) {
        uint8_t p[64];
        memcpy(p, is.proof, 64);
        p[byte] ^= 1;
        hush_err_clear(&err);
        cr_assert_neq(hush_voprf_finalize(is.pk, is.in, is.lens, is.blinds, is.blinded,
                                          is.evaluated, 3, p, out, &err),
                      0, "byte %d", byte);
    }
    /* the proof of the whole batch does not cover a part of it */
    hush_err_clear(&err);
    cr_assert_eq(hush_voprf_finalize(is.pk, is.in, is.lens, is.blinds, is.blinded,
                                     is.evaluated, 2, is.proof, out, &err),
                 HUSH_ESIGNATURE);
}

Test(voprf, malformed_elements_are_refused)
{
    uint8_t sk[32], pk[32], ev[32], proof[64];
    hush_voprf_keygen(sk, pk);
    uint8_t identity[32] = {0}, noncanonical[32];
    memset(noncanonical, 0xff, sizeof noncanonical);
    hush_err err = {0};
    cr_assert_eq(hush_voprf_blind_evaluate(sk, pk, identity, 1, NULL, ev, proof, &err),
                 HUSH_EINVAL);
    hush_err_clear(&err);
    cr_assert_eq(
        hush_voprf_blind_evaluate(sk, pk, noncanonical, 1, NULL, ev, proof, &err),
        HUSH_EINVAL);
    hush_err_clear(&err);
    cr_assert_eq(hush_voprf_blind_evaluate(sk, pk, identity, 0, NULL, ev, proof, &err),
                 HUSH_EINVAL, "an empty batch");
}

Test(voprf, blinding_hides_the_input)
{
    /* the issuer's whole view of an issuance is the blinded element: the
     * same input blinded twice gives unrelated elements, so it cannot
     * recognise the input when the token comes back */
    uint8_t input[32], b1[32], b2[32], e1[32], e2[32];
    randombytes_buf(input, sizeof input);
    hush_err err = {0};
    cr_assert_eq(hush_voprf_blind(input, 32, b1, 0, e1, &err), 0);
    cr_assert_eq(hush_voprf_blind(input, 32, b2, 0, e2, &err), 0);
    cr_assert(memcmp(e1, e2, 32) != 0 && memcmp(b1, b2, 32) != 0);
}
