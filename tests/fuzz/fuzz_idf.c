/*
 * fuzz_idf.c - libFuzzer target for IDF model files (shipped to devices).
 * The description names the input's own checksum, so the parser behind the
 * checksum check is reached.  Properties: no crash; a model that loads gives
 * finite, non-negative weights.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "embed_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char sum[17], desc[256];
    hush_idf_checksum(data, size, sum);
    snprintf(desc, sizeof desc,
             "{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":16,\"seed\":1,"
             "\"idf\":{\"checksum\":\"%s\"}}",
             sum);
    hush_embedder *e = NULL;
    if (hush_embedder_new(desc, strlen(desc), data, size, NULL, &e, NULL) == 0) {
        float v[16];
        if (hush_embed_text(e, "a model that loads", 18, v, 16, NULL) == 0) {
            for (int i = 0; i < 16; i++) {
                if (!isfinite(v[i])) {
                    abort();
                }
            }
        }
        hush_embedder_free(e);
    }
    return 0;
}
