/*
 * bench/embed_quality.c - how well the built-in embedder separates spam from
 * ham: 1-nearest-neighbour accuracy on the SpamAssassin corpus.
 *
 * Each split puts a random half of the 6,046 emails in the index and queries
 * with the other half; a query is classified with the label of its most
 * similar indexed email.  Reported: the mean accuracy over --splits random
 * splits (seeded), its range, and split 0 alone.  Rows:
 *
 *   hashed-ngram, dim 128/256/512, int8 candidate and query matrices (the
 *     path devices use) and float32 (exact cosine of the same vectors);
 *   sif, dim 100 (GloVe SIF table, --word-vectors, by default
 *     data/glove-sif-50k.hsif when it exists), int8 and float32;
 *   bow: exact bag-of-words cosine without hashing (word counts, sparse).
 *
 * And per dense embedder, how much it rewards length (the failure that made
 * the refinement loop grow texts): the Pearson correlation, over the emails
 * of the corpus, between ln(words + 1) and the email's mean cosine to 500
 * other emails drawn at random (seeded).  Near 0: similarity does not
 * depend on length.  Over the whole corpus it mixes groups of different
 * lengths and topics; give one group (--corpus with only its lines) for the
 * within-group figure docs/embeddings.md quotes.
 *
 * {"bench":"embed-quality","text":…,"embedder":…,"dim":…,"length_bias":…}
 * {"bench":"embed-quality","embedder":…,"dim":…,"matrix":…,"splits":…,
 *  "accuracy":…,"accuracy_min":…,"accuracy_max":…,"accuracy_split0":…}
 *
 * Needs data/spamassassin.jsonl (scripts/fetch-corpus).
 * Usage: bench/embed-quality [--splits N] [--corpus PATH] [--model DESC.json]
 *                            [--idf MODEL] [--word-vectors TABLE]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "corpus.h"
#include "hush_embed.h"
#include "hush_privacy.h"

#define MAX_SPLITS 32

static void die(const char *what, const hush_err *err)
{
    fprintf(stderr, "embed-quality: %s: %s\n", what, err->msg);
    exit(1);
}

/* order[0 .. n/2) index, the rest queries. */
static void split(size_t n, uint64_t seed, size_t *order)
{
    hush_rng *rng = NULL;
    if (hush_rng_new_seeded_u64(seed, &rng) != 0) {
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        order[i] = i;
    }
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)hush_rng_uniform(rng, i + 1);
        size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    hush_rng_free(rng);
}

static const char *text_kind = "email";

static void report(const char *embedder, unsigned dim, const char *matrix, int splits,
                   const double *acc)
{
    double sum = 0, lo = 1, hi = 0;
    for (int s = 0; s < splits; s++) {
        sum += acc[s];
        lo = acc[s] < lo ? acc[s] : lo;
        hi = acc[s] > hi ? acc[s] : hi;
    }
    printf("{\"bench\":\"embed-quality\",\"text\":\"%s\",\"embedder\":\"%s\",\"dim\":%u,"
           "\"matrix\":\"%s\","
           "\"splits\":%d,\"accuracy\":%.4f,\"accuracy_min\":%.4f,\"accuracy_max\":%.4f,"
           "\"accuracy_split0\":%.4f}\n",
           text_kind, embedder, dim, matrix, splits, sum / splits, lo, hi, acc[0]);
    fflush(stdout);
}

/* 1-NN accuracy of dense embeddings `vec` (n x dim) on one split. */
static double knn_dense(const corpus *c, const float *vec, uint32_t dim,
                        const size_t *order, hush_matrix_type type)
{
    size_t half = c->n / 2, nq = c->n - half;
    hush_matrix *idx = NULL, *q = NULL;
    hush_err err = {0};
    if (hush_matrix_new(type, (uint32_t)half, dim, &idx, &err) != 0 ||
        hush_matrix_new(type, (uint32_t)nq, dim, &q, &err) != 0) {
        die("matrix", &err);
    }
    for (size_t i = 0; i < c->n; i++) {
        hush_matrix *m = i < half ? idx : q;
        uint32_t r = (uint32_t)(i < half ? i : i - half);
        if (hush_matrix_set_row(m, r, vec + order[i] * dim, dim, &err) != 0) {
            die("set row", &err);
        }
    }
    hush_match *out = malloc(nq * sizeof *out);
    if (out == NULL || hush_nearest(idx, q, 1, -1.0f, out, nq, &err) != 0) {
        die("nearest", &err);
    }
    size_t right = 0;
    for (size_t i = 0; i < nq; i++) {
        int truth = c->spam[order[half + i]];
        int guess = out[i].index == HUSH_MATCH_NONE ? 0 : c->spam[order[out[i].index]];
        right += truth == guess;
    }
    free(out);
    hush_matrix_free(idx);
    hush_matrix_free(q);
    return (double)right / nq;
}

/* ---- exact bag-of-words ---- */

typedef struct sparse {
    uint64_t *term;
    double *w;
    size_t n;
} sparse;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void bow_vector(const char *text, size_t len, sparse *out)
{
    char *norm = NULL;
    size_t nlen = 0;
    hush_err err = {0};
    memset(out, 0, sizeof *out);
    if (hush_text_normalize(text, len, &norm, &nlen, &err) != 0) {
        die("normalize", &err);
    }
    size_t ntok = 0, cap = 64;
    uint64_t *toks = malloc(cap * sizeof *toks);
    for (size_t i = 0; i < nlen;) {
        size_t j = i;
        while (j < nlen && norm[j] != ' ') {
            j++;
        }
        if (ntok == cap) {
            cap *= 2;
            uint64_t *grown = realloc(toks, cap * sizeof *toks);
            if (grown == NULL) {
                fprintf(stderr, "embed-quality: out of memory\n");
                exit(1);
            }
            toks = grown;
        }
        toks[ntok++] = XXH3_64bits(norm + i, j - i);
        i = j + 1;
    }
    qsort(toks, ntok, sizeof *toks, cmp_u64);
    out->term = malloc((ntok ? ntok : 1) * sizeof *out->term);
    out->w = malloc((ntok ? ntok : 1) * sizeof *out->w);
    double ss = 0;
    for (size_t i = 0; i < ntok;) {
        size_t j = i;
        while (j < ntok && toks[j] == toks[i]) {
            j++;
        }
        out->term[out->n] = toks[i];
        out->w[out->n] = (double)(j - i);
        ss += out->w[out->n] * out->w[out->n];
        out->n++;
        i = j;
    }
    for (size_t i = 0; i < out->n; i++) {
        out->w[i] /= sqrt(ss);
    }
    free(toks);
    hush_free(norm);
}

struct posting {
    uint64_t term;
    uint32_t doc;
    double w;
};

static int cmp_post(const void *a, const void *b)
{
    uint64_t x = ((const struct posting *)a)->term, y = ((const struct posting *)b)->term;
    return (x > y) - (x < y);
}

/* 1-NN over sparse vectors with an inverted index of the index half. */
static double knn_bow(const corpus *c, const sparse *v, const size_t *order)
{
    size_t half = c->n / 2;
    /* postings: all (term, doc, weight) of the index half, sorted by term */
    size_t total = 0;
    for (size_t i = 0; i < half; i++) {
        total += v[order[i]].n;
    }
    struct posting *post = malloc(total * sizeof *post);
    size_t p = 0;
    for (size_t i = 0; i < half; i++) {
        const sparse *s = &v[order[i]];
        for (size_t k = 0; k < s->n; k++) {
            post[p++] = (struct posting){s->term[k], (uint32_t)i, s->w[k]};
        }
    }
    qsort(post, total, sizeof *post, cmp_post);
    double *score = calloc(half, sizeof *score);
    size_t right = 0;
    for (size_t qi = half; qi < c->n; qi++) {
        const sparse *q = &v[order[qi]];
        memset(score, 0, half * sizeof *score);
        for (size_t k = 0; k < q->n; k++) {
            /* binary search the term's postings */
            size_t lo = 0, hi = total;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (post[mid].term < q->term[k]) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            for (; lo < total && post[lo].term == q->term[k]; lo++) {
                score[post[lo].doc] += q->w[k] * post[lo].w;
            }
        }
        size_t best = 0;
        for (size_t i = 1; i < half; i++) {
            if (score[i] > score[best]) {
                best = i;
            }
        }
        right += c->spam[order[best]] == c->spam[order[qi]];
    }
    free(score);
    free(post);
    return (double)right / (c->n - half);
}

static size_t n_words(const char *s, size_t len)
{
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        bool sp = s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r';
        bool prev = i == 0 || s[i - 1] == ' ' || s[i - 1] == '\n' || s[i - 1] == '\t' ||
                    s[i - 1] == '\r';
        w += !sp && prev;
    }
    return w;
}

/* Pearson correlation of ln(words + 1) with the mean cosine to 500 others. */
static void length_bias(const corpus *c, const float *vec, uint32_t dim, const char *name)
{
    enum { REFS = 500 };
    size_t order[REFS];
    size_t *all = malloc(c->n * sizeof *all);
    split(c->n, 777, all);
    for (size_t r = 0; r < REFS && r < c->n; r++) {
        order[r] = all[r];
    }
    free(all);
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    size_t m = 0;
    for (size_t i = 0; i < c->n; i++) {
        double mean = 0;
        size_t k = 0;
        for (size_t r = 0; r < REFS && r < c->n; r++) {
            if (order[r] == i) {
                continue;
            }
            const float *a = vec + i * dim, *b = vec + order[r] * dim;
            double dot = 0;
            for (uint32_t d = 0; d < dim; d++) {
                dot += (double)a[d] * b[d];
            }
            mean += dot;
            k++;
        }
        double x = log((double)n_words(c->text[i], c->len[i]) + 1.0),
               y = mean / (double)k;
        sx += x;
        sy += y;
        sxx += x * x;
        syy += y * y;
        sxy += x * y;
        m++;
    }
    double cov = sxy / m - (sx / m) * (sy / m);
    double vx = sxx / m - (sx / m) * (sx / m), vy = syy / m - (sy / m) * (sy / m);
    printf("{\"bench\":\"embed-quality\",\"text\":\"%s\",\"embedder\":\"%s\",\"dim\":%u,"
           "\"length_bias\":%.4f}\n",
           text_kind, name, dim, cov / sqrt(vx * vy));
    fflush(stdout);
}

static const char *wv_path; /* --word-vectors */

/* Every row for one corpus file. */
static int run_corpus(const char *path, const char *model, const uint8_t *idf,
                      size_t idf_len, uint64_t splits)
{
    hush_err err = {0};
    corpus c;
    if (corpus_load(path, &c) != 0) {
        return 1;
    }
    size_t *order[MAX_SPLITS];
    for (uint64_t s = 0; s < splits; s++) {
        order[s] = malloc(c.n * sizeof *order[s]);
        split(c.n, 4242 + s, order[s]);
    }
    static const uint32_t dims[] = {128, 256, 512};
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        hush_embedder *e = NULL;
        if (model != NULL) {
            /* --model: that description with this row's dimension */
            json_t *root = json_load_file(model, JSON_REJECT_DUPLICATES, NULL);
            json_object_set_new(root, "dim", json_integer(dims[di]));
            char *desc = json_dumps(root, JSON_COMPACT);
            json_decref(root);
            if (desc == NULL || hush_embedder_new(desc, strlen(desc), idf, idf_len, NULL,
                                                  &e, &err) != 0) {
                die("model", &err);
            }
            free(desc);
        } else if (hush_embedder_new_default(dims[di], 0, &e, &err) != 0) {
            die("embedder", &err);
        }
        float *vec = calloc(c.n * dims[di], sizeof *vec);
        for (size_t i = 0; i < c.n; i++) {
            hush_err e2 = {0};
            int rc = hush_embed_text(e, c.text[i], c.len[i], vec + i * dims[di], dims[di],
                                     &e2);
            if (rc != 0 && rc != HUSH_EINVAL) {
                die("embed", &e2);
            }
        }
        double acc[MAX_SPLITS];
        for (uint64_t s = 0; s < splits; s++) {
            acc[s] = knn_dense(&c, vec, dims[di], order[s], HUSH_MATRIX_I8);
        }
        report("hashed-ngram", dims[di], "int8", (int)splits, acc);
        for (uint64_t s = 0; s < splits; s++) {
            acc[s] = knn_dense(&c, vec, dims[di], order[s], HUSH_MATRIX_F32);
        }
        report("hashed-ngram", dims[di], "float32", (int)splits, acc);
        if (dims[di] == 256 && model == NULL) {
            length_bias(&c, vec, dims[di], "hashed-ngram");
        }
        free(vec);
        hush_embedder_free(e);
    }
    if (wv_path != NULL) {
        hush_wordvec *wv = NULL;
        hush_embedder *e = NULL;
        if (hush_wordvec_load(wv_path, &wv, &err) != 0) {
            die(wv_path, &err);
        }
        if (hush_embedder_new_sif(wv, 1, &e, &err) != 0) {
            die("sif", &err);
        }
        uint32_t dim = hush_embedder_dim(e);
        float *vec = calloc(c.n * dim, sizeof *vec);
        for (size_t i = 0; i < c.n; i++) {
            hush_err e2 = {0};
            int rc = hush_embed_text(e, c.text[i], c.len[i], vec + i * dim, dim, &e2);
            if (rc != 0 && rc != HUSH_EINVAL) {
                die("embed", &e2);
            }
        }
        double acc[MAX_SPLITS];
        for (uint64_t s = 0; s < splits; s++) {
            acc[s] = knn_dense(&c, vec, dim, order[s], HUSH_MATRIX_I8);
        }
        report("sif", dim, "int8", (int)splits, acc);
        for (uint64_t s = 0; s < splits; s++) {
            acc[s] = knn_dense(&c, vec, dim, order[s], HUSH_MATRIX_F32);
        }
        report("sif", dim, "float32", (int)splits, acc);
        length_bias(&c, vec, dim, "sif");
        free(vec);
        hush_embedder_free(e);
        hush_wordvec_free(wv);
    }
    sparse *v = calloc(c.n, sizeof *v);
    for (size_t i = 0; i < c.n; i++) {
        bow_vector(c.text[i], c.len[i], &v[i]);
    }
    double acc[MAX_SPLITS];
    for (uint64_t s = 0; s < splits; s++) {
        acc[s] = knn_bow(&c, v, order[s]);
    }
    report("bow", 0, "sparse", (int)splits, acc);
    for (size_t i = 0; i < c.n; i++) {
        free(v[i].term);
        free(v[i].w);
    }
    free(v);
    for (uint64_t s = 0; s < splits; s++) {
        free(order[s]);
    }
    corpus_free(&c);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    const char *model = NULL;
    const char *idf_path = NULL;
    uint8_t *idf = NULL;
    size_t idf_len = 0;
    uint64_t splits = 5;
    hush_err err = {0};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--splits") == 0) {
            if (hush_parse_u64(argv[i + 1], 1, MAX_SPLITS, "--splits", &splits, &err) !=
                0) {
                die("usage", &err);
            }
        } else if (strcmp(argv[i], "--corpus") == 0) {
            path = argv[i + 1];
        } else if (strcmp(argv[i], "--model") == 0) {
            model = argv[i + 1];
        } else if (strcmp(argv[i], "--idf") == 0) {
            idf_path = argv[i + 1];
        } else if (strcmp(argv[i], "--word-vectors") == 0) {
            wv_path = argv[i + 1];
        }
    }
    if (wv_path == NULL && access("data/glove-sif-50k.hsif", R_OK) == 0) {
        wv_path = "data/glove-sif-50k.hsif";
    }
    if (hush_global_init() != 0) {
        return 1;
    }
    if (idf_path != NULL) {
        FILE *f = fopen(idf_path, "rb");
        if (f == NULL) {
            fprintf(stderr, "embed-quality: cannot open %s\n", idf_path);
            return 1;
        }
        fseek(f, 0, SEEK_END);
        idf_len = (size_t)ftell(f);
        fseek(f, 0, SEEK_SET);
        idf = malloc(idf_len);
        if (idf == NULL || fread(idf, 1, idf_len, f) != idf_len) {
            return 1;
        }
        fclose(f);
    }
    int rc = 0;
    if (path != NULL) {
        rc = run_corpus(path, model, idf, idf_len, splits);
    } else {
        text_kind = "email";
        rc = run_corpus("data/spamassassin.jsonl", model, idf, idf_len, splits);
        text_kind = "raw";
        rc |= run_corpus("data/spamassassin-raw.jsonl", model, idf, idf_len, splits);
    }
    free(idf);
    return rc != 0;
}
