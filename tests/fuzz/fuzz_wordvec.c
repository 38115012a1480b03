/*
 * fuzz_wordvec.c - libFuzzer target for the word-vector text format (tables
 * are files an app ships).  Properties: no crash; every parsed word can be
 * found again; a parsed table builds an embedder that embeds.
 */
#include <stdio.h>
#include <stdlib.h>

#include "embed_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hush_wordvec *w = NULL;
    if (hush_wordvec_parse((const char *)data, size, &w, NULL) != 0) {
        return 0;
    }
    for (size_t i = 0; i < w->n; i++) {
        const char *word = w->words + w->word_off[i];
        if (hush__wordvec_find(w, word, strlen(word)) != i) {
            abort();
        }
    }
    char sum[17], desc[256];
    hush_wordvec_checksum(w, sum);
    snprintf(
        desc, sizeof desc,
        "{\"kind\":\"word-vectors\",\"version\":1,\"dim\":%u,\"table\":{\"words\":%zu,"
        "\"checksum\":\"%s\"},\"fallback\":{\"seed\":1}}",
        w->dim, w->n, sum);
    hush_embedder *e = NULL;
    if (hush_embedder_new(desc, strlen(desc), NULL, 0, w, &e, NULL) != 0) {
        abort();
    }
    float *v = malloc(w->dim * sizeof *v);
    const char *word = w->words;
    int rc = hush_embed_text(e, word, strlen(word), v, w->dim, NULL);
    if (rc != 0 && rc != HUSH_EINVAL) {
        abort(); /* EINVAL: a zero vector in the table */
    }
    free(v);
    hush_embedder_free(e);
    hush_wordvec_free(w);
    return 0;
}
