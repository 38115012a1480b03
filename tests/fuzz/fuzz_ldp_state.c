/*
 * fuzz_ldp_state.c - libFuzzer target for the aggregate-state parser
 * (checkpoints and node-to-node sums are outside data to the collector).
 *
 * Properties: parsing never crashes or leaks, with the input's own checksum
 * or with a valid one patched in; a state that parses estimates
 * without error; and serializing it again reproduces the input byte for byte
 * (the format has exactly one encoding of each state).
 */
#include <stdlib.h>
#include <xxhash.h>

#include "hush_privacy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *data, size_t size)
{
    hush_ldp_agg *agg = NULL;
    if (hush_ldp_agg_deserialize(data, size, NULL, &agg, NULL) != 0) {
        return;
    }
    const hush_ldp_params *p = hush_ldp_get_params(hush_ldp_agg_mechanism(agg));
    if (p->domain <= 4096) {
        hush_ldp_estimate *est = calloc(p->domain, sizeof *est);
        if (est != NULL && hush_ldp_agg_estimate(agg, 0.0, est, p->domain, NULL) != 0) {
            abort();
        }
        free(est);
    }
    uint8_t *again = NULL;
    size_t len = 0;
    if (hush_ldp_agg_serialize(agg, &again, &len, NULL) == 0) {
        if (len != size || memcmp(again, data, size) != 0) {
            abort(); /* a second encoding of the same state */
        }
        hush_free(again);
    }
    hush_ldp_agg_free(agg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size);
    /* The checksum stops almost every mutation at the door; a copy with a
     * valid checksum reaches the header and invariant checks behind it. */
    if (size >= 8) {
        uint8_t *fixed = malloc(size);
        if (fixed != NULL) {
            memcpy(fixed, data, size);
            hush_store_le64(fixed + size - 8, XXH3_64bits(fixed, size - 8));
            check(fixed, size);
            free(fixed);
        }
    }
    return 0;
}
