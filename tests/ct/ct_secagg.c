/*
 * ct_secagg.c - secure aggregation's secret arithmetic is constant time:
 * run under valgrind's memcheck with the secrets marked undefined, every
 * branch or memory index that depends on them is reported ("Conditional
 * jump or move depends on uninitialised value").  scripts/check-ct runs it
 * (part of `make check`); exit 0 and a clean report is the pass.
 *
 * Checked: GF(2^127 - 1) addition, subtraction, multiplication and
 * inversion on secret operands; Shamir sharing of a secret (the device's
 * self-mask seed and masking-key seed); the device deriving its masking key
 * pair from the shared secret.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <valgrind/memcheck.h>

#include "hush_secagg.h"
#include "secagg_internal.h"

int main(void)
{
    if (sodium_init() < 0) {
        return 2;
    }
    uint8_t secret[32];
    hush__secret_random(secret);
    hush__fe a = 0, b = 0;
    memcpy(&a, secret, 16);
    memcpy(&b, secret + 16, 16);
    a &= ((((hush__fe)1) << 127) - 1) >> 1;
    b &= ((((hush__fe)1) << 127) - 1) >> 1;
    b |= 1;
    VALGRIND_MAKE_MEM_UNDEFINED(&a, sizeof a);
    VALGRIND_MAKE_MEM_UNDEFINED(&b, sizeof b);
    hush__fe r = hush__fe_add(a, b);
    r = hush__fe_sub(r, a);
    r = hush__fe_mul(r, a);
    r = hush__fe_inv(b);
    r = hush__fe_mul(r, b);
    VALGRIND_MAKE_MEM_DEFINED(&r, sizeof r); /* only now may it be looked at */
    if (r != 1) {
        fprintf(stderr, "ct_secagg: b * inv(b) != 1\n");
        return 1;
    }
    /* Shamir: the secret undefined, the x coordinates public */
    uint32_t xs[24];
    for (uint32_t i = 0; i < 24; i++) {
        xs[i] = 3 * i + 1;
    }
    uint8_t shares[24 * HUSH_SECAGG_SHARE_BYTES], back[32], pk[32], sk[32];
    VALGRIND_MAKE_MEM_UNDEFINED(secret, sizeof secret);
    hush_err err = {0};
    if (hush__shamir_split(secret, 8, xs, 24, shares, &err) != 0) {
        fprintf(stderr, "ct_secagg: split: %s\n", err.msg);
        return 1;
    }
    hush__sa_mask_keypair(secret, pk, sk);
    VALGRIND_MAKE_MEM_DEFINED(shares, sizeof shares);
    VALGRIND_MAKE_MEM_DEFINED(secret, sizeof secret);
    if (hush__shamir_join(xs + 5, shares + 5 * HUSH_SECAGG_SHARE_BYTES, 8, back, &err) !=
            0 ||
        memcmp(back, secret, 32) != 0) {
        fprintf(stderr, "ct_secagg: the shares do not rebuild the secret\n");
        return 1;
    }
    printf("ct_secagg: ok\n");
    return 0;
}
