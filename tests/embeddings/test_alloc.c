/*
 * test_alloc.c - every allocating call of embeddings/ returns HUSH_ENOMEM
 * when any of its allocations fails, and leaks nothing.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/alloc_fail.h"
#include "hush_embed.h"

struct ctx {
    hush_embedder *e;
    hush_matrix *m, *q, *back;
    hush_wordvec *w;
    hush_embedder *we;
    char *text, *desc, *b64;
    uint8_t *bin, *idf;
};

static void cleanup(void *p)
{
    struct ctx *c = p;
    hush_embedder_free(c->e);
    hush_embedder_free(c->we);
    hush_matrix_free(c->m);
    hush_matrix_free(c->q);
    hush_matrix_free(c->back);
    hush_wordvec_free(c->w);
    hush_free(c->text);
    hush_free(c->desc);
    hush_free(c->b64);
    hush_free(c->bin);
    hush_free(c->idf);
    memset(c, 0, sizeof *c);
}

static const char email[] =
    "Subject: =?UTF-8?Q?Caf=C3=A9?=\n"
    "Content-Type: multipart/alternative; boundary=B\n\n"
    "--B\nContent-Type: text/html\nContent-Transfer-Encoding: base64\n\n"
    "PGI+SGVsbG88L2I+\n--B--\n";

/* A device's path: email -> text -> vector -> int8 matrix -> search; and
 * the collector's: describe, serialize, base64, parse, word vectors, IDF. */
static int lifecycle(void *p)
{
    struct ctx *c = p;
    size_t len = 0;
    int rc;
    float v[64];
    hush_match out[2];
    if ((rc = hush_email_to_text(email, sizeof email - 1, &c->text, &len, NULL)) != 0 ||
        (rc = hush_embedder_new_default(64, 1, &c->e, NULL)) != 0 ||
        (rc = hush_embed_text(c->e, c->text, len, v, 64, NULL)) != 0 ||
        (rc = hush_matrix_new(HUSH_MATRIX_I8, 2, 64, &c->m, NULL)) != 0 ||
        (rc = hush_matrix_set_row(c->m, 0, v, 64, NULL)) != 0 ||
        (rc = hush_matrix_new(HUSH_MATRIX_I8, 1, 64, &c->q, NULL)) != 0 ||
        (rc = hush_matrix_set_row(c->q, 0, v, 64, NULL)) != 0 ||
        (rc = hush_nearest(c->m, c->q, 2, -1.0f, out, 2, NULL)) != 0 ||
        (rc = hush_embedder_describe(c->e, &c->desc, NULL)) != 0 ||
        (rc = hush_matrix_to_base64(c->m, &c->b64, NULL)) != 0 ||
        (rc = hush_matrix_from_base64(c->b64, strlen(c->b64), &c->back, NULL)) != 0 ||
        (rc = hush_wordvec_parse("cat 1 0\ndog 0 1\n", 16, &c->w, NULL)) != 0) {
        return rc;
    }
    char sum[17], desc[256];
    hush_wordvec_checksum(c->w, sum);
    snprintf(desc, sizeof desc,
             "{\"kind\":\"word-vectors\",\"version\":1,\"dim\":2,\"table\":{\"words\":2,"
             "\"checksum\":\"%s\"},\"fallback\":{\"seed\":1}}",
             sum);
    float w2[2];
    if ((rc = hush_embedder_new(desc, strlen(desc), NULL, 0, c->w, &c->we, NULL)) != 0 ||
        (rc = hush_embed_text(c->we, "cat zebra", 9, w2, 2, NULL)) != 0) {
        return rc;
    }
    const char *docs[] = {"a b c", "b c d"};
    size_t lens[] = {5, 5};
    size_t ilen = 0;
    return hush_idf_build(c->desc, strlen(c->desc), docs, lens, 2, 1, &c->idf, &ilen,
                          NULL);
}

Test(alloc_embed, every_path_fails_cleanly)
{
    struct ctx c = {0};
    long made = alloc_fail_sweep(lifecycle, cleanup, &c);
    cr_assert_gt(made, 20, "the sweep must cover many allocations (%ld)", made);
}
