/*
 * test_wordvec.c - pretrained word vectors: the text format, lookup, the
 * weighted mean with hashed fallback for unknown words, checksums.
 */
#include <criterion/criterion.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "embed_internal.h"

/* A small table in word2vec text format, header included. */
static const char table[] = "4 3\n"
                            "cat 1 0 0\n"
                            "dog 0.5 0.5 0\n"
                            "Fish 0 0 1\n"
                            "cat 9 9 9\n"; /* a repeat: the first wins */

static hush_wordvec *parse(const char *text)
{
    hush_wordvec *w = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_wordvec_parse(text, strlen(text), &w, &err), 0, "%s", err.msg);
    return w;
}

static hush_embedder *embedder_for(const hush_wordvec *w, hush_err *err)
{
    char sum[17], desc[512];
    hush_wordvec_checksum(w, sum);
    snprintf(
        desc, sizeof desc,
        "{\"kind\":\"word-vectors\",\"version\":1,\"dim\":%u,\"table\":{\"words\":%zu,"
        "\"checksum\":\"%s\"},\"fallback\":{\"seed\":3,\"char_ngrams\":[2,3]}}",
        hush_wordvec_dim(w), hush_wordvec_words(w), sum);
    hush_embedder *e = NULL;
    if (hush_embedder_new(desc, strlen(desc), NULL, 0, w, &e, err) != 0) {
        return NULL;
    }
    return e;
}

Test(wordvec, parses_the_text_format)
{
    hush_wordvec *w = parse(table);
    cr_assert_eq(hush_wordvec_dim(w), 3);
    cr_assert_eq(hush_wordvec_words(w), 3, "the repeated word is dropped");
    size_t fish = hush__wordvec_find(w, "fish", 4);
    cr_assert_neq(fish, SIZE_MAX, "words are normalized (Fish -> fish)");
    cr_assert_float_eq(w->vec[fish * 3 + 2], 1.0f, 0);
    size_t cat = hush__wordvec_find(w, "cat", 3);
    cr_assert_float_eq(w->vec[cat * 3], 1.0f, 0, "the first cat wins");
    cr_assert_eq(hush__wordvec_find(w, "cow", 3), SIZE_MAX);
    /* without a header, GloVe style, CRLF line ends */
    hush_wordvec *g = parse("cat 1 0 0\r\ndog 0.5 0.5 0\r\n");
    cr_assert_eq(hush_wordvec_words(g), 2);
    char a[17], b[17];
    hush_wordvec_checksum(w, a);
    hush_wordvec_checksum(g, b);
    cr_assert_str_neq(a, b);
    hush_wordvec_free(g);
    hush_wordvec_free(w);
}

Test(wordvec, bad_tables_name_the_line)
{
    hush_wordvec *w = NULL;
    hush_err err = {0};
    const char *cases[][2] = {
        {"cat 1 0 0\ndog 1 0\n", "line 2"},
        {"cat 1 0 0\ndog 1 zero 0\n", "line 2: bad number"},
        {"cat 1 0 0\ndog 1 0 0 0\n", "too many"},
        {"cat 1 inf 0\n", "line 1"},
        {"", "no words"},
        {"2 3\ncat 1 0 0\ndog 1 0 0\nfox 1 0 0\n", "header"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hush_err_clear(&err);
        cr_assert_eq(hush_wordvec_parse(cases[i][0], strlen(cases[i][0]), &w, &err),
                     HUSH_EINVAL, "case %zu", i);
        cr_assert_null(w);
        cr_assert(strstr(err.msg, cases[i][1]) != NULL, "case %zu: \"%s\"", i, err.msg);
    }
}

Test(wordvec, numbers_parse_in_the_c_locale)
{
    /* Whatever locale the app set, "0.5" is one half.  (If a comma-decimal
     * locale is installed, use it to prove the point.) */
    const char *old = setlocale(LC_NUMERIC, "de_DE.UTF-8");
    hush_wordvec *w = parse("cat 0.5 0.25 0\n");
    cr_assert_float_eq(w->vec[0], 0.5f, 0);
    cr_assert_float_eq(w->vec[1], 0.25f, 0);
    hush_wordvec_free(w);
    if (old != NULL) {
        setlocale(LC_NUMERIC, "C");
    }
}

Test(wordvec, embedding_is_the_weighted_normalized_mean)
{
    hush_wordvec *w = parse(table);
    hush_err err = {0};
    hush_embedder *e = embedder_for(w, &err);
    cr_assert_not_null(e, "%s", err.msg);
    /* "cat cat dog": weights 1 + ln 2 and 1 */
    float v[3];
    cr_assert_eq(hush_embed_text(e, "Cat, cat & DOG!", 15, v, 3, NULL), 0);
    double wc = 1.0 + log(2.0);
    double x = wc * 1.0 + 0.5, y = 0.5, z = 0.0;
    double n = sqrt(x * x + y * y + z * z);
    cr_assert_float_eq(v[0], x / n, 1e-6);
    cr_assert_float_eq(v[1], y / n, 1e-6);
    cr_assert_float_eq(v[2], z / n, 1e-6);
    /* an unknown word falls back to its hashed character n-grams */
    float u[3];
    cr_assert_eq(hush_embed_text(e, "zebra", 5, u, 3, NULL), 0);
    double norm = (double)u[0] * u[0] + (double)u[1] * u[1] + (double)u[2] * u[2];
    cr_assert_float_eq(norm, 1.0, 1e-6);
    /* the embedder keeps its own copy of the table */
    hush_wordvec_free(w);
    float v2[3];
    cr_assert_eq(hush_embed_text(e, "cat cat dog", 11, v2, 3, NULL), 0);
    cr_assert_arr_eq(v, v2, sizeof v);
    char *desc = NULL;
    cr_assert_eq(hush_embedder_describe(e, &desc, NULL), 0);
    cr_assert(strstr(desc, "\"kind\":\"word-vectors\"") != NULL);
    hush_free(desc);
    hush_embedder_free(e);
}

Test(wordvec, the_description_must_match_the_table)
{
    hush_wordvec *w = parse(table);
    hush_wordvec *other = parse("cat 1 0 0\ndog 0 1 0\nfish 0 0 1\n");
    char sum[17], desc[512];
    hush_wordvec_checksum(w, sum);
    snprintf(desc, sizeof desc,
             "{\"kind\":\"word-vectors\",\"version\":1,\"dim\":3,\"table\":{\"words\":3,"
             "\"checksum\":\"%s\"},\"fallback\":{\"seed\":3}}",
             sum);
    hush_embedder *e = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_embedder_new(desc, strlen(desc), NULL, 0, other, &e, &err),
                 HUSH_EMISMATCH);
    cr_assert(strstr(err.msg, sum) != NULL, "%s", err.msg);
    cr_assert_eq(hush_embedder_new(desc, strlen(desc), NULL, 0, w, &e, NULL), 0);
    hush_embedder_free(e);
    hush_wordvec_free(w);
    hush_wordvec_free(other);
}
