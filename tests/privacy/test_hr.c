/*
 * test_hr.c - one-bit Hadamard response: accuracy, exact privacy audit, the
 * transform against a direct evaluation.
 */
#include <criterion/criterion.h>
#include <math.h>

#include "ldp_harness.h"

HARNESS_ACCURACY_TESTS(hr, HUSH_LDP_HR, 0, 0)

static int sign(uint32_t v, uint32_t l)
{
    return (__builtin_popcount(v & l) & 1) ? -1 : 1;
}

static void hr_output(const hush_ldp *m, size_t i, uint8_t *report)
{
    (void)m;
    hush_store_le32(report, (uint32_t)i);
}

static long double hr_prob(const hush_ldp *m, uint32_t v, const uint8_t *report)
{
    uint32_t r = hush_load_le32(report);
    int b = (r & 1u) ? 1 : -1;
    long double p = harness_tprob(m->t_main);
    return (b == sign(v, r >> 1) ? p : 1.0L - p) / m->hr_k;
}

static size_t hr_index(const hush_ldp *m, const uint8_t *report)
{
    uint32_t r = hush_load_le32(report);
    return r < 2 * m->hr_k ? r : 2 * m->hr_k;
}

Test(hr, privacy_audit)
{
    static const double eps[] = HARNESS_AUDIT_EPSILONS;
    for (size_t e = 0; e < sizeof eps / sizeof eps[0]; e++) {
        hush_ldp_params params = {
            .mechanism = HUSH_LDP_HR, .domain = 5, .epsilon = eps[e]};
        hush_ldp *m = NULL;
        cr_assert_eq(hush_ldp_new(&params, &m, NULL), 0);
        cr_assert_eq(m->hr_k, 8);
        harness_audit(m, 16, hr_output, hr_prob, hr_index, 1.0L, 200000, 41 + e);
        hush_ldp_free(m);
    }
}

Test(hr, transform_equals_direct_sum)
{
    /* c^(x) = c_e * sum_l S[l] H[x][l]: compare the FWHT path with the
     * direct O(K d) sum on a state built from real reports. */
    hush_ldp_params params = {.mechanism = HUSH_LDP_HR, .domain = 100, .epsilon = 1.5};
    hush_ldp *m = NULL;
    hush_ldp_agg *agg = NULL;
    hush_rng *rng = NULL;
    cr_assert_eq(hush_ldp_new(&params, &m, NULL), 0);
    cr_assert_eq(hush_ldp_agg_new(m, &agg, NULL), 0);
    cr_assert_eq(hush_rng_new_seeded_u64(9, &rng), 0);
    for (int i = 0; i < 5000; i++) {
        uint8_t r[4];
        cr_assert_eq(hush_ldp_encode(m, (uint32_t)(i % 37), rng, r, 4, NULL), 0);
        cr_assert_eq(hush_ldp_agg_add(agg, r, 4, NULL, NULL), 0);
    }
    double est[100];
    cr_assert_eq(hush_ldp_agg_estimate_counts(agg, est, 100, NULL), 0);
    for (uint32_t x = 0; x < 100; x++) {
        double direct = 0.0;
        for (uint32_t l = 0; l < m->hr_k; l++) {
            direct += (double)agg->cells[l] * sign(x, l);
        }
        cr_assert_float_eq(est[x], m->c_eps * direct, 1e-6, "item %u", x);
    }
    hush_rng_free(rng);
    hush_ldp_agg_free(agg);
    hush_ldp_free(m);
}

Test(hr, rejects_columns_beyond_k)
{
    hush_ldp_params params = {.mechanism = HUSH_LDP_HR, .domain = 5, .epsilon = 1.0};
    hush_ldp *m = NULL;
    cr_assert_eq(hush_ldp_new(&params, &m, NULL), 0);
    uint8_t r[4];
    hush_store_le32(r, 8u << 1);
    hush_err err = {0};
    cr_assert_eq(hush_ldp_check_report(m, r, 4, &err), HUSH_ERANGE);
    cr_assert(strstr(err.msg, "got 8") != NULL, "%s", err.msg);
    hush_store_le32(r, 7u << 1 | 1u);
    cr_assert_eq(hush_ldp_check_report(m, r, 4, NULL), 0);
    hush_ldp_free(m);
}
