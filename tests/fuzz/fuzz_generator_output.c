/*
 * fuzz_generator_output.c - libFuzzer target for what an external
 * generator prints (an operator's program, a language model: anything may
 * come out).  Properties: no crash, no leak; an accepted output is 1 to
 * `want` distinct texts, each valid UTF-8 of 1 to max bytes with a letter
 * or digit, none a parent's text.
 */
#include <stdlib.h>
#include <string.h>

#include "domain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const hush__parent parents[] = {{"c0", "lunch at noon", 10, 2, 0},
                                           {"c1", "invoice attached", 5, 2, 0}};
    char **t = NULL;
    size_t n = 0;
    size_t parent_of[8];
    if (hush__generator_output_parse_lineage((const char *)data, size, 8, 64, parents, 2,
                                             &t, &n, parent_of, NULL) != 0) {
        return 0;
    }
    if (n == 0 || n > 8) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(t[i]);
        if (parent_of[i] != SIZE_MAX && parent_of[i] >= 2) {
            abort(); /* a parent is a kept sample or none */
        }
        if (len == 0 || len > 64 || strcmp(t[i], parents[0].text) == 0 ||
            strcmp(t[i], parents[1].text) == 0) {
            abort();
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(t[i], t[k]) == 0) {
                abort();
            }
        }
    }
    hush__texts_free(t, n);
    return 0;
}
