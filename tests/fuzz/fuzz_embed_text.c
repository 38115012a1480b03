/*
 * fuzz_embed_text.c - libFuzzer target for normalization and embedding of
 * arbitrary bytes.  Properties: no crash; a vector that embeds is finite and
 * unit length; embedding is deterministic.
 */
#include <math.h>
#include <stdlib.h>

#include "hush_embed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char desc[] =
        "{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":32,\"seed\":9,"
        "\"word_ngrams\":[1,3],\"char_ngrams\":[1,6]}";
    hush_embedder *e = NULL;
    if (hush_embedder_new(desc, sizeof desc - 1, NULL, 0, NULL, &e, NULL) != 0) {
        abort();
    }
    float a[32], b[32];
    int rc = hush_embed_text(e, (const char *)data, size, a, 32, NULL);
    if (rc == 0) {
        double ss = 0;
        for (int i = 0; i < 32; i++) {
            if (!isfinite(a[i])) {
                abort();
            }
            ss += (double)a[i] * a[i];
        }
        if (fabs(ss - 1.0) > 1e-5) {
            abort();
        }
        if (hush_embed_text(e, (const char *)data, size, b, 32, NULL) != 0 ||
            memcmp(a, b, sizeof a) != 0) {
            abort();
        }
    } else if (rc != HUSH_EINVAL) {
        abort();
    }
    hush_embedder_free(e);
    return 0;
}
