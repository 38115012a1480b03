/*
 * test_grr.c - generalized randomized response: accuracy against Wang et
 * al.'s variance, exact privacy audit, and its own bad reports.
 */
#include <criterion/criterion.h>
#include <math.h>

#include "ldp_harness.h"

HARNESS_ACCURACY_TESTS(grr, HUSH_LDP_GRR, 0, 0)

static void grr_output(const hush_ldp *m, size_t i, uint8_t *report)
{
    (void)m;
    hush_store_le32(report, (uint32_t)i);
}

static long double grr_prob(const hush_ldp *m, uint32_t v, const uint8_t *report)
{
    long double p = harness_tprob(m->t_main);
    return hush_load_le32(report) == v ? p : (1.0L - p) / (m->params.domain - 1);
}

static size_t grr_index(const hush_ldp *m, const uint8_t *report)
{
    uint32_t y = hush_load_le32(report);
    return y < m->params.domain ? y : m->params.domain;
}

Test(grr, privacy_audit)
{
    static const double eps[] = HARNESS_AUDIT_EPSILONS;
    for (size_t e = 0; e < sizeof eps / sizeof eps[0]; e++) {
        for (uint32_t d = 2; d <= 6; d += 4) {
            hush_ldp_params params = {
                .mechanism = HUSH_LDP_GRR, .domain = d, .epsilon = eps[e]};
            hush_ldp *m = NULL;
            cr_assert_eq(hush_ldp_new(&params, &m, NULL), 0);
            harness_audit(m, d, grr_output, grr_prob, grr_index, 1.0L, 200000, 11 + e);
            hush_ldp_free(m);
        }
    }
}

Test(grr, realised_probabilities_match_the_paper)
{
    /* p = e^eps/(e^eps + d - 1), q = 1/(e^eps + d - 1): the realised values
     * differ only by the privacy-side rounding of the threshold. */
    hush_ldp_params params = {.mechanism = HUSH_LDP_GRR, .domain = 10, .epsilon = 2.0};
    hush_ldp *m = NULL;
    cr_assert_eq(hush_ldp_new(&params, &m, NULL), 0);
    double e = exp(2.0);
    cr_assert_float_eq(m->p, e / (e + 9.0), 1e-11);
    cr_assert_float_eq(m->q, 1.0 / (e + 9.0), 1e-11);
    cr_assert(m->p <= e / (e + 9.0), "keep probability must round down");
    cr_assert_eq(hush_ldp_report_size(m), 4);
    cr_assert_eq(hush_ldp_report_bits(m), 4);
    hush_ldp_free(m);
}

Test(grr, rejects_out_of_range_reports_and_values)
{
    hush_ldp_params params = {.mechanism = HUSH_LDP_GRR, .domain = 10, .epsilon = 1.0};
    hush_ldp *m = NULL;
    hush_rng *rng = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_ldp_new(&params, &m, NULL), 0);
    cr_assert_eq(hush_rng_new_seeded_u64(1, &rng), 0);
    uint8_t r[4];
    cr_assert_eq(hush_ldp_encode(m, 10, rng, r, sizeof r, &err), HUSH_ERANGE);
    cr_assert(strstr(err.msg, "got 10") != NULL, "%s", err.msg);
    hush_err_clear(&err);
    hush_store_le32(r, 10);
    cr_assert_eq(hush_ldp_check_report(m, r, 4, &err), HUSH_ERANGE);
    cr_assert(strstr(err.msg, "got 10") != NULL, "%s", err.msg);
    cr_assert_eq(hush_ldp_check_report(m, r, 3, NULL), HUSH_EINVAL);
    hush_store_le32(r, 9);
    cr_assert_eq(hush_ldp_check_report(m, r, 4, NULL), 0);
    hush_rng_free(rng);
    hush_ldp_free(m);
}
