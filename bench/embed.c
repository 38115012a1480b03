/*
 * bench/embed.c - embedding throughput and nearest-neighbour matching cost.
 *
 *   {"bench":"embed","what":"embed",…,"texts_per_s":…,"mb_per_s":…}
 *       the default embedder over every corpus email (subject + body), one
 *       core, median of 3 passes;
 *   {"bench":"embed","what":"match",…,"ms":…,"scratch_kb":…,"matrices_kb":…}
 *       10,000 candidates x 200 local samples at dim 256, int8, k = 1 and
 *       k = 10, one core, median of 15 runs.  The candidates are paragraphs
 *       of the corpus and the queries are emails (random unit vectors when
 *       the corpus is missing: "data":"random"); scratch_kb is the peak of
 *       what the search itself allocates, matrices_kb what the two int8
 *       matrices occupy.  Also the float32 path for comparison.
 *
 * Usage: bench/embed [--corpus PATH]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "corpus.h"
#include "hush_embed.h"
#include "hush_privacy.h"

#define N_CAND 10000
#define N_QUERY 200
#define DIM 256

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void die(const char *what, const hush_err *err)
{
    fprintf(stderr, "bench/embed: %s: %s\n", what, err->msg);
    exit(1);
}

/* A counting allocator: the peak of live bytes while installed. */
static size_t live_bytes, peak_bytes;

static void *count_malloc(size_t n)
{
    size_t *p = malloc(n + 16);
    if (p == NULL) {
        return NULL;
    }
    p[0] = n;
    live_bytes += n;
    peak_bytes = live_bytes > peak_bytes ? live_bytes : peak_bytes;
    return (char *)p + 16;
}

static void count_free(void *q)
{
    if (q != NULL) {
        size_t *p = (size_t *)((char *)q - 16);
        live_bytes -= p[0];
        free(p);
    }
}

static void *count_realloc(void *q, size_t n)
{
    if (q == NULL) {
        return count_malloc(n);
    }
    size_t *p = (size_t *)((char *)q - 16);
    size_t old = p[0];
    size_t *np = realloc(p, n + 16);
    if (np == NULL) {
        return NULL;
    }
    np[0] = n;
    live_bytes += n - old;
    peak_bytes = live_bytes > peak_bytes ? live_bytes : peak_bytes;
    return (char *)np + 16;
}

static void fill_random(hush_matrix *m, uint64_t seed)
{
    hush_rng *rng = NULL;
    hush_err err = {0};
    float v[DIM];
    if (hush_rng_new_seeded_u64(seed, &rng) != 0) {
        exit(1);
    }
    for (uint32_t r = 0; r < hush_matrix_rows(m); r++) {
        double ss = 0;
        for (int i = 0; i < DIM; i++) {
            v[i] = (float)(hush_rng_unit(rng) - 0.5);
            ss += (double)v[i] * v[i];
        }
        for (int i = 0; i < DIM; i++) {
            v[i] = (float)(v[i] / sqrt(ss));
        }
        if (hush_matrix_set_row(m, r, v, DIM, &err) != 0) {
            die("set row", &err);
        }
    }
    hush_rng_free(rng);
}

static void bench_match(hush_matrix *cand, hush_matrix *q, size_t k, const char *data)
{
    hush_err err = {0};
    hush_match *out = malloc(N_QUERY * k * sizeof *out);
    double t[15];
    for (int rep = 0; rep < 15; rep++) {
        double t0 = now();
        if (hush_nearest(cand, q, k, -1.0f, out, N_QUERY * k, &err) != 0) {
            die("nearest", &err);
        }
        t[rep] = (now() - t0) * 1e3;
    }
    qsort(t, 15, sizeof t[0], cmp_double);
    live_bytes = peak_bytes = 0;
    hush_set_allocator(count_malloc, count_realloc, count_free);
    if (hush_nearest(cand, q, k, -1.0f, out, N_QUERY * k, &err) != 0) {
        die("nearest", &err);
    }
    hush_set_allocator(NULL, NULL, NULL);
    hush_matrix_type type = hush_matrix_get_type(cand);
    size_t row_bytes = type == HUSH_MATRIX_I8 ? ((DIM + 63) / 64 * 64 + 8) : DIM * 4 + 4;
    printf(
        "{\"bench\":\"embed\",\"what\":\"match\",\"data\":\"%s\",\"candidates\":%d,"
        "\"queries\":%d,\"dim\":%d,\"type\":\"%s\",\"k\":%zu,\"ms\":%.3f,\"ms_min\":%.3f,"
        "\"scratch_kb\":%.1f,\"matrices_kb\":%.1f}\n",
        data, N_CAND, N_QUERY, DIM, type == HUSH_MATRIX_I8 ? "int8" : "float32", k, t[7],
        t[0], peak_bytes / 1024.0, (double)(N_CAND + N_QUERY) * row_bytes / 1024.0);
    fflush(stdout);
    free(out);
}

int main(int argc, char **argv)
{
    const char *path = "data/spamassassin.jsonl";
    if (argc == 3 && strcmp(argv[1], "--corpus") == 0) {
        path = argv[2];
    }
    if (hush_global_init() != 0) {
        return 1;
    }
    hush_err err = {0};
    hush_embedder *e = NULL;
    if (hush_embedder_new_default(DIM, 0, &e, &err) != 0) {
        die("embedder", &err);
    }
    corpus c;
    bool have = corpus_load(path, &c) == 0;
    hush_matrix *cand_f = NULL, *q_f = NULL;
    if (hush_matrix_new(HUSH_MATRIX_F32, N_CAND, DIM, &cand_f, &err) != 0 ||
        hush_matrix_new(HUSH_MATRIX_F32, N_QUERY, DIM, &q_f, &err) != 0) {
        die("matrix", &err);
    }
    float v[DIM];
    if (have) {
        /* throughput over the whole corpus */
        size_t bytes = 0;
        for (size_t i = 0; i < c.n; i++) {
            bytes += c.len[i];
        }
        double t[3];
        for (int rep = 0; rep < 3; rep++) {
            double t0 = now();
            for (size_t i = 0; i < c.n; i++) {
                hush_err e2 = {0};
                int rc = hush_embed_text(e, c.text[i], c.len[i], v, DIM, &e2);
                if (rc != 0 && rc != HUSH_EINVAL) {
                    die("embed", &e2);
                }
            }
            t[rep] = now() - t0;
        }
        qsort(t, 3, sizeof t[0], cmp_double);
        printf("{\"bench\":\"embed\",\"what\":\"embed\",\"embedder\":\"hashed-ngram\","
               "\"dim\":%d,"
               "\"texts\":%zu,\"mb\":%.2f,\"texts_per_s\":%.0f,\"mb_per_s\":%.2f}\n",
               DIM, c.n, bytes / 1e6, c.n / t[1], bytes / 1e6 / t[1]);
        fflush(stdout);
        /* candidates: paragraphs of the corpus; queries: whole emails */
        uint32_t nc = 0;
        for (size_t i = 0; i < c.n && nc < N_CAND; i++) {
            const char *s = c.text[i], *end = s + c.len[i];
            while (s < end && nc < N_CAND) {
                const char *para = strstr(s, "\n\n");
                const char *pe = para != NULL && para < end ? para : end;
                if (pe - s >= 40 &&
                    hush_embed_text(e, s, (size_t)(pe - s), v, DIM, NULL) == 0) {
                    if (hush_matrix_set_row(cand_f, nc++, v, DIM, &err) != 0) {
                        die("set row", &err);
                    }
                }
                s = pe + 2;
            }
        }
        if (nc < N_CAND) {
            fprintf(stderr, "bench/embed: only %u paragraphs\n", nc);
            return 1;
        }
        for (uint32_t j = 0; j < N_QUERY; j++) {
            size_t i = (size_t)j * (c.n / N_QUERY);
            if (hush_embed_text(e, c.text[i], c.len[i], v, DIM, NULL) != 0) {
                memset(v, 0, sizeof v);
            }
            if (hush_matrix_set_row(q_f, j, v, DIM, &err) != 0) {
                die("set row", &err);
            }
        }
        corpus_free(&c);
    } else {
        fprintf(stderr, "bench/embed: no corpus; matching random unit vectors\n");
        fill_random(cand_f, 1);
        fill_random(q_f, 2);
    }
    hush_matrix *cand = NULL, *q = NULL;
    if (hush_matrix_quantize(cand_f, &cand, &err) != 0 ||
        hush_matrix_quantize(q_f, &q, &err) != 0) {
        die("quantize", &err);
    }
    const char *data = have ? "corpus" : "random";
    bench_match(cand, q, 1, data);
    bench_match(cand, q, 10, data);
    bench_match(cand_f, q_f, 1, data);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"bench\":\"embed\",\"what\":\"process\",\"peak_rss_kb\":%ld}\n",
           ru.ru_maxrss);
    hush_matrix_free(cand);
    hush_matrix_free(q);
    hush_matrix_free(cand_f);
    hush_matrix_free(q_f);
    hush_embedder_free(e);
    return 0;
}
