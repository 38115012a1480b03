/*
 * test_olh.c - optimized local hashing: accuracy, exact privacy audit on a
 * slice of seeds, the encoder's conditional distribution, the hash itself.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <xxhash.h>

#include "ldp_harness.h"

HARNESS_ACCURACY_TESTS(olh, HUSH_LDP_OLH, 0, 0)

__extension__ typedef unsigned __int128 u128;

#define SLICE_SEEDS 64

/* The test's own statement of the hash: XXH3-64 of the value's 4
 * little-endian bytes under the report's seed, mapped to [g] by
 * floor(h * g / 2^64). */
static uint32_t test_hash(uint32_t v, uint32_t seed, uint32_t g)
{
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                     (uint8_t)(v >> 24)};
    uint64_t h = XXH3_64bits_withSeed(le, 4, seed);
    return (uint32_t)(((u128)h * g) >> 64);
}

static void olh_output(const hush_ldp *m, size_t i, uint8_t *report)
{
    hush_store_le32(report, (uint32_t)(i / m->g));
    hush_store_le32(report + 4, (uint32_t)(i % m->g));
}

static long double olh_prob(const hush_ldp *m, uint32_t v, const uint8_t *report)
{
    long double p = harness_tprob(m->t_main);
    uint32_t seed = hush_load_le32(report);
    uint32_t y = hush_load_le32(report + 4);
    long double py = y == test_hash(v, seed, m->g) ? p : (1.0L - p) / (m->g - 1);
    return py * 0x1.0p-32L; /* the seed is uniform over 2^32 values */
}

static size_t olh_index(const hush_ldp *m, const uint8_t *report)
{
    uint32_t seed = hush_load_le32(report);
    uint32_t y = hush_load_le32(report + 4);
    if (seed >= SLICE_SEEDS || y >= m->g) {
        return (size_t)SLICE_SEEDS * m->g;
    }
    return (size_t)seed * m->g + y;
}

Test(olh, privacy_audit)
{
    static const double eps[] = HARNESS_AUDIT_EPSILONS;
    for (size_t e = 0; e < sizeof eps / sizeof eps[0]; e++) {
        hush_ldp_params params = {
            .mechanism = HUSH_LDP_OLH, .domain = 6, .epsilon = eps[e]};
        hush_ldp *m = NULL;
        cr_assert_eq(hush_ldp_new(&params, &m, NULL), 0);
        cr_assert_eq(m->g, (uint32_t)floor(exp(eps[e]) + 0.5) + 1);
        /* Exact over a slice of seeds: every seed gives the same GRR. */
        harness_audit(m, (size_t)SLICE_SEEDS * m->g, olh_output, olh_prob, olh_index,
                      (long double)SLICE_SEEDS * 0x1.0p-32L, 0, 0);

        /* Sampling: given its seed, y - h_s(v) mod g is 0 with p and each
         * other offset with (1-p)/(g-1).  Chi-square at p = 1e-6. */
        hush_rng *rng = NULL;
        cr_assert_eq(hush_rng_new_seeded_u64(31 + e, &rng), 0);
        const size_t samples = 200000;
        for (uint32_t v = 0; v < 6; v++) {
            uint64_t *hits = calloc(m->g, sizeof *hits);
            cr_assert(hits != NULL);
            for (size_t s = 0; s < samples; s++) {
                uint8_t r[8];
                cr_assert_eq(hush_ldp_encode(m, v, rng, r, sizeof r, NULL), 0);
                uint32_t seed = hush_load_le32(r);
                uint32_t y = hush_load_le32(r + 4);
                hits[(y + m->g - test_hash(v, seed, m->g)) % m->g]++;
            }
            double p = (double)harness_tprob(m->t_main);
            double chi2 = 0.0;
            for (uint32_t off = 0; off < m->g; off++) {
                double expect = samples * (off == 0 ? p : (1.0 - p) / (m->g - 1));
                chi2 += (hits[off] - expect) * (hits[off] - expect) / expect;
            }
            double limit = harness_chi2_quantile(m->g - 1, 1e-6);
            cr_expect(chi2 <= limit, "eps=%g v=%u: chi2 %.1f > %.1f", eps[e], v, chi2,
                      limit);
            free(hits);
        }
        hush_rng_free(rng);
        hush_ldp_free(m);
    }
}

Test(olh, support_counting_matches_a_direct_count)
{
    /* The vectorized support loop must count exactly the reports whose
     * (seed, y) hash v to y, per the test's own hash. */
    hush_ldp_params params = {.mechanism = HUSH_LDP_OLH, .domain = 300, .epsilon = 3.0};
    hush_ldp *m = NULL;
    hush_ldp_agg *agg = NULL;
    hush_rng *rng = NULL;
    cr_assert_eq(hush_ldp_new(&params, &m, NULL), 0);
    cr_assert_eq(hush_ldp_agg_new(m, &agg, NULL), 0);
    cr_assert_eq(hush_rng_new_seeded_u64(5, &rng), 0);
    enum { N = 2000 };
    static uint8_t reports[N * 8];
    for (int i = 0; i < N; i++) {
        cr_assert_eq(
            hush_ldp_encode(m, (uint32_t)(i * 7 % 300), rng, reports + 8 * i, 8, NULL),
            0);
    }
    cr_assert_eq(hush_ldp_agg_add(agg, reports, sizeof reports, NULL, NULL), 0);
    for (uint32_t v = 0; v < 300; v++) {
        int64_t direct = 0;
        for (int i = 0; i < N; i++) {
            direct += test_hash(v, hush_load_le32(reports + 8 * i), m->g) ==
                      hush_load_le32(reports + 8 * i + 4);
        }
        cr_assert_eq(agg->cells[v], direct, "item %u: %lld != %lld", v,
                     (long long)agg->cells[v], (long long)direct);
    }
    hush_rng_free(rng);
    hush_ldp_agg_free(agg);
    hush_ldp_free(m);
}

Test(olh, g_parameter_is_checked)
{
    hush_ldp_params params = {
        .mechanism = HUSH_LDP_OLH, .domain = 10, .epsilon = 1.0, .olh_g = 1};
    hush_ldp *m = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_ldp_new(&params, &m, &err), HUSH_ERANGE);
    cr_assert(strstr(err.msg, "got 1") != NULL, "%s", err.msg);
    params.olh_g = 5;
    cr_assert_eq(hush_ldp_new(&params, &m, NULL), 0);
    uint8_t r[8] = {0};
    hush_store_le32(r + 4, 5);
    cr_assert_eq(hush_ldp_check_report(m, r, 8, NULL), HUSH_ERANGE);
    hush_store_le32(r + 4, 4);
    cr_assert_eq(hush_ldp_check_report(m, r, 8, NULL), 0);
    cr_assert_eq(hush_ldp_report_bits(m), 32 + 3);
    hush_ldp_free(m);
}
