/*
 * test_cms.c - Apple's Count Mean Sketch: accuracy against the derived
 * variance (hash collisions included), exact privacy audit, item keys.
 */
#include <criterion/criterion.h>
#include <math.h>

#include "ldp_harness.h"

/* Few columns, so that hash collisions carry real weight in the variance the
 * tests check; many rows, so that each estimate's error is close to Gaussian
 * (a row collision with a heavy item moves it by only c'/k). */
HARNESS_ACCURACY_TESTS(cms, HUSH_LDP_CMS, 256, 64)

#define AUDIT_ROWS 3
#define AUDIT_COLS 5

static void cms_output(const hush_ldp *m, size_t i, uint8_t *report)
{
    hush_store_le32(report, (uint32_t)(i >> m->sk_cols));
    report[4] = (uint8_t)(i & ((1u << m->sk_cols) - 1));
}

static long double cms_prob(const hush_ldp *m, uint32_t v, const uint8_t *report)
{
    uint32_t j = hush_load_le32(report);
    uint32_t col = hush__sketch_column(m->params.hash_seed, j, v, m->sk_cols);
    long double r = harness_tprob(m->t_main);
    long double prob = 1.0L / m->sk_rows;
    for (uint32_t c = 0; c < m->sk_cols; c++) {
        unsigned bit = (report[4] >> c) & 1u;
        unsigned unflipped = c == col;
        prob *= bit == unflipped ? 1.0L - r : r;
    }
    return prob;
}

static size_t cms_index(const hush_ldp *m, const uint8_t *report)
{
    uint32_t j = hush_load_le32(report);
    size_t n = (size_t)m->sk_rows << m->sk_cols;
    if (j >= m->sk_rows || (report[4] >> m->sk_cols) != 0) {
        return n;
    }
    return ((size_t)j << m->sk_cols) | report[4];
}

Test(cms, privacy_audit)
{
    static const double eps[] = HARNESS_AUDIT_EPSILONS;
    for (size_t e = 0; e < sizeof eps / sizeof eps[0]; e++) {
        hush_ldp_params params = {.mechanism = HUSH_LDP_CMS,
                                  .domain = 4,
                                  .epsilon = eps[e],
                                  .sketch_rows = AUDIT_ROWS,
                                  .sketch_cols = AUDIT_COLS,
                                  .hash_seed = 77};
        hush_ldp *m = NULL;
        cr_assert_eq(hush_ldp_new(&params, &m, NULL), 0);
        harness_audit(m, (size_t)AUDIT_ROWS << AUDIT_COLS, cms_output, cms_prob,
                      cms_index, 1.0L, 400000, 51 + e);
        hush_ldp_free(m);
    }
}

Test(cms, item_keys_estimate_like_indices)
{
    hush_ldp_params params = {.mechanism = HUSH_LDP_CMS,
                              .domain = 50,
                              .epsilon = 4.0,
                              .sketch_rows = 32,
                              .sketch_cols = 128,
                              .hash_seed = 3};
    hush_ldp *m = NULL;
    hush_ldp_agg *agg = NULL;
    hush_rng *rng = NULL;
    cr_assert_eq(hush_ldp_new(&params, &m, NULL), 0);
    cr_assert_eq(hush_ldp_agg_new(m, &agg, NULL), 0);
    cr_assert_eq(hush_rng_new_seeded_u64(8, &rng), 0);
    size_t rs = hush_ldp_report_size(m);
    uint8_t *r = malloc(rs);
    cr_assert(r != NULL);
    /* 3000 reports of a string item outside the index domain, 1000 of 7 */
    uint64_t key = hush_ldp_item_key("flamingo", 8);
    for (int i = 0; i < 4000; i++) {
        if (i < 3000) {
            cr_assert_eq(hush_ldp_encode_key(m, key, rng, r, rs, NULL), 0);
        } else {
            cr_assert_eq(hush_ldp_encode(m, 7, rng, r, rs, NULL), 0);
        }
        cr_assert_eq(hush_ldp_agg_add(agg, r, rs, NULL, NULL), 0);
    }
    uint64_t keys[2] = {key, 7};
    hush_ldp_estimate est[2];
    double counts[50];
    cr_assert_eq(hush_ldp_agg_estimate_keys(agg, keys, 2, 4.0, est, NULL), 0);
    cr_assert_eq(hush_ldp_agg_estimate_counts(agg, counts, 50, NULL), 0);
    cr_assert_float_eq(est[1].count, counts[7], 1e-9, "key 7 and index 7 must agree");
    /* within 5 standard errors of the truth */
    cr_assert(fabs(est[0].count - 3000) < 5 * est[0].std_error, "%f +- %f", est[0].count,
              est[0].std_error);
    cr_assert(fabs(est[1].count - 1000) < 5 * est[1].std_error, "%f +- %f", est[1].count,
              est[1].std_error);
    cr_assert(est[0].significant && est[1].significant);
    free(r);
    hush_rng_free(rng);
    hush_ldp_agg_free(agg);
    hush_ldp_free(m);
}

Test(cms, rejects_bad_rows_and_padding)
{
    hush_ldp_params params = {.mechanism = HUSH_LDP_CMS,
                              .domain = 4,
                              .epsilon = 1.0,
                              .sketch_rows = 3,
                              .sketch_cols = 5};
    hush_ldp *m = NULL;
    cr_assert_eq(hush_ldp_new(&params, &m, NULL), 0);
    cr_assert_eq(hush_ldp_report_size(m), 5);
    uint8_t r[5] = {3, 0, 0, 0, 0};
    cr_assert_eq(hush_ldp_check_report(m, r, 5, NULL), HUSH_ERANGE);
    r[0] = 2;
    r[4] = 0x20;
    cr_assert_eq(hush_ldp_check_report(m, r, 5, NULL), HUSH_ERANGE);
    r[4] = 0x1f;
    cr_assert_eq(hush_ldp_check_report(m, r, 5, NULL), 0);
    hush_ldp_free(m);
}
