/*
 * test_embedder.c - embedder descriptions, golden vectors, embedding
 * properties, IDF models.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

#include "embed_internal.h"

#define GOLDEN_PATH "tests/vectors/embed_golden.jsonl"
/* Vectors must match the golden file to this absolute tolerance in every
 * build (in practice they are bit-identical: the arithmetic is IEEE double
 * with a fixed operation order and no contraction). */
#define GOLDEN_TOL 1e-7

static hush_embedder *make(const char *desc)
{
    hush_embedder *e = NULL;
    hush_err err = {0};
    cr_assert_eq(hush_embedder_new(desc, strlen(desc), NULL, 0, NULL, &e, &err), 0,
                 "%s: %s", desc, err.msg);
    return e;
}

static int refuse(const char *desc, int want, const char *fragment)
{
    hush_embedder *e = NULL;
    hush_err err = {0};
    int rc = hush_embedder_new(desc, strlen(desc), NULL, 0, NULL, &e, &err);
    cr_assert_eq(rc, want, "%s: rc %d (%s)", desc, rc, err.msg);
    cr_assert_null(e);
    cr_assert(strstr(err.msg, fragment) != NULL, "%s: message \"%s\" lacks \"%s\"", desc,
              err.msg, fragment);
    return rc;
}

Test(embedder, bad_descriptions_are_refused_clearly)
{
    refuse("not json", HUSH_EINVAL, "not JSON");
    refuse("[1,2]", HUSH_EINVAL, "object");
    refuse("{\"version\":1,\"dim\":64,\"seed\":1}", HUSH_EINVAL, "\"kind\" is missing");
    refuse("{\"kind\":\"bert\",\"version\":1}", HUSH_EINVAL,
           "unknown embedder kind \"bert\"");
    refuse("{\"kind\":\"hashed-ngram\",\"version\":2,\"dim\":64,\"seed\":1}",
           HUSH_EVERSION, "version 2");
    refuse("{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":64,\"seed\":1,\"colour\":1}",
           HUSH_EINVAL, "unknown field \"colour\"");
    refuse("{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":5,\"seed\":1}", HUSH_ERANGE,
           "got 5");
    refuse("{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":64}", HUSH_EINVAL,
           "\"seed\" is missing");
    refuse(
        "{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":64,\"seed\":9007199254740992}",
        HUSH_ERANGE, "seed");
    refuse("{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":64,\"seed\":1,"
           "\"char_ngrams\":[5,3]}",
           HUSH_ERANGE, "char_ngrams");
    refuse("{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":64,\"seed\":1,"
           "\"word_ngrams\":[],\"char_ngrams\":[]}",
           HUSH_EINVAL, "both empty");
    refuse("{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":64,\"seed\":1,\"dim\":65}",
           HUSH_EINVAL, "not JSON");
    refuse("{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":64,\"seed\":1,"
           "\"weights\":{\"word\":-1}}",
           HUSH_ERANGE, "weights.word");
    refuse("{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":64,\"seed\":1,"
           "\"idf\":{\"checksum\":\"00112233445566ff\"}}",
           HUSH_EINVAL, "none was given");
    refuse("{\"kind\":\"word-vectors\",\"version\":1,\"dim\":4,\"table\":{\"words\":2,"
           "\"checksum\":\"00112233445566ff\"},\"fallback\":{\"seed\":1}}",
           HUSH_EINVAL, "none was given");
}

Test(embedder, describe_round_trips)
{
    const char *descs[] = {
        "{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":64,\"seed\":7}",
        "{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":32,\"seed\":1,\"word_ngrams\":["
        "1,2],"
        "\"char_ngrams\":[],\"weights\":{\"word\":0.25},\"sublinear_tf\":false}",
    };
    for (size_t i = 0; i < 2; i++) {
        hush_embedder *a = make(descs[i]);
        char *d1 = NULL, *d2 = NULL;
        cr_assert_eq(hush_embedder_describe(a, &d1, NULL), 0);
        hush_embedder *b = make(d1);
        cr_assert_eq(hush_embedder_describe(b, &d2, NULL), 0);
        cr_assert_str_eq(d1, d2, "canonical description must be a fixed point");
        float va[64], vb[64];
        const char *t = "Same text, same vector.";
        cr_assert_eq(hush_embed_text(a, t, strlen(t), va, 64, NULL), 0);
        cr_assert_eq(hush_embed_text(b, t, strlen(t), vb, 64, NULL), 0);
        cr_assert_arr_eq(va, vb, hush_embedder_dim(a) * sizeof(float));
        hush_free(d1);
        hush_free(d2);
        hush_embedder_free(a);
        hush_embedder_free(b);
    }
    hush_embedder *d = NULL;
    char *desc = NULL;
    cr_assert_eq(hush_embedder_new_default(256, 42, &d, NULL), 0);
    cr_assert_eq(hush_embedder_describe(d, &desc, NULL), 0);
    cr_assert_str_eq(desc,
                     "{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":256,\"seed\":42,"
                     "\"word_ngrams\":[1,1],\"char_ngrams\":[3,5],\"weights\":{\"word\":"
                     "1.0,\"char\":1.0},\"sublinear_tf\":true}");
    hush_free(desc);
    hush_embedder_free(d);
}

/* Golden vectors: fixed descriptions and texts, vectors checked in.  Set
 * HUSH_GOLDEN_WRITE=1 to rewrite the file after an intended change. */
static const char *const golden_descs[] = {
    "{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":64,\"seed\":7}",
    "{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":32,\"seed\":1,\"word_ngrams\":[1,2]"
    ","
    "\"char_ngrams\":[2,4],\"weights\":{\"word\":2,\"char\":0.5}}",
};
static const char *const golden_texts[] = {
    "The quick brown fox jumps over the lazy dog.",
    "Re: meeting\n\nCan we move Tuesday's call to 3pm? Thanks, Ana",
    "\xce\x91\xce\x98\xce\x97\xce\x9d\xce\x91 \xe2\x80\x94 \xc3\x9cn\xc3\xaf"
    "c\xc3\xb6"
    "d\xc3\xa9 text with emoji \xf0\x9f\x98\x80"
    " and digits 12345",
    "free free free FREE money money",
};

Test(embedder, golden_vectors)
{
    FILE *f = NULL;
    bool write = getenv("HUSH_GOLDEN_WRITE") != NULL;
    json_t *golden = NULL;
    if (write) {
        f = fopen(GOLDEN_PATH, "w");
        cr_assert_not_null(f, "cannot write " GOLDEN_PATH);
    } else {
        golden = json_load_file(GOLDEN_PATH, JSON_DECODE_ANY, NULL);
        f = fopen(GOLDEN_PATH, "r");
        cr_assert_not_null(f, GOLDEN_PATH " is missing (run from the repository root)");
    }
    char line[65536];
    for (size_t d = 0; d < 2; d++) {
        hush_embedder *e = make(golden_descs[d]);
        uint32_t dim = hush_embedder_dim(e);
        for (size_t t = 0; t < 4; t++) {
            float v[64];
            cr_assert_eq(
                hush_embed_text(e, golden_texts[t], strlen(golden_texts[t]), v, 64, NULL),
                0);
            if (write) {
                fprintf(f, "{\"desc\":%zu,\"text\":%zu,\"vector\":[", d, t);
                for (uint32_t i = 0; i < dim; i++) {
                    fprintf(f, "%s%.9g", i ? "," : "", (double)v[i]);
                }
                fprintf(f, "]}\n");
                continue;
            }
            cr_assert_not_null(fgets(line, sizeof line, f), "golden file too short");
            json_t *o = json_loads(line, 0, NULL);
            json_t *vec = json_object_get(o, "vector");
            cr_assert_eq(json_array_size(vec), dim);
            for (uint32_t i = 0; i < dim; i++) {
                double want = json_number_value(json_array_get(vec, i));
                cr_assert(fabs(v[i] - want) <= GOLDEN_TOL,
                          "desc %zu text %zu coordinate %u: %.9g, golden %.9g", d, t, i,
                          (double)v[i], want);
            }
            json_decref(o);
        }
        hush_embedder_free(e);
    }
    fclose(f);
    json_decref(golden);
}

static double cosine(const float *a, const float *b, uint32_t n)
{
    double s = 0;
    for (uint32_t i = 0; i < n; i++) {
        s += (double)a[i] * b[i];
    }
    return s;
}

Test(embedder, vectors_are_unit_and_meaningful)
{
    hush_embedder *e = NULL;
    cr_assert_eq(hush_embedder_new_default(256, 3, &e, NULL), 0);
    const char *a = "Cheap meds online, limited offer, buy now and save 80%";
    const char *b = "Buy cheap medication online now: save 80 percent, offer ends soon";
    const char *c = "The build fails on Debian with gcc 12; see the attached log";
    float va[256], vb[256], vc[256];
    cr_assert_eq(hush_embed_text(e, a, strlen(a), va, 256, NULL), 0);
    cr_assert_eq(hush_embed_text(e, b, strlen(b), vb, 256, NULL), 0);
    cr_assert_eq(hush_embed_text(e, c, strlen(c), vc, 256, NULL), 0);
    cr_assert_float_eq(cosine(va, va, 256), 1.0, 1e-6);
    cr_assert_float_eq(cosine(vc, vc, 256), 1.0, 1e-6);
    cr_assert_gt(cosine(va, vb, 256), cosine(va, vc, 256) + 0.2,
                 "paraphrases must be closer than unrelated text (%f vs %f)",
                 cosine(va, vb, 256), cosine(va, vc, 256));
    /* case and punctuation do not matter */
    const char *a2 = "CHEAP MEDS ONLINE!!! limited offer -- buy now, and save 80%";
    float va2[256];
    cr_assert_eq(hush_embed_text(e, a2, strlen(a2), va2, 256, NULL), 0);
    cr_assert_arr_eq(va, va2, sizeof va);
    hush_embedder_free(e);
}

Test(embedder, empty_and_oversized_text)
{
    hush_embedder *e = NULL;
    cr_assert_eq(hush_embedder_new_default(64, 3, &e, NULL), 0);
    float v[64];
    hush_err err = {0};
    cr_assert_eq(hush_embed_text(e, "", 0, v, 64, &err), HUSH_EINVAL);
    cr_assert(strstr(err.msg, "no letters") != NULL, "%s", err.msg);
    cr_assert_eq(hush_embed_text(e, "?!... --", 8, v, 64, NULL), HUSH_EINVAL);
    for (int i = 0; i < 64; i++) {
        cr_assert_eq(v[i], 0.0f, "a refused text leaves a zero vector");
    }
    cr_assert_eq(hush_embed_text(e, "abc", 3, v, 63, NULL), HUSH_EINVAL, "short output");
    size_t len = 10u << 20;
    char *big = malloc(len);
    cr_assert_not_null(big);
    memset(big, 'x', len);
    cr_assert_eq(hush_embed_text(e, big, len, v, 64, NULL), HUSH_ETOOBIG);
    /* a long text under the limit embeds */
    for (size_t i = 0; i < (1u << 20); i += 7) {
        big[i] = ' ';
    }
    cr_assert_eq(hush_embed_text(e, big, 1u << 20, v, 64, NULL), 0);
    free(big);
    hush_embedder_free(e);
}

Test(embedder, idf_models)
{
    const char *desc = "{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":64,\"seed\":5}";
    const char *docs[] = {"the cat sat", "the dog sat", "the bird flew", "a cat flew"};
    size_t lens[4];
    for (int i = 0; i < 4; i++) {
        lens[i] = strlen(docs[i]);
    }
    uint8_t *model = NULL;
    size_t mlen = 0;
    hush_err err = {0};
    cr_assert_eq(
        hush_idf_build(desc, strlen(desc), docs, lens, 4, 1, &model, &mlen, &err), 0,
        "%s", err.msg);
    char sum[17];
    hush_idf_checksum(model, mlen, sum);
    char with_idf[256];
    snprintf(with_idf, sizeof with_idf,
             "{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":64,\"seed\":5,"
             "\"idf\":{\"checksum\":\"%s\"}}",
             sum);
    hush_embedder *e = NULL;
    cr_assert_eq(
        hush_embedder_new(with_idf, strlen(with_idf), model, mlen, NULL, &e, &err), 0,
        "%s", err.msg);
    hush__ngram_config cfg;
    cr_assert(hush__embedder_ngram(e, &cfg));
    /* "the" is in 3 of 4 documents, "cat" in 2: idf = ln(5/4)+1 and ln(5/3)+1 */
    uint64_t the = (XXH3_64bits_withSeed("the", 3, cfg.seed + 1) & ~UINT64_C(1));
    hush__idf idf;
    cr_assert_eq(hush__idf_parse(model, mlen, &idf, NULL), 0);
    cr_assert_float_eq(hush__idf_lookup(&idf, the), log(5.0 / 4.0) + 1.0, 1e-6);
    cr_assert_float_eq(idf.default_weight, log(5.0) + 1.0, 1e-6);
    hush__idf_dispose(&idf);
    /* the describe output names the model */
    char *d = NULL;
    cr_assert_eq(hush_embedder_describe(e, &d, NULL), 0);
    cr_assert(strstr(d, sum) != NULL);
    hush_free(d);
    hush_embedder_free(e);
    /* wrong checksum, corrupt model, other seed */
    char bad[256];
    snprintf(bad, sizeof bad,
             "{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":64,\"seed\":5,"
             "\"idf\":{\"checksum\":\"0000000000000000\"}}");
    hush_err_clear(&err);
    cr_assert_eq(hush_embedder_new(bad, strlen(bad), model, mlen, NULL, &e, &err),
                 HUSH_EMISMATCH);
    model[50] ^= 1;
    cr_assert_eq(
        hush_embedder_new(with_idf, strlen(with_idf), model, mlen, NULL, &e, NULL),
        HUSH_ECORRUPT);
    model[50] ^= 1;
    snprintf(bad, sizeof bad,
             "{\"kind\":\"hashed-ngram\",\"version\":1,\"dim\":64,\"seed\":6,"
             "\"idf\":{\"checksum\":\"%s\"}}",
             sum);
    hush_err_clear(&err);
    cr_assert_eq(hush_embedder_new(bad, strlen(bad), model, mlen, NULL, &e, &err),
                 HUSH_EMISMATCH);
    cr_assert(strstr(err.msg, "seed") != NULL, "%s", err.msg);
    hush_free(model);
}
