/*
 * test_hcms.c - Apple's Hadamard Count Mean Sketch: accuracy against the
 * derived variance, exact privacy audit, parameter checks.
 */
#include <criterion/criterion.h>
#include <math.h>

#include "ldp_harness.h"

HARNESS_ACCURACY_TESTS(hcms, HUSH_LDP_HCMS, 256, 64)

#define AUDIT_ROWS 3
#define AUDIT_COLS 4

static void hcms_output(const hush_ldp *m, size_t i, uint8_t *report)
{
    uint32_t b = (uint32_t)(i & 1u);
    uint32_t l = (uint32_t)((i >> 1) % m->sk_cols);
    uint32_t j = (uint32_t)((i >> 1) / m->sk_cols);
    hush_store_le32(report, j);
    hush_store_le32(report + 4, l << 1 | b);
}

static long double hcms_prob(const hush_ldp *m, uint32_t v, const uint8_t *report)
{
    uint32_t j = hush_load_le32(report);
    uint32_t l = hush_load_le32(report + 4) >> 1;
    int b = (hush_load_le32(report + 4) & 1u) ? 1 : -1;
    uint32_t col = hush__sketch_column(m->params.hash_seed, j, v, m->sk_cols);
    int truth = (__builtin_popcount(col & l) & 1) ? -1 : 1;
    long double r = harness_tprob(m->t_main);
    return (b == truth ? 1.0L - r : r) / ((long double)m->sk_rows * m->sk_cols);
}

static size_t hcms_index(const hush_ldp *m, const uint8_t *report)
{
    uint32_t j = hush_load_le32(report);
    uint32_t lb = hush_load_le32(report + 4);
    size_t n = (size_t)m->sk_rows * m->sk_cols * 2;
    if (j >= m->sk_rows || (lb >> 1) >= m->sk_cols) {
        return n;
    }
    return ((size_t)j * m->sk_cols + (lb >> 1)) * 2 + (lb & 1u);
}

Test(hcms, privacy_audit)
{
    static const double eps[] = HARNESS_AUDIT_EPSILONS;
    for (size_t e = 0; e < sizeof eps / sizeof eps[0]; e++) {
        hush_ldp_params params = {.mechanism = HUSH_LDP_HCMS,
                                  .domain = 4,
                                  .epsilon = eps[e],
                                  .sketch_rows = AUDIT_ROWS,
                                  .sketch_cols = AUDIT_COLS,
                                  .hash_seed = 99};
        hush_ldp *m = NULL;
        cr_assert_eq(hush_ldp_new(&params, &m, NULL), 0);
        harness_audit(m, (size_t)AUDIT_ROWS * AUDIT_COLS * 2, hcms_output, hcms_prob,
                      hcms_index, 1.0L, 200000, 61 + e);
        hush_ldp_free(m);
    }
}

Test(hcms, columns_must_be_a_power_of_two)
{
    hush_ldp_params params = {.mechanism = HUSH_LDP_HCMS,
                              .domain = 4,
                              .epsilon = 1.0,
                              .sketch_rows = 4,
                              .sketch_cols = 48};
    hush_ldp *m = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_ldp_new(&params, &m, &err), HUSH_ERANGE);
    cr_assert(strstr(err.msg, "power of two") != NULL && strstr(err.msg, "48") != NULL,
              "%s", err.msg);
    params.sketch_cols = 64;
    params.sketch_rows = HUSH_LDP_SKETCH_CELLS_MAX;
    hush_err_clear(&err);
    cr_assert_eq(hush_ldp_new(&params, &m, &err), HUSH_ERANGE);
    params.sketch_rows = 0; /* defaults */
    params.sketch_cols = 0;
    cr_assert_eq(hush_ldp_new(&params, &m, NULL), 0);
    cr_assert_eq(hush_ldp_get_params(m)->sketch_rows, HUSH_LDP_SKETCH_ROWS_DEFAULT);
    cr_assert_eq(hush_ldp_get_params(m)->sketch_cols, HUSH_LDP_SKETCH_COLS_DEFAULT);
    cr_assert_eq(hush_ldp_report_bits(m), 8 + 10 + 1);
    hush_ldp_free(m);
}

Test(hcms, rejects_bad_rows_and_columns)
{
    hush_ldp_params params = {.mechanism = HUSH_LDP_HCMS,
                              .domain = 4,
                              .epsilon = 1.0,
                              .sketch_rows = 3,
                              .sketch_cols = 4};
    hush_ldp *m = NULL;
    cr_assert_eq(hush_ldp_new(&params, &m, NULL), 0);
    uint8_t r[8] = {0};
    hush_store_le32(r, 3);
    cr_assert_eq(hush_ldp_check_report(m, r, 8, NULL), HUSH_ERANGE);
    hush_store_le32(r, 2);
    hush_store_le32(r + 4, 4u << 1);
    cr_assert_eq(hush_ldp_check_report(m, r, 8, NULL), HUSH_ERANGE);
    hush_store_le32(r + 4, 3u << 1 | 1u);
    cr_assert_eq(hush_ldp_check_report(m, r, 8, NULL), 0);
    hush_ldp_free(m);
}
