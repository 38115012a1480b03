/*
 * test_alloc.c - every allocating call of privacy/ returns HUSH_ENOMEM when
 * any of its allocations fails, and leaks nothing.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "common/alloc_fail.h"
#include "ldp_harness.h"

struct ctx {
    hush_ldp_params params;
    hush_ldp *m;
    hush_ldp_agg *agg;
    hush_ldp_agg *copy;
    hush_rng *rng;
    uint8_t *buf;
    size_t len;
    const uint8_t *state; /* serialized input, made outside the sweep */
    size_t state_len;
};

static void cleanup(void *p)
{
    struct ctx *c = p;
    hush_ldp_agg_free(c->copy);
    hush_ldp_agg_free(c->agg);
    hush_ldp_free(c->m);
    hush_rng_free(c->rng);
    hush_free(c->buf);
    c->copy = NULL;
    c->agg = NULL;
    c->m = NULL;
    c->rng = NULL;
    c->buf = NULL;
}

/* The collector's life cycle of a state: create, add, estimate, checkpoint,
 * restore, merge. */
static int lifecycle(void *p)
{
    struct ctx *c = p;
    int rc;
    hush_ldp_estimate est[40];
    uint64_t keys[2] = {1, 99};
    if ((rc = hush_rng_new_seeded_u64(1, &c->rng)) != 0 ||
        (rc = hush_ldp_new(&c->params, &c->m, NULL)) != 0 ||
        (rc = hush_ldp_agg_new(c->m, &c->agg, NULL)) != 0) {
        return rc;
    }
    uint8_t report[256];
    for (uint32_t v = 0; v < 40; v++) {
        if ((rc = hush_ldp_encode(c->m, v, c->rng, report, sizeof report, NULL)) != 0 ||
            (rc = hush_ldp_agg_add(c->agg, report, hush_ldp_report_size(c->m), NULL,
                                   NULL)) != 0) {
            return rc;
        }
    }
    if ((rc = hush_ldp_agg_estimate(c->agg, 0.0, est, 40, NULL)) != 0 ||
        (rc = hush_ldp_agg_serialize(c->agg, &c->buf, &c->len, NULL)) != 0 ||
        (rc = hush_ldp_agg_deserialize(c->buf, c->len, c->m, &c->copy, NULL)) != 0 ||
        (rc = hush_ldp_agg_merge(c->copy, c->agg, NULL)) != 0) {
        return rc;
    }
    if (c->params.mechanism == HUSH_LDP_CMS || c->params.mechanism == HUSH_LDP_HCMS) {
        rc = hush_ldp_agg_estimate_keys(c->copy, keys, 2, 0.0, est, NULL);
    }
    return rc;
}

Test(alloc, every_mechanism_fails_cleanly)
{
    hush_ldp_mechanism mechs[] = {HUSH_LDP_GRR, HUSH_LDP_OUE, HUSH_LDP_OLH,
                                  HUSH_LDP_HR,  HUSH_LDP_CMS, HUSH_LDP_HCMS};
    for (size_t i = 0; i < sizeof mechs / sizeof mechs[0]; i++) {
        struct ctx c = {.params = {.mechanism = mechs[i],
                                   .domain = 40,
                                   .epsilon = 1.0,
                                   .sketch_rows = 4,
                                   .sketch_cols = 64}};
        long made = alloc_fail_sweep(lifecycle, cleanup, &c);
        cr_assert_gt(made, 5, "%s: the sweep must cover several allocations",
                     hush_ldp_mechanism_name(mechs[i]));
    }
}
