/*
 * test_oue.c - optimized unary encoding: accuracy, exact privacy audit over
 * all 2^d reports, padding checks.
 */
#include <criterion/criterion.h>
#include <math.h>

#include "ldp_harness.h"

HARNESS_ACCURACY_TESTS(oue, HUSH_LDP_OUE, 0, 0)

static void oue_output(const hush_ldp *m, size_t i, uint8_t *report)
{
    (void)m;
    report[0] = (uint8_t)i;
}

static long double oue_prob(const hush_ldp *m, uint32_t v, const uint8_t *report)
{
    long double p = harness_tprob(m->t_main);
    long double q = harness_tprob(m->t_other);
    long double prob = 1.0L;
    for (uint32_t i = 0; i < m->params.domain; i++) {
        long double one = i == v ? p : q;
        prob *= (report[0] >> i) & 1u ? one : 1.0L - one;
    }
    return prob;
}

static size_t oue_index(const hush_ldp *m, const uint8_t *report)
{
    size_t n = (size_t)1 << m->params.domain;
    return report[0] < n ? report[0] : n;
}

Test(oue, privacy_audit)
{
    static const double eps[] = HARNESS_AUDIT_EPSILONS;
    for (size_t e = 0; e < sizeof eps / sizeof eps[0]; e++) {
        hush_ldp_params params = {
            .mechanism = HUSH_LDP_OUE, .domain = 5, .epsilon = eps[e]};
        hush_ldp *m = NULL;
        cr_assert_eq(hush_ldp_new(&params, &m, NULL), 0);
        cr_assert_eq(m->t_main, UINT64_C(1) << 63, "the true bit must be 1 with p = 1/2");
        harness_audit(m, 32, oue_output, oue_prob, oue_index, 1.0L, 200000, 21 + e);
        hush_ldp_free(m);
    }
}

Test(oue, reports_are_d_bits_with_clear_padding)
{
    hush_ldp_params params = {.mechanism = HUSH_LDP_OUE, .domain = 13, .epsilon = 0.5};
    hush_ldp *m = NULL;
    hush_rng *rng = NULL;
    cr_assert_eq(hush_ldp_new(&params, &m, NULL), 0);
    cr_assert_eq(hush_rng_new_seeded_u64(2, &rng), 0);
    cr_assert_eq(hush_ldp_report_size(m), 2);
    cr_assert_eq(hush_ldp_report_bits(m), 13);
    for (int i = 0; i < 1000; i++) {
        uint8_t r[2];
        cr_assert_eq(hush_ldp_encode(m, (uint32_t)(i % 13), rng, r, sizeof r, NULL), 0);
        cr_assert_eq(r[1] >> 5, 0, "padding bits must stay clear");
        cr_assert_eq(hush_ldp_check_report(m, r, 2, NULL), 0);
    }
    uint8_t bad[2] = {0, 0x20};
    hush_err err = {0};
    cr_assert_eq(hush_ldp_check_report(m, bad, 2, &err), HUSH_ERANGE);
    cr_assert(strstr(err.msg, "beyond domain 13") != NULL, "%s", err.msg);
    hush_rng_free(rng);
    hush_ldp_free(m);
}

Test(oue, large_domains_are_refused)
{
    hush_ldp_params params = {
        .mechanism = HUSH_LDP_OUE, .domain = HUSH_LDP_OUE_DOMAIN_MAX + 1, .epsilon = 1.0};
    hush_ldp *m = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_ldp_new(&params, &m, &err), HUSH_ERANGE);
    cr_assert(strstr(err.msg, "oue") != NULL, "%s", err.msg);
}
