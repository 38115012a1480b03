/*
 * fuzz_sif_table.c - libFuzzer target for SIF word-vector tables (shipped to
 * devices, loaded by hushd).  The input is a table without its trailing
 * checksum; the target appends the right one, so the parser behind the
 * checksum check is reached.  Properties: no crash; a table that reads
 * embeds texts (known and unknown words) to finite unit vectors orthogonal
 * to its common component, and its neighbour search stays in range.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

#include "embed_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 24)) {
        return 0;
    }
    uint8_t *buf = malloc(size + 8);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data, size);
    hush_store_le64(buf + size, XXH3_64bits(buf, size));
    hush_wordvec *w = NULL;
    if (hush_wordvec_read(buf, size + 8, &w, NULL) == 0) {
        char sum[17], desc[256];
        hush_wordvec_checksum(w, sum);
        snprintf(desc, sizeof desc,
                 "{\"kind\":\"sif\",\"version\":1,\"dim\":%u,\"table\":{\"words\":%zu,"
                 "\"checksum\":\"%s\"},\"fallback\":{\"seed\":1,\"char_ngrams\":[3,5]}}",
                 hush_wordvec_dim(w), hush_wordvec_words(w), sum);
        hush_embedder *e = NULL;
        if (hush_embedder_new(desc, strlen(desc), NULL, 0, w, &e, NULL) != 0) {
            abort(); /* a table that reads is usable */
        }
        uint32_t dim = hush_wordvec_dim(w);
        float *v = malloc(dim * sizeof *v);
        const char *word0 = hush_wordvec_word(w, 0);
        char text[320];
        snprintf(text, sizeof text, "%s qqzzyx %s", word0, word0);
        if (v != NULL && hush_embed_text(e, text, strlen(text), v, dim, NULL) == 0) {
            double norm = 0, dot = 0;
            for (uint32_t d = 0; d < dim; d++) {
                if (!isfinite(v[d])) {
                    abort();
                }
                norm += (double)v[d] * v[d];
                dot += (double)v[d] * w->common[d];
            }
            if (fabs(norm - 1.0) > 1e-3 || fabs(dot) > 1e-3) {
                abort();
            }
        }
        uint32_t nb[4];
        size_t n = 0;
        if (hush_wordvec_neighbours(w, 0, 0, SIZE_MAX, 4, nb, &n, NULL) != 0 || n > 4) {
            abort();
        }
        for (size_t i = 0; i < n; i++) {
            if (nb[i] == 0 || nb[i] >= hush_wordvec_words(w)) {
                abort();
            }
        }
        free(v);
        hush_embedder_free(e);
        hush_wordvec_free(w);
    }
    free(buf);
    return 0;
}
