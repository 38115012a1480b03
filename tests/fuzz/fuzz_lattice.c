/*
 * fuzz_lattice.c - libFuzzer target for lattice integers as a device sends
 * them (hush_lattice_unpack: the collector decodes what anyone posts).
 * Properties: no crash, no leak, no read past the input; an accepted
 * stream's integers pack again into a stream that decodes to the same
 * integers.
 */
#include <stdlib.h>
#include <string.h>

#include "hush_learning.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6) {
        return 0;
    }
    /* the count the header claims, bounded so a claim cannot allocate much */
    size_t n = hush_load_le32(data + 2);
    if (n > 8 * size + 8) {
        return 0; /* a valid stream holds at least one bit an integer */
    }
    int32_t *k = malloc(n * sizeof *k + 1), *back = malloc(n * sizeof *k + 1);
    if (k != NULL && back != NULL && hush_lattice_unpack(data, size, n, k, NULL) == 0) {
        uint8_t *p = NULL;
        size_t len = 0;
        if (hush_lattice_pack(k, n, &p, &len, NULL) != 0 ||
            hush_lattice_unpack(p, len, n, back, NULL) != 0 ||
            memcmp(k, back, n * sizeof *k) != 0) {
            abort();
        }
        hush_free(p);
    }
    free(k);
    free(back);
    return 0;
}
