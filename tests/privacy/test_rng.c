/*
 * test_rng.c - the hush_rng interface: the seeded stream is libsodium's
 * deterministic stream, draws have the distributions they claim, thresholds
 * round the way the privacy proofs need.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <sodium.h>

#include "ldp_harness.h"

Test(rng, seeded_stream_is_randombytes_buf_deterministic)
{
    enum { LEN = 3 * 4096 + 123 };
    static uint8_t expect[LEN], got[LEN];
    uint8_t seed[HUSH_RNG_SEED_BYTES];
    for (int i = 0; i < HUSH_RNG_SEED_BYTES; i++) {
        seed[i] = (uint8_t)(i * 7 + 1);
    }
    cr_assert_geq(sodium_init(), 0);
    randombytes_buf_deterministic(expect, LEN, seed);
    hush_rng *rng = NULL;
    cr_assert_eq(hush_rng_new_seeded(seed, &rng), 0);
    /* read in uneven pieces across buffer refills */
    size_t off = 0;
    size_t piece = 1;
    while (off < LEN) {
        size_t take = LEN - off < piece ? LEN - off : piece;
        hush_rng_bytes(rng, got + off, take);
        off += take;
        piece = piece * 3 + 1;
    }
    cr_assert_arr_eq(got, expect, LEN);
    hush_rng_free(rng);
}

Test(rng, seeds_give_distinct_reproducible_streams)
{
    hush_rng *a = NULL, *b = NULL, *c = NULL;
    cr_assert_eq(hush_rng_new_seeded_u64(1, &a), 0);
    cr_assert_eq(hush_rng_new_seeded_u64(1, &b), 0);
    cr_assert_eq(hush_rng_new_seeded_u64(2, &c), 0);
    for (int i = 0; i < 1000; i++) {
        uint64_t x = hush_rng_u64(a);
        cr_assert_eq(x, hush_rng_u64(b));
        cr_assert_neq(x, hush_rng_u64(c));
    }
    hush_rng_free(a);
    hush_rng_free(b);
    hush_rng_free(c);
}

Test(rng, system_generator_draws)
{
    hush_rng *rng = NULL;
    cr_assert_eq(hush_rng_new_system(&rng), 0);
    uint64_t first = hush_rng_u64(rng);
    int same = 0;
    for (int i = 0; i < 2000; i++) {
        same += hush_rng_u64(rng) == first;
    }
    cr_assert_lt(same, 2);
    hush_rng_free(rng);
}

Test(rng, uniform_is_unbiased)
{
    /* bound 7 does not divide 2^64: a modulo would be biased (invisibly at
     * this sample size, but the chi-square guards the rejection logic). */
    hush_rng *rng = NULL;
    cr_assert_eq(hush_rng_new_seeded_u64(3, &rng), 0);
    enum { BOUND = 7, N = 700000 };
    uint64_t hits[BOUND] = {0};
    for (int i = 0; i < N; i++) {
        uint64_t v = hush_rng_uniform(rng, BOUND);
        cr_assert_lt(v, BOUND);
        hits[v]++;
    }
    double chi2 = 0.0;
    for (int i = 0; i < BOUND; i++) {
        double e = N / (double)BOUND;
        chi2 += (hits[i] - e) * (hits[i] - e) / e;
    }
    cr_assert_leq(chi2, harness_chi2_quantile(BOUND - 1, 1e-6), "chi2 %f", chi2);
    cr_assert_eq(hush_rng_uniform(rng, 1), 0);
    cr_assert_eq(hush_rng_uniform(rng, 0), 0);
    uint64_t big = (UINT64_C(1) << 63) + 12345;
    for (int i = 0; i < 1000; i++) {
        cr_assert_lt(hush_rng_uniform(rng, big), big);
    }
    for (int i = 0; i < 1000; i++) {
        double u = hush_rng_unit(rng);
        cr_assert(u >= 0.0 && u < 1.0);
    }
    hush_rng_free(rng);
}

/* The number of successes in N draws is within 5 binomial standard errors. */
static void expect_rate(uint64_t hits, uint64_t n, double p, const char *what)
{
    double sd = sqrt(n * p * (1 - p));
    cr_assert(fabs(hits - n * p) <= 5 * sd + 1e-9,
              "%s: %llu of %llu, expected %.1f +- %.1f", what, (unsigned long long)hits,
              (unsigned long long)n, n * p, sd);
}

Test(rng, bernoulli_rates)
{
    hush_rng *rng = NULL;
    cr_assert_eq(hush_rng_new_seeded_u64(4, &rng), 0);
    /* The tie path: top byte 0x80 is a tie one time in 256 and must be
     * resolved by the following bytes: 0x80 01 ... is just above 1/2. */
    uint64_t thresholds[] = {UINT64_C(1) << 63, hush_prob_threshold(0.1, false),
                             hush_prob_threshold(1.0 / (exp(8.0) + 1.0), true),
                             UINT64_C(0x8001000000000000), UINT64_C(0x00000000ffffffff)};
    for (size_t t = 0; t < sizeof thresholds / sizeof thresholds[0]; t++) {
        double p = hush_threshold_prob(thresholds[t]);
        enum { N = 400000 };
        uint64_t single = 0, bits_hits = 0;
        for (int i = 0; i < N; i++) {
            single += hush_rng_bernoulli(rng, thresholds[t]);
        }
        static uint8_t bits[N / 8 + 1];
        hush_rng_bernoulli_bits(rng, thresholds[t], bits, N - 3);
        for (int i = 0; i < N - 3; i++) {
            bits_hits += (bits[i / 8] >> (i % 8)) & 1u;
        }
        cr_assert_eq(bits[(N - 3) / 8] >> ((N - 3) % 8), 0, "padding must be clear");
        expect_rate(single, N, p, "hush_rng_bernoulli");
        expect_rate(bits_hits, N - 3, p, "hush_rng_bernoulli_bits");
    }
    for (int i = 0; i < 1000; i++) {
        cr_assert(!hush_rng_bernoulli(rng, 0));
    }
    hush_rng_free(rng);
}

Test(rng, thresholds_round_toward_privacy)
{
    double ps[] = {1e-12, 0.1, 1.0 / 3.0, 0.5, 0.9, 1.0 - 1e-9};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        uint64_t down = hush_prob_threshold(ps[i], false);
        uint64_t up = hush_prob_threshold(ps[i], true);
        long double exact = (long double)ps[i] * 0x1.0p64L;
        cr_assert((long double)down <= exact, "p=%g rounded down above p", ps[i]);
        cr_assert((long double)up >= exact, "p=%g rounded up below p", ps[i]);
        /* the 2^-40 safety margin plus at most one unit of rounding */
        cr_assert(fabsl((long double)down - exact) <= exact * 0x1.0p-39L + 1.0L);
        cr_assert(fabsl((long double)up - exact) <= exact * 0x1.0p-39L + 1.0L);
    }
    cr_assert_eq(hush_prob_threshold(0.0, true), 0);
    cr_assert_eq(hush_prob_threshold(-1.0, false), 0);
    cr_assert_eq(hush_prob_threshold(1.0, false), UINT64_MAX);
    cr_assert_eq(hush_prob_threshold(NAN, false), 0);
}

Test(rng, normal_quantile)
{
    cr_assert_float_eq(hush_normal_quantile(0.975), 1.959963984540054, 1e-12);
    cr_assert_float_eq(hush_normal_quantile(0.5), 0.0, 1e-15);
    cr_assert_float_eq(hush_normal_quantile(0.025), -1.959963984540054, 1e-12);
    cr_assert_float_eq(hush_normal_quantile(1e-10), -6.361340902404056, 1e-9);
    cr_assert_float_eq(hush_normal_quantile(0.999), 3.090232306167813, 1e-11);
    cr_assert(isnan(hush_normal_quantile(0.0)));
    cr_assert(isnan(hush_normal_quantile(1.0)));
}
