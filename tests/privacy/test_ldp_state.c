/*
 * test_ldp_state.c - what every mechanism's aggregate state must do: merge
 * like a union, round-trip through serialization, refuse corrupt input, and
 * stay untouched by a batch holding any bad report.  Also the estimate
 * summary (interval, frequency, significance) and parameter validation.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <xxhash.h>

#include "ldp_harness.h"

static const hush_ldp_params all_params[] = {
    {.mechanism = HUSH_LDP_GRR, .domain = 20, .epsilon = 2.0},
    {.mechanism = HUSH_LDP_OUE, .domain = 20, .epsilon = 2.0},
    {.mechanism = HUSH_LDP_OLH, .domain = 20, .epsilon = 2.0},
    {.mechanism = HUSH_LDP_HR, .domain = 20, .epsilon = 2.0},
    {.mechanism = HUSH_LDP_CMS,
     .domain = 20,
     .epsilon = 2.0,
     .sketch_rows = 8,
     .sketch_cols = 20,
     .hash_seed = 5},
    {.mechanism = HUSH_LDP_HCMS,
     .domain = 20,
     .epsilon = 2.0,
     .sketch_rows = 8,
     .sketch_cols = 16,
     .hash_seed = 5},
};
#define N_PARAMS (sizeof all_params / sizeof all_params[0])

/* n encoded reports of values i*3 % d, back to back; caller frees. */
static uint8_t *make_reports(const hush_ldp *m, size_t n, uint64_t seed)
{
    size_t rs = hush_ldp_report_size(m);
    uint8_t *buf = malloc(rs * n);
    hush_rng *rng = NULL;
    cr_assert(buf != NULL);
    cr_assert_eq(hush_rng_new_seeded_u64(seed, &rng), 0);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(hush_ldp_encode(m, (uint32_t)(i * 3 % m->params.domain), rng,
                                     buf + i * rs, rs, NULL),
                     0);
    }
    hush_rng_free(rng);
    return buf;
}

Test(ldp_state, merge_equals_union)
{
    for (size_t k = 0; k < N_PARAMS; k++) {
        hush_ldp *m = NULL;
        hush_ldp_agg *a = NULL, *b = NULL, *all = NULL;
        cr_assert_eq(hush_ldp_new(&all_params[k], &m, NULL), 0);
        cr_assert_eq(hush_ldp_agg_new(m, &a, NULL), 0);
        cr_assert_eq(hush_ldp_agg_new(m, &b, NULL), 0);
        cr_assert_eq(hush_ldp_agg_new(m, &all, NULL), 0);
        size_t rs = hush_ldp_report_size(m);
        uint8_t *r = make_reports(m, 3000, k);
        cr_assert_eq(hush_ldp_agg_add(a, r, rs * 1000, NULL, NULL), 0);
        cr_assert_eq(hush_ldp_agg_add(b, r + rs * 1000, rs * 2000, NULL, NULL), 0);
        cr_assert_eq(hush_ldp_agg_add(all, r, rs * 3000, NULL, NULL), 0);
        cr_assert(!hush_ldp_agg_equal(a, all));
        cr_assert_eq(hush_ldp_agg_merge(a, b, NULL), 0);
        cr_assert(hush_ldp_agg_equal(a, all), "%s: merge(a, b) != a U b",
                  hush_ldp_mechanism_name(all_params[k].mechanism));
        cr_assert_eq(hush_ldp_agg_count(a), 3000);
        /* estimates from the merged and the single state agree exactly */
        double e1[20], e2[20];
        cr_assert_eq(hush_ldp_agg_estimate_counts(a, e1, 20, NULL), 0);
        cr_assert_eq(hush_ldp_agg_estimate_counts(all, e2, 20, NULL), 0);
        cr_assert_arr_eq(e1, e2, sizeof e1);
        free(r);
        hush_ldp_agg_free(a);
        hush_ldp_agg_free(b);
        hush_ldp_agg_free(all);
        hush_ldp_free(m);
    }
}

Test(ldp_state, merge_refuses_other_parameters)
{
    hush_ldp *m1 = NULL, *m2 = NULL;
    hush_ldp_agg *a = NULL, *b = NULL;
    hush_ldp_params p2 = all_params[0];
    p2.epsilon = 2.5;
    cr_assert_eq(hush_ldp_new(&all_params[0], &m1, NULL), 0);
    cr_assert_eq(hush_ldp_new(&p2, &m2, NULL), 0);
    cr_assert_eq(hush_ldp_agg_new(m1, &a, NULL), 0);
    cr_assert_eq(hush_ldp_agg_new(m2, &b, NULL), 0);
    uint8_t *r = make_reports(m2, 10, 1);
    cr_assert_eq(hush_ldp_agg_add(b, r, 40, NULL, NULL), 0);
    hush_err err = {0};
    cr_assert_eq(hush_ldp_agg_merge(a, b, &err), HUSH_EMISMATCH);
    cr_assert_eq(hush_ldp_agg_count(a), 0, "a failed merge must not change the state");
    free(r);
    hush_ldp_agg_free(a);
    hush_ldp_agg_free(b);
    hush_ldp_free(m1);
    hush_ldp_free(m2);
}

Test(ldp_state, serialize_round_trip)
{
    for (size_t k = 0; k < N_PARAMS; k++) {
        hush_ldp *m = NULL;
        hush_ldp_agg *a = NULL, *b = NULL;
        cr_assert_eq(hush_ldp_new(&all_params[k], &m, NULL), 0);
        cr_assert_eq(hush_ldp_agg_new(m, &a, NULL), 0);
        uint8_t *r = make_reports(m, 500, 10 + k);
        cr_assert_eq(hush_ldp_agg_add(a, r, hush_ldp_report_size(m) * 500, NULL, NULL),
                     0);
        uint8_t *buf = NULL, *buf2 = NULL;
        size_t len = 0, len2 = 0;
        cr_assert_eq(hush_ldp_agg_serialize(a, &buf, &len, NULL), 0);
        cr_assert_eq(memcmp(buf, "HUSHLDPA", 8), 0);
        cr_assert_eq(hush_ldp_agg_deserialize(buf, len, m, &b, NULL), 0);
        cr_assert(hush_ldp_agg_equal(a, b));
        cr_assert_eq(hush_ldp_agg_serialize(b, &buf2, &len2, NULL), 0);
        cr_assert_eq(len, len2);
        cr_assert_arr_eq(buf, buf2, len, "serialization must be deterministic");
        /* without an expected mechanism the parameters come from the bytes */
        hush_ldp_agg *c = NULL;
        cr_assert_eq(hush_ldp_agg_deserialize(buf, len, NULL, &c, NULL), 0);
        cr_assert(hush_ldp_agg_equal(a, c));
        hush_ldp_agg_free(c);
        hush_free(buf);
        hush_free(buf2);
        free(r);
        hush_ldp_agg_free(a);
        hush_ldp_agg_free(b);
        hush_ldp_free(m);
    }
}

Test(ldp_state, deserialize_refuses_other_parameters)
{
    hush_ldp *m1 = NULL, *m2 = NULL;
    hush_ldp_agg *a = NULL, *b = NULL;
    cr_assert_eq(hush_ldp_new(&all_params[0], &m1, NULL), 0);
    cr_assert_eq(hush_ldp_new(&all_params[3], &m2, NULL), 0);
    cr_assert_eq(hush_ldp_agg_new(m1, &a, NULL), 0);
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(hush_ldp_agg_serialize(a, &buf, &len, NULL), 0);
    hush_err err = {0};
    cr_assert_eq(hush_ldp_agg_deserialize(buf, len, m2, &b, &err), HUSH_EMISMATCH);
    cr_assert_null(b);
    cr_assert(strstr(err.msg, "hr") != NULL, "%s", err.msg);
    hush_free(buf);
    hush_ldp_agg_free(a);
    hush_ldp_free(m1);
    hush_ldp_free(m2);
}

Test(ldp_state, corrupt_and_truncated_states_are_rejected)
{
    for (size_t k = 0; k < N_PARAMS; k++) {
        hush_ldp *m = NULL;
        hush_ldp_agg *a = NULL;
        cr_assert_eq(hush_ldp_new(&all_params[k], &m, NULL), 0);
        cr_assert_eq(hush_ldp_agg_new(m, &a, NULL), 0);
        uint8_t *r = make_reports(m, 200, 20 + k);
        cr_assert_eq(hush_ldp_agg_add(a, r, hush_ldp_report_size(m) * 200, NULL, NULL),
                     0);
        uint8_t *buf = NULL;
        size_t len = 0;
        cr_assert_eq(hush_ldp_agg_serialize(a, &buf, &len, NULL), 0);
        for (size_t cut = 0; cut < len; cut++) {
            hush_ldp_agg *b = NULL;
            int rc = hush_ldp_agg_deserialize(buf, cut, NULL, &b, NULL);
            cr_assert(rc == HUSH_ECORRUPT, "truncated to %zu bytes: rc %d", cut, rc);
            cr_assert_null(b);
        }
        for (size_t i = 0; i < len; i++) {
            for (int bit = 0; bit < 8; bit += 3) {
                buf[i] ^= (uint8_t)(1u << bit);
                hush_ldp_agg *b = NULL;
                int rc = hush_ldp_agg_deserialize(buf, len, NULL, &b, NULL);
                cr_assert(rc != 0, "%s: flipping bit %d of byte %zu went unnoticed",
                          hush_ldp_mechanism_name(all_params[k].mechanism), bit, i);
                cr_assert_null(b);
                buf[i] ^= (uint8_t)(1u << bit);
            }
        }
        hush_free(buf);
        free(r);
        hush_ldp_agg_free(a);
        hush_ldp_free(m);
    }
}

/* A state with a valid checksum but sums that no sequence of reports can
 * produce: the parser must check invariants, not only the checksum. */
Test(ldp_state, inconsistent_sums_are_rejected)
{
    for (size_t k = 0; k < N_PARAMS; k++) {
        hush_ldp *m = NULL;
        hush_ldp_agg *a = NULL;
        cr_assert_eq(hush_ldp_new(&all_params[k], &m, NULL), 0);
        cr_assert_eq(hush_ldp_agg_new(m, &a, NULL), 0);
        uint8_t *r = make_reports(m, 50, 30 + k);
        cr_assert_eq(hush_ldp_agg_add(a, r, hush_ldp_report_size(m) * 50, NULL, NULL), 0);
        uint8_t *buf = NULL;
        size_t len = 0;
        cr_assert_eq(hush_ldp_agg_serialize(a, &buf, &len, NULL), 0);
        /* first sum := report count + 1, then fix the checksum */
        hush_store_le64(buf + 64, 51);
        hush_store_le64(buf + len - 8, XXH3_64bits(buf, len - 8));
        hush_ldp_agg *b = NULL;
        hush_err err = {0};
        cr_assert_eq(hush_ldp_agg_deserialize(buf, len, NULL, &b, &err), HUSH_ECORRUPT,
                     "%s accepted an impossible sum",
                     hush_ldp_mechanism_name(all_params[k].mechanism));
        /* an unknown version */
        hush_store_le32(buf + 8, 99);
        hush_store_le64(buf + len - 8, XXH3_64bits(buf, len - 8));
        cr_assert_eq(hush_ldp_agg_deserialize(buf, len, NULL, &b, NULL), HUSH_EVERSION);
        hush_free(buf);
        free(r);
        hush_ldp_agg_free(a);
        hush_ldp_free(m);
    }
}

/* One bad report anywhere in a batch: the whole batch is refused, the first
 * bad index is named, the state is unchanged. */
Test(ldp_state, a_bad_report_rejects_the_whole_batch)
{
    for (size_t k = 0; k < N_PARAMS; k++) {
        hush_ldp *m = NULL;
        hush_ldp_agg *a = NULL, *before = NULL;
        cr_assert_eq(hush_ldp_new(&all_params[k], &m, NULL), 0);
        cr_assert_eq(hush_ldp_agg_new(m, &a, NULL), 0);
        cr_assert_eq(hush_ldp_agg_new(m, &before, NULL), 0);
        size_t rs = hush_ldp_report_size(m);
        uint8_t *r = make_reports(m, 100, 40 + k);
        cr_assert_eq(hush_ldp_agg_add(a, r, rs * 10, NULL, NULL), 0);
        cr_assert_eq(hush_ldp_agg_add(before, r, rs * 10, NULL, NULL), 0);
        /* corrupt reports 37 and 60 so that each mechanism's check fails:
         * 0xff in the first bytes is out of range for every layout here */
        memset(r + 37 * rs, 0xff, rs);
        memset(r + 60 * rs, 0xff, rs);
        size_t bad = 0;
        hush_err err = {0};
        int rc = hush_ldp_agg_add(a, r, rs * 100, &bad, &err);
        cr_assert(rc == HUSH_ERANGE || rc == HUSH_EINVAL, "%s: rc %d",
                  hush_ldp_mechanism_name(all_params[k].mechanism), rc);
        cr_assert_eq(bad, 37);
        cr_assert(err.msg[0] != '\0');
        cr_assert(hush_ldp_agg_equal(a, before), "a refused batch changed the state");
        /* a length that is not a whole number of reports */
        cr_assert_eq(hush_ldp_agg_add(a, r, rs * 3 + 1, &bad, NULL), HUSH_EINVAL);
        cr_assert(hush_ldp_agg_equal(a, before));
        free(r);
        hush_ldp_agg_free(a);
        hush_ldp_agg_free(before);
        hush_ldp_free(m);
    }
}

Test(ldp_state, parameters_are_validated_with_clear_messages)
{
    hush_ldp *m = NULL;
    hush_err err = {0};
    hush_ldp_params p = {.mechanism = HUSH_LDP_GRR, .domain = 10, .epsilon = -1.0};
    cr_assert_eq(hush_ldp_new(&p, &m, &err), HUSH_ERANGE);
    cr_assert(strstr(err.msg, "epsilon") && strstr(err.msg, "got -1"), "%s", err.msg);
    hush_err_clear(&err);
    p.epsilon = NAN;
    cr_assert_eq(hush_ldp_new(&p, &m, &err), HUSH_ERANGE);
    p.epsilon = INFINITY;
    cr_assert_eq(hush_ldp_new(&p, &m, NULL), HUSH_ERANGE);
    p.epsilon = 31.0;
    cr_assert_eq(hush_ldp_new(&p, &m, NULL), HUSH_ERANGE);
    p.epsilon = 1.0;
    p.domain = 1;
    hush_err_clear(&err);
    cr_assert_eq(hush_ldp_new(&p, &m, &err), HUSH_ERANGE);
    cr_assert(strstr(err.msg, "domain") && strstr(err.msg, "got 1"), "%s", err.msg);
    p.domain = 10;
    p.mechanism = (hush_ldp_mechanism)42;
    cr_assert_eq(hush_ldp_new(&p, &m, NULL), HUSH_EINVAL);
    p.mechanism = HUSH_LDP_AUTO;
    cr_assert_eq(hush_ldp_new(&p, &m, NULL), HUSH_EINVAL);
    cr_assert_eq(hush_ldp_new(NULL, &m, NULL), HUSH_EINVAL);
    cr_assert_null(m);
}

Test(ldp_state, mechanism_names_round_trip)
{
    for (int i = 0; i <= HUSH_LDP_MECHANISM_COUNT; i++) {
        const char *name = hush_ldp_mechanism_name((hush_ldp_mechanism)i);
        hush_ldp_mechanism back;
        cr_assert_not_null(name);
        cr_assert_eq(hush_ldp_mechanism_parse(name, &back, NULL), 0);
        cr_assert_eq((int)back, i);
    }
    hush_ldp_mechanism out;
    hush_err err = {0};
    cr_assert_eq(hush_ldp_mechanism_parse("rappor", &out, &err), HUSH_EINVAL);
    cr_assert(strstr(err.msg, "rappor") != NULL);
    cr_assert_null(hush_ldp_mechanism_name((hush_ldp_mechanism)7));
}

Test(ldp_state, estimate_summary_is_consistent)
{
    for (size_t k = 0; k < N_PARAMS; k++) {
        hush_ldp *m = NULL;
        hush_ldp_agg *a = NULL;
        hush_rng *rng = NULL;
        hush_ldp_params p = all_params[k];
        p.epsilon = 4.0;
        if (p.sketch_rows != 0) {
            p.sketch_rows = 64; /* sketches sized for 20 items, not for stress */
            p.sketch_cols = 256;
        }
        cr_assert_eq(hush_ldp_new(&p, &m, NULL), 0);
        cr_assert_eq(hush_ldp_agg_new(m, &a, NULL), 0);
        cr_assert_eq(hush_rng_new_seeded_u64(50 + k, &rng), 0);
        size_t rs = hush_ldp_report_size(m);
        uint8_t *r = malloc(rs);
        cr_assert(r != NULL);
        /* 20000 reports: item 0 holds 60%, item 1 holds 40%, the rest none */
        for (int i = 0; i < 20000; i++) {
            cr_assert_eq(hush_ldp_encode(m, i % 5 < 3 ? 0 : 1, rng, r, rs, NULL), 0);
            cr_assert_eq(hush_ldp_agg_add(a, r, rs, NULL, NULL), 0);
        }
        hush_ldp_estimate est[20];
        cr_assert_eq(hush_ldp_agg_estimate(a, 0.0, est, 19, NULL), HUSH_EINVAL);
        cr_assert_eq(hush_ldp_agg_estimate(a, 0.0, est, 20, NULL), 0);
        const char *name = hush_ldp_mechanism_name(p.mechanism);
        bool sketch = !hush_ldp_has_significance(m);
        for (int i = 0; i < 20; i++) {
            if (sketch) {
                cr_assert_float_eq(est[i].ci_low,
                                   est[i].count - 1.959963984540054 * est[i].std_error,
                                   1e-9);
                cr_assert_float_eq(est[i].ci_high,
                                   est[i].count + 1.959963984540054 * est[i].std_error,
                                   1e-9);
                cr_assert(!est[i].significant, "%s: sketches make no claim", name);
            } else {
                /* exact or Wald, inside [0, n], around the estimate */
                double c = fmin(fmax(est[i].count, 0.0), 20000.0);
                cr_assert(est[i].ci_low >= 0.0 && est[i].ci_high <= 20000.0);
                cr_assert(est[i].ci_low <= c + 1e-6 && c <= est[i].ci_high + 1e-6,
                          "%s item %d: %g not in [%g, %g]", name, i, est[i].count,
                          est[i].ci_low, est[i].ci_high);
            }
            cr_assert_float_eq(est[i].frequency, est[i].count / 20000.0, 1e-12);
            cr_assert(est[i].std_error > 0.0);
        }
        if (!sketch) {
            cr_assert(est[0].significant && est[1].significant,
                      "%s: heavy items not significant", name);
        }
        cr_assert(fabs(est[0].count - 12000) < 5 * est[0].std_error, "%s: %f", name,
                  est[0].count);
        /* 18 zero items at a Bonferroni z: the chance of any false positive
         * is at most 5%, and this seed shows none */
        int false_pos = 0;
        for (int i = 2; i < 20; i++) {
            false_pos += est[i].significant;
        }
        cr_assert_eq(false_pos, 0, "%s: %d zero items flagged significant", name,
                     false_pos);
        free(r);
        hush_rng_free(rng);
        hush_ldp_agg_free(a);
        hush_ldp_free(m);
    }
}

Test(ldp_state, empty_state_estimates_zero)
{
    for (size_t k = 0; k < N_PARAMS; k++) {
        hush_ldp *m = NULL;
        hush_ldp_agg *a = NULL;
        cr_assert_eq(hush_ldp_new(&all_params[k], &m, NULL), 0);
        cr_assert_eq(hush_ldp_agg_new(m, &a, NULL), 0);
        hush_ldp_estimate est[20];
        cr_assert_eq(hush_ldp_agg_estimate(a, 3.0, est, 20, NULL), 0);
        for (int i = 0; i < 20; i++) {
            cr_assert_float_eq(est[i].count, 0.0, 1e-12);
            cr_assert(!est[i].significant);
            cr_assert_float_eq(est[i].frequency, 0.0, 1e-12);
        }
        hush_ldp_agg_free(a);
        hush_ldp_free(m);
    }
}

Test(ldp_state, keys_only_for_sketches)
{
    hush_ldp *m = NULL;
    hush_ldp_agg *a = NULL;
    hush_rng *rng = NULL;
    cr_assert_eq(hush_ldp_new(&all_params[0], &m, NULL), 0);
    cr_assert_eq(hush_ldp_agg_new(m, &a, NULL), 0);
    cr_assert_eq(hush_rng_new_seeded_u64(1, &rng), 0);
    uint8_t r[4];
    hush_err err = {0};
    cr_assert_eq(hush_ldp_encode_key(m, 3, rng, r, 4, &err), HUSH_EUNSUPPORTED);
    cr_assert(strstr(err.msg, "grr") != NULL);
    uint64_t key = 3;
    hush_ldp_estimate e;
    cr_assert_eq(hush_ldp_agg_estimate_keys(a, &key, 1, 0, &e, NULL), HUSH_EUNSUPPORTED);
    cr_assert_eq(hush_ldp_encode(m, 3, rng, r, 3, NULL), HUSH_EINVAL, "short buffer");
    hush_rng_free(rng);
    hush_ldp_agg_free(a);
    hush_ldp_free(m);
}

Test(ldp_state, reset_empties_the_state)
{
    hush_ldp *m = NULL;
    hush_ldp_agg *a = NULL, *empty = NULL;
    cr_assert_eq(hush_ldp_new(&all_params[3], &m, NULL), 0);
    cr_assert_eq(hush_ldp_agg_new(m, &a, NULL), 0);
    cr_assert_eq(hush_ldp_agg_new(m, &empty, NULL), 0);
    uint8_t *r = make_reports(m, 100, 3);
    cr_assert_eq(hush_ldp_agg_add(a, r, 400, NULL, NULL), 0);
    hush_ldp_agg_reset(a);
    cr_assert(hush_ldp_agg_equal(a, empty));
    free(r);
    hush_ldp_agg_free(a);
    hush_ldp_agg_free(empty);
    hush_ldp_free(m);
}
