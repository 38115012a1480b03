/*
 * fuzz_matrix.c - libFuzzer target for the matrix file parser and its base64
 * form (candidate matrices arrive from the collector).  The input is parsed
 * as is, with a valid checksum patched in, and as base64.  Properties: no
 * crash; a parsed matrix re-serializes to the same bytes and can be searched.
 */
#include <stdlib.h>
#include <xxhash.h>

#include "hush_embed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *data, size_t size)
{
    hush_matrix *m = NULL;
    if (hush_matrix_deserialize(data, size, &m, NULL) != 0) {
        return;
    }
    uint8_t *again = NULL;
    size_t len = 0;
    if (hush_matrix_serialize(m, &again, &len, NULL) == 0) {
        if (len != size || memcmp(again, data, size) != 0) {
            abort();
        }
        hush_free(again);
    }
    if (hush_matrix_rows(m) > 0 && hush_matrix_rows(m) <= 64) {
        hush_match out[64];
        if (hush_nearest(m, m, 1, -1.0f, out, 64, NULL) != 0) {
            abort();
        }
    }
    hush_matrix_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size);
    if (size >= 8 && size <= (1u << 20)) {
        uint8_t *fixed = malloc(size);
        if (fixed != NULL) {
            memcpy(fixed, data, size);
            hush_store_le64(fixed + size - 8, XXH3_64bits(fixed, size - 8));
            check(fixed, size);
            free(fixed);
        }
    }
    hush_matrix *m = NULL;
    if (hush_matrix_from_base64((const char *)data, size, &m, NULL) == 0) {
        hush_matrix_free(m);
    }
    return 0;
}
