/*
 * bench/token.c - what one anonymous token costs the collector to check
 * (hush_voprf_evaluate: a hash-to-group and a ristretto255 scalar
 * multiplication), the issuer per token in a batch of 16
 * (hush_voprf_blind_evaluate with its proof), and the device to blind
 * one.  One JSON object per line: {"bench":"token","what":…,"us":…},
 * median of 5 runs of 2,000.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "hush_token.h"

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void)
{
    uint8_t sk[32], pk[32], in[HUSH_TOKEN_INPUT_BYTES] = {0}, out[64];
    uint8_t blind[32], blinded[16 * 32], ev[16 * 32], proof[64];
    if (hush_global_init() != 0) {
        return 1;
    }
    hush_voprf_keygen(sk, pk);
    /* the device's blinding first: it fills the batch the issuer evaluates */
    const char *what[] = {"device_blind", "issuer_per_token_of_16", "collector_check"};
    for (int w = 0; w < 3; w++) {
        double runs[5];
        for (int r = 0; r < 5; r++) {
            int n = w == 1 ? 125 : 2000; /* 125 batches of 16 = 2,000 tokens */
            double t0 = now_us();
            for (int i = 0; i < n; i++) {
                in[0] = (uint8_t)i;
                in[1] = (uint8_t)(i >> 8);
                int rc = w == 2   ? hush_voprf_evaluate(sk, in, sizeof in, out, NULL)
                         : w == 1 ? hush_voprf_blind_evaluate(sk, pk, blinded, 16, NULL,
                                                              ev, proof, NULL)
                                  : hush_voprf_blind(in, sizeof in, blind, 0,
                                                     blinded + 32 * (i % 16), NULL);
                if (rc != 0) {
                    fprintf(stderr, "bench/token: %s failed\n", what[w]);
                    return 1;
                }
            }
            runs[r] = (now_us() - t0) / 2000.0;
        }
        qsort(runs, 5, sizeof runs[0], cmp);
        printf("{\"bench\":\"token\",\"what\":\"%s\",\"us\":%.1f,\"min_us\":%.1f,\"max_"
               "us\":%.1f}\n",
               what[w], runs[2], runs[0], runs[4]);
    }
    return 0;
}
