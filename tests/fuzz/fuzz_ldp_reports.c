/*
 * fuzz_ldp_reports.c - libFuzzer target for report validation and adding:
 * reports arrive from the network.
 *
 * The first input byte picks one of a fixed set of mechanism instances; the
 * rest is a batch of reports.  Properties: no crash; a refused batch leaves
 * the state exactly as it was; an accepted batch adds exactly its reports
 * and passes the parser's invariant checks after a serialize round trip.
 */
#include <stdlib.h>

#include "hush_privacy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const hush_ldp_params instances[] = {
    {.mechanism = HUSH_LDP_GRR, .domain = 37, .epsilon = 1.0},
    {.mechanism = HUSH_LDP_OUE, .domain = 13, .epsilon = 1.0},
    {.mechanism = HUSH_LDP_OLH, .domain = 50, .epsilon = 2.0},
    {.mechanism = HUSH_LDP_HR, .domain = 100, .epsilon = 1.0},
    {.mechanism = HUSH_LDP_CMS,
     .domain = 20,
     .epsilon = 2.0,
     .sketch_rows = 5,
     .sketch_cols = 11},
    {.mechanism = HUSH_LDP_HCMS,
     .domain = 20,
     .epsilon = 2.0,
     .sketch_rows = 5,
     .sketch_cols = 16},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    const hush_ldp_params *params = &instances[data[0] % 6];
    hush_ldp *m = NULL;
    hush_ldp_agg *agg = NULL, *before = NULL, *copy = NULL;
    if (hush_ldp_new(params, &m, NULL) != 0 || hush_ldp_agg_new(m, &agg, NULL) != 0 ||
        hush_ldp_agg_new(m, &before, NULL) != 0) {
        abort();
    }
    size_t bad = 0;
    int rc = hush_ldp_agg_add(agg, data + 1, size - 1, &bad, NULL);
    if (rc != 0) {
        if (!hush_ldp_agg_equal(agg, before)) {
            abort(); /* a refused batch changed the state */
        }
    } else {
        if (hush_ldp_agg_count(agg) != (size - 1) / hush_ldp_report_size(m)) {
            abort();
        }
        uint8_t *buf = NULL;
        size_t len = 0;
        if (hush_ldp_agg_serialize(agg, &buf, &len, NULL) != 0 ||
            hush_ldp_agg_deserialize(buf, len, m, &copy, NULL) != 0 ||
            !hush_ldp_agg_equal(agg, copy)) {
            abort(); /* the adder produced sums the parser calls impossible */
        }
        hush_free(buf);
    }
    hush_ldp_agg_free(copy);
    hush_ldp_agg_free(before);
    hush_ldp_agg_free(agg);
    hush_ldp_free(m);
    return 0;
}
