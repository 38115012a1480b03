/*
 * fuzz_voprf.c - libFuzzer target for the VOPRF's inputs from the other
 * side (hush_token.h): blinded elements a device sends to the issuer, and
 * evaluated elements with a proof the issuer sends back.  Properties: no
 * crash, no read past the input; the issuer evaluates a batch only if
 * every element is a valid, non-identity ristretto255 encoding; a device
 * never accepts an evaluation whose proof the fuzzer made (it would be a
 * forgery of the DLEQ proof), and accepts the issuer's own.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "hush_token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t sk[32], pk[32];
    static int ready;
    if (!ready) {
        if (sodium_init() < 0) {
            abort();
        }
        uint8_t seed[32] = {7};
        hush_err err = {0};
        if (hush_voprf_derive_key(seed, NULL, 0, sk, pk, &err) != 0) {
            abort();
        }
        ready = 1;
    }
    hush_err err = {0};
    /* the issuer's side: the bytes as blinded elements */
    size_t n = size / 32;
    if (n > 0 && n <= 8) {
        uint8_t ev[8 * 32], proof[64];
        int rc = hush_voprf_blind_evaluate(sk, pk, data, n, NULL, ev, proof, &err);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            if (crypto_core_ristretto255_is_valid_point(data + 32 * i) != 1 ||
                sodium_is_zero(data + 32 * i, 32)) {
                abort(); /* evaluated an invalid element */
            }
        }
    }
    /* the device's side: an honest blinding, then the bytes as the
     * issuer's evaluated element and proof */
    if (size >= 96) {
        uint8_t input[16] = {1}, blind[32], blinded[32], out[64];
        if (hush_voprf_blind(input, sizeof input, blind, 0, blinded, &err) != 0) {
            abort();
        }
        const uint8_t *inputs[] = {input};
        size_t lens[] = {sizeof input};
        hush_err_clear(&err);
        if (hush_voprf_finalize(pk, inputs, lens, blind, blinded, data, 1, data + 32, out,
                                &err) == 0) {
            abort(); /* a forged proof accepted */
        }
        uint8_t ev[32], proof[64];
        if (hush_voprf_blind_evaluate(sk, pk, blinded, 1, NULL, ev, proof, &err) != 0 ||
            hush_voprf_finalize(pk, inputs, lens, blind, blinded, ev, 1, proof, out,
                                &err) != 0) {
            abort(); /* the honest issuer refused */
        }
    }
    return 0;
}
