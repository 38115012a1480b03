/*
 * test_recommend.c - hush_ldp_recommend picks the lowest-variance mechanism
 * that fits the report budget and whose aggregation cost suits the domain.
 */
#include <criterion/criterion.h>
#include <math.h>

#include "ldp_harness.h"

static hush_ldp_mechanism pick(uint32_t d, double eps, unsigned bits)
{
    hush_ldp_params p;
    hush_err err = {0};
    cr_assert_eq(hush_ldp_recommend(d, eps, bits, &p, &err), 0, "%s", err.msg);
    cr_assert_eq(p.domain, d);
    cr_assert_float_eq(p.epsilon, eps, 0);
    hush_ldp *m = NULL;
    cr_assert_eq(hush_ldp_new(&p, &m, NULL), 0, "recommended parameters must be valid");
    if (bits != 0) {
        cr_assert_leq(hush_ldp_report_bits(m), bits);
    }
    hush_ldp_free(m);
    return p.mechanism;
}

/* Variance at count 0 per report, by the formulas of Wang et al. */
static double grr_var(double d, double eps)
{
    double e = exp(eps);
    return (d - 2 + e) / ((e - 1) * (e - 1));
}

Test(recommend, small_domains_and_large_epsilon_pick_grr)
{
    /* GRR beats the unary/hashing protocols when d < 3 e^eps + 2 */
    cr_assert_eq(pick(4, 4.0, 0), HUSH_LDP_GRR);
    cr_assert_eq(pick(2, 1.0, 0), HUSH_LDP_GRR);
    cr_assert_eq(pick(100, 6.0, 0), HUSH_LDP_GRR);
    cr_assert(grr_var(100, 6.0) < 4 * exp(6.0) / pow(exp(6.0) - 1, 2));
}

Test(recommend, mid_domains_pick_oue_or_olh_by_report_budget)
{
    cr_assert_eq(pick(1024, 1.0, 0), HUSH_LDP_OUE);
    /* with 64-bit reports OUE (1024 bits) does not fit; OLH does */
    cr_assert_eq(pick(1024, 1.0, 64), HUSH_LDP_OLH);
}

Test(recommend, large_domains_avoid_olh)
{
    /* OLH would cost d hashes per report; with short reports HR's one bit
     * wins over GRR */
    cr_assert_eq(pick(65536, 2.0, 64), HUSH_LDP_HR);
    cr_assert_eq(pick(1u << 22, 1.0, 64), HUSH_LDP_HR);
    /* with room for m-bit reports, CMS (an OUE at eps/2 over a sketch) has
     * the lower variance: e^(1/2)/(e^(1/2)-1)^2 = 3.92 < ((e+1)/(e-1))^2 */
    cr_assert_eq(pick(1u << 22, 1.0, 0), HUSH_LDP_CMS);
}

Test(recommend, impossible_budgets_and_bad_arguments)
{
    hush_ldp_params p;
    hush_err err = {0};
    cr_assert_eq(hush_ldp_recommend(1024, 1.0, 1, &p, &err), HUSH_ENOTFOUND);
    cr_assert(strstr(err.msg, "1 bits") != NULL, "%s", err.msg);
    cr_assert_eq(hush_ldp_recommend(1, 1.0, 0, &p, NULL), HUSH_ERANGE);
    cr_assert_eq(hush_ldp_recommend(10, 0.0, 0, &p, NULL), HUSH_ERANGE);
}
