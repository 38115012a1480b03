/*
 * fuzz_batch.c - libFuzzer target for report batches as the collector
 * receives them: JSON envelope, then every report decoded for a mechanism
 * (the first input byte picks one).  Properties: no crash; a batch that
 * decodes adds to a state without error (the collector adds after commit
 * and must never fail there), and re-encodes to the same reports; its
 * anonymous tokens, when it has any and they read, write and read back to
 * the same tokens.
 */
#include <stdlib.h>
#include <string.h>

#include "hush_protocol.h"
#include "hush_token.h"

static void check_tokens(const json_t *arr)
{
    hush_token *t = NULL, *t2 = NULL;
    size_t n = 0, n2 = 0;
    if (arr == NULL ||
        hush_tokens_from_json(arr, HUSH_BATCH_MAX_REPORTS, &t, &n, NULL) != 0) {
        return;
    }
    json_t *again = hush_tokens_to_json(t, n);
    if (again == NULL ||
        hush_tokens_from_json(again, HUSH_BATCH_MAX_REPORTS, &t2, &n2, NULL) != 0 ||
        n2 != n || memcmp(t, t2, n * sizeof *t) != 0) {
        abort();
    }
    json_decref(again);
    hush_free(t);
    hush_free(t2);
}

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
    json_t *doc =
        json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
    hush_batch_header hdr;
    if (doc == NULL || hush_batch_read_header(doc, &hdr, NULL) != 0) {
        json_decref(doc);
        return 0;
    }
    check_tokens(hdr.tokens);
    hush_ldp *m = NULL;
    hush_ldp_agg *agg = NULL;
    if (hush_ldp_new(&instances[data[0] % 6], &m, NULL) != 0 ||
        hush_ldp_agg_new(m, &agg, NULL) != 0) {
        abort();
    }
    uint8_t *reports = NULL;
    size_t n = 0, bad = 0;
    if (hush_batch_decode_reports(m, hdr.reports, &reports, &n, &bad, NULL) == 0) {
        if (hush_ldp_agg_add(agg, reports, n * hush_ldp_report_size(m), NULL, NULL) !=
            0) {
            abort();
        }
        json_t *again =
            hush_batch_build(m, hdr.campaign, hdr.round, hdr.batch_id, reports, n);
        hush_batch_header h2;
        uint8_t *r2 = NULL;
        size_t n2 = 0;
        if (again == NULL || hush_batch_read_header(again, &h2, NULL) != 0 ||
            hush_batch_decode_reports(m, h2.reports, &r2, &n2, &bad, NULL) != 0 ||
            n2 != n || memcmp(r2, reports, n * hush_ldp_report_size(m)) != 0) {
            abort();
        }
        hush_free(r2);
        json_decref(again);
        hush_free(reports);
    }
    hush_ldp_agg_free(agg);
    hush_ldp_free(m);
    json_decref(doc);
    return 0;
}
