/*
 * fuzz_embed_desc.c - libFuzzer target for embedder descriptions (published
 * by the collector, parsed by every device).  Properties: no crash; an
 * accepted description's canonical form is accepted again and describes the
 * same embedder; the embedder embeds or finds no feature.
 */
#include <stdlib.h>

#include "hush_embed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hush_embedder *e = NULL, *e2 = NULL;
    if (hush_embedder_new((const char *)data, size, NULL, 0, NULL, &e, NULL) != 0) {
        return 0;
    }
    char *d1 = NULL, *d2 = NULL;
    if (hush_embedder_describe(e, &d1, NULL) != 0 ||
        hush_embedder_new(d1, strlen(d1), NULL, 0, NULL, &e2, NULL) != 0 ||
        hush_embedder_describe(e2, &d2, NULL) != 0 || strcmp(d1, d2) != 0) {
        abort();
    }
    float *v = malloc(hush_embedder_dim(e) * sizeof *v);
    int rc = v != NULL
                 ? hush_embed_text(e, "fuzzing hush", 12, v, hush_embedder_dim(e), NULL)
                 : HUSH_ENOMEM;
    if (rc != 0 && rc != HUSH_EINVAL) {
        abort(); /* EINVAL: settings that find no feature in this text */
    }
    free(v);
    hush_free(d1);
    hush_free(d2);
    hush_embedder_free(e);
    hush_embedder_free(e2);
    return 0;
}
