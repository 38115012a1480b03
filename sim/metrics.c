/*
 * metrics.c - the evaluation space and the measures of sim/metrics.h.
 *
 * Everything is in doubles and deterministic under a seed.  The linear
 * algebra is small (the evaluation space has about 100 dimensions), so it is
 * written out here rather than pulling in LAPACK: a cyclic Jacobi
 * eigen-solver for symmetric matrices, modified Gram-Schmidt, and a
 * randomized SVD of the sparse TF-IDF matrix.
 */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define WORD_MAX 30

/* ---- small helpers ---- */

static double gauss(hush_rng *rng)
{
    double u1 = hush_rng_unit(rng) + 1e-300, u2 = hush_rng_unit(rng);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static double sqdist(const double *a, const double *b, uint32_t d)
{
    double s = 0;
    for (uint32_t i = 0; i < d; i++) {
        double t = a[i] - b[i];
        s += t * t;
    }
    return s;
}

size_t sim_words(const char *s)
{
    size_t w = 0;
    for (size_t i = 0; s[i] != '\0'; i++) {
        bool space = s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r';
        bool prev = i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t' || s[i - 1] == '\n' ||
                    s[i - 1] == '\r';
        w += !space && prev;
    }
    return w;
}

/* ---- a word table: open addressing over XXH3 ---- */

typedef struct wtab {
    char (*word)[WORD_MAX + 1];
    uint32_t *slot; /* index + 1 into word[], 0 = empty */
    size_t n, cap_words, n_slots;
} wtab;

static void wtab_free(wtab *t)
{
    free(t->word);
    free(t->slot);
    memset(t, 0, sizeof *t);
}

static int wtab_grow(wtab *t)
{
    size_t ns = t->n_slots ? t->n_slots * 2 : 1024;
    uint32_t *slot = calloc(ns, sizeof *slot);
    if (slot == NULL) {
        return HUSH_ENOMEM;
    }
    for (size_t i = 0; i < t->n; i++) {
        size_t h = XXH3_64bits(t->word[i], strlen(t->word[i])) & (ns - 1);
        while (slot[h] != 0) {
            h = (h + 1) & (ns - 1);
        }
        slot[h] = (uint32_t)i + 1;
    }
    free(t->slot);
    t->slot = slot;
    t->n_slots = ns;
    return 0;
}

/* The index of `w` (len bytes), added if `add`; -1 if absent (or ENOMEM
 * when adding: -2). */
static long wtab_get(wtab *t, const char *w, size_t len, bool add)
{
    if (t->n_slots > 0) {
        size_t h = XXH3_64bits(w, len) & (t->n_slots - 1);
        while (t->slot[h] != 0) {
            const char *c = t->word[t->slot[h] - 1];
            if (strlen(c) == len && memcmp(c, w, len) == 0) {
                return (long)t->slot[h] - 1;
            }
            h = (h + 1) & (t->n_slots - 1);
        }
    }
    if (!add) {
        return -1;
    }
    if ((t->n + 1) * 2 > t->n_slots && wtab_grow(t) != 0) {
        return -2;
    }
    if (t->n == t->cap_words) {
        size_t cap = t->cap_words ? t->cap_words * 2 : 1024;
        void *g = realloc(t->word, cap * sizeof *t->word);
        if (g == NULL) {
            return -2;
        }
        t->word = g;
        t->cap_words = cap;
    }
    memcpy(t->word[t->n], w, len);
    t->word[t->n][len] = '\0';
    size_t h = XXH3_64bits(w, len) & (t->n_slots - 1);
    while (t->slot[h] != 0) {
        h = (h + 1) & (t->n_slots - 1);
    }
    t->slot[h] = (uint32_t)t->n + 1;
    return (long)t->n++;
}

/* Calls fn(word, len, ctx) for each lower-cased alphanumeric word of 2 to
 * WORD_MAX characters; returns fn's first non-zero result. */
static int each_word(const char *s, int (*fn)(const char *, size_t, void *), void *ctx)
{
    char w[WORD_MAX + 1];
    size_t len = 0;
    bool too_long = false;
    for (size_t i = 0;; i++) {
        unsigned char c = (unsigned char)s[i];
        bool alnum =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (alnum) {
            if (len < WORD_MAX) {
                w[len++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            } else {
                too_long = true;
            }
            continue;
        }
        if (len >= 2 && !too_long) {
            int rc = fn(w, len, ctx);
            if (rc != 0) {
                return rc;
            }
        }
        len = 0;
        too_long = false;
        if (c == '\0') {
            return 0;
        }
    }
}

/* ---- the space ---- */

struct sim_space {
    wtab vocab;
    double *idf;  /* per vocabulary word */
    double *comp; /* vocabulary x dims: the right singular vectors */
    uint32_t dims;
};

void sim_space_free(sim_space *s)
{
    if (s != NULL) {
        wtab_free(&s->vocab);
        free(s->idf);
        free(s->comp);
        free(s);
    }
}

uint32_t sim_space_dims(const sim_space *s)
{
    return s->dims;
}

typedef struct collect {
    wtab *t;
    long *ids;
    size_t n, cap;
    bool add;
} collect;

static int collect_word(const char *w, size_t len, void *ctx)
{
    collect *c = ctx;
    long id = wtab_get(c->t, w, len, c->add);
    if (id == -2) {
        return HUSH_ENOMEM;
    }
    if (id < 0) {
        return 0;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        long *g = realloc(c->ids, cap * sizeof *g);
        if (g == NULL) {
            return HUSH_ENOMEM;
        }
        c->ids = g;
        c->cap = cap;
    }
    c->ids[c->n++] = id;
    return 0;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* A sparse TF-IDF row: sorted unique columns with their weights, L2 1. */
typedef struct srow {
    uint32_t *col;
    double *w;
    size_t n;
} srow;

/* The row of a text over the space's vocabulary (new arrays in r). */
static int tfidf_row(const wtab *vocab, const double *idf, const char *text, srow *r)
{
    collect c = {.t = (wtab *)vocab, .add = false};
    memset(r, 0, sizeof *r);
    int rc = each_word(text, collect_word, &c);
    if (rc != 0) {
        free(c.ids);
        return rc;
    }
    if (c.n > 0) { /* qsort must not see a null array, even empty */
        qsort(c.ids, c.n, sizeof *c.ids, cmp_long);
    }
    r->col = malloc((c.n + 1) * sizeof *r->col);
    r->w = malloc((c.n + 1) * sizeof *r->w);
    if (r->col == NULL || r->w == NULL) {
        free(c.ids);
        free(r->col);
        free(r->w);
        return HUSH_ENOMEM;
    }
    double norm = 0;
    for (size_t i = 0; i < c.n;) {
        size_t j = i;
        while (j < c.n && c.ids[j] == c.ids[i]) {
            j++;
        }
        double w = (1.0 + log((double)(j - i))) * idf[c.ids[i]];
        r->col[r->n] = (uint32_t)c.ids[i];
        r->w[r->n++] = w;
        norm += w * w;
        i = j;
    }
    for (size_t i = 0; i < r->n && norm > 0; i++) {
        r->w[i] /= sqrt(norm);
    }
    free(c.ids);
    return 0;
}

/* Orthonormalizes the l columns of the n x l row-major matrix q in place
 * (modified Gram-Schmidt, two passes); a dependent column becomes zero. */
static void orthonormalize(double *q, size_t n, size_t l)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t j = 0; j < l; j++) {
            for (size_t i = 0; i < j; i++) {
                double dot = 0;
                for (size_t r = 0; r < n; r++) {
                    dot += q[r * l + i] * q[r * l + j];
                }
                for (size_t r = 0; r < n; r++) {
                    q[r * l + j] -= dot * q[r * l + i];
                }
            }
            double norm = 0;
            for (size_t r = 0; r < n; r++) {
                norm += q[r * l + j] * q[r * l + j];
            }
            norm = sqrt(norm);
            for (size_t r = 0; r < n; r++) {
                q[r * l + j] = norm > 1e-12 ? q[r * l + j] / norm : 0.0;
            }
        }
    }
}

typedef struct df_order {
    uint32_t id;
    uint32_t df;
    const char *word;
} df_order;

static int cmp_dfo(const void *a, const void *b)
{
    const df_order *x = a, *y = b;
    if (x->df != y->df) {
        return x->df < y->df ? 1 : -1;
    }
    return strcmp(x->word, y->word);
}

int sim_space_fit(char *const *texts, size_t n, size_t max_vocab, uint32_t dims,
                  uint64_t seed, sim_space **out)
{
    int rc = 0;
    wtab all = {0};
    uint32_t *df = NULL;
    df_order *order = NULL;
    srow *rows = NULL;
    double *omega = NULL, *y = NULL, *z = NULL, *b = NULL, *c = NULL, *vals = NULL,
           *vecs = NULL;
    hush_rng *rng = NULL;
    sim_space *s = calloc(1, sizeof *s);
    if (s == NULL || n < 2 || dims == 0) {
        free(s);
        return s == NULL ? HUSH_ENOMEM : HUSH_EINVAL;
    }
    /* document frequencies over every word */
    size_t df_cap = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        collect col = {.t = &all, .add = true};
        rc = each_word(texts[i], collect_word, &col);
        if (rc == 0 && all.n > df_cap) {
            size_t cap = all.cap_words;
            uint32_t *g = realloc(df, cap * sizeof *g);
            if (g == NULL) {
                rc = HUSH_ENOMEM;
            } else {
                memset(g + df_cap, 0, (cap - df_cap) * sizeof *g);
                df = g;
                df_cap = cap;
            }
        }
        if (rc == 0) {
            if (col.n > 0) {
                qsort(col.ids, col.n, sizeof *col.ids, cmp_long);
            }
            for (size_t k = 0; k < col.n; k++) {
                if (k == 0 || col.ids[k] != col.ids[k - 1]) {
                    df[col.ids[k]]++;
                }
            }
        }
        free(col.ids);
    }
    /* the vocabulary: the most frequent words seen in two texts or more */
    order = rc == 0 ? malloc((all.n + 1) * sizeof *order) : NULL;
    if (rc == 0 && order == NULL) {
        rc = HUSH_ENOMEM;
    }
    size_t v = 0;
    for (size_t i = 0; rc == 0 && i < all.n; i++) {
        if (df[i] >= 2) {
            order[v++] = (df_order){(uint32_t)i, df[i], all.word[i]};
        }
    }
    if (rc == 0) {
        qsort(order, v, sizeof *order, cmp_dfo);
        v = v < max_vocab ? v : max_vocab;
        s->idf = malloc((v + 1) * sizeof *s->idf);
        rc = s->idf == NULL ? HUSH_ENOMEM : 0;
    }
    for (size_t i = 0; rc == 0 && i < v; i++) {
        const char *w = order[i].word;
        long id = wtab_get(&s->vocab, w, strlen(w), true);
        if (id < 0) {
            rc = HUSH_ENOMEM;
            break;
        }
        s->idf[id] = log((1.0 + (double)n) / (1.0 + order[i].df)) + 1.0;
    }
    if (rc == 0 && v < 2) {
        rc = HUSH_EINVAL; /* nothing to fit */
    }
    /* the sparse rows */
    rows = rc == 0 ? calloc(n, sizeof *rows) : NULL;
    if (rc == 0 && rows == NULL) {
        rc = HUSH_ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = tfidf_row(&s->vocab, s->idf, texts[i], &rows[i]);
    }
    /* randomized SVD of the n x v matrix A */
    size_t k = dims, l = k + 10;
    if (l > n) {
        l = n;
    }
    if (l > v) {
        l = v;
    }
    if (k > l) {
        k = l;
    }
    s->dims = (uint32_t)k;
    if (rc == 0) {
        omega = malloc(v * l * sizeof *omega);
        y = calloc(n * l, sizeof *y);
        z = calloc(v * l, sizeof *z);
        b = calloc(l * v, sizeof *b);
        c = calloc(l * l, sizeof *c);
        vals = calloc(l, sizeof *vals);
        vecs = calloc(l * l, sizeof *vecs);
        s->comp = calloc(v * k + 1, sizeof *s->comp);
        if (omega == NULL || y == NULL || z == NULL || b == NULL || c == NULL ||
            vals == NULL || vecs == NULL || s->comp == NULL ||
            hush_rng_new_seeded_u64(seed, &rng) != 0) {
            rc = HUSH_ENOMEM;
        }
    }
    if (rc == 0) {
        for (size_t i = 0; i < v * l; i++) {
            omega[i] = gauss(rng);
        }
        /* Y = A omega */
        for (size_t i = 0; i < n; i++) {
            for (size_t t = 0; t < rows[i].n; t++) {
                const double *o = omega + (size_t)rows[i].col[t] * l;
                for (size_t j = 0; j < l; j++) {
                    y[i * l + j] += rows[i].w[t] * o[j];
                }
            }
        }
        orthonormalize(y, n, l);
        for (int it = 0; it < 2; it++) {
            /* Z = A^T Y, orthonormalized; Y = A Z, orthonormalized */
            memset(z, 0, v * l * sizeof *z);
            for (size_t i = 0; i < n; i++) {
                for (size_t t = 0; t < rows[i].n; t++) {
                    double *zr = z + (size_t)rows[i].col[t] * l;
                    for (size_t j = 0; j < l; j++) {
                        zr[j] += rows[i].w[t] * y[i * l + j];
                    }
                }
            }
            orthonormalize(z, v, l);
            memset(y, 0, n * l * sizeof *y);
            for (size_t i = 0; i < n; i++) {
                for (size_t t = 0; t < rows[i].n; t++) {
                    const double *zr = z + (size_t)rows[i].col[t] * l;
                    for (size_t j = 0; j < l; j++) {
                        y[i * l + j] += rows[i].w[t] * zr[j];
                    }
                }
            }
            orthonormalize(y, n, l);
        }
        /* B = Q^T A (l x v), C = B B^T */
        for (size_t i = 0; i < n; i++) {
            for (size_t t = 0; t < rows[i].n; t++) {
                size_t col = rows[i].col[t];
                for (size_t j = 0; j < l; j++) {
                    b[j * v + col] += y[i * l + j] * rows[i].w[t];
                }
            }
        }
        for (size_t i = 0; i < l; i++) {
            for (size_t j = i; j < l; j++) {
                double dot = 0;
                for (size_t t = 0; t < v; t++) {
                    dot += b[i * v + t] * b[j * v + t];
                }
                c[i * l + j] = c[j * l + i] = dot;
            }
        }
        rc = sim_symmetric_eigen(c, (uint32_t)l, vals, vecs);
    }
    if (rc == 0) {
        /* the eigenvalues come sorted in decreasing order: the right
         * singular vectors v_j = B^T u_j / sigma_j */
        for (size_t j = 0; j < k; j++) {
            double sigma = vals[j] > 0 ? sqrt(vals[j]) : 0;
            for (size_t t = 0; t < v && sigma > 0; t++) {
                double acc = 0;
                for (size_t i = 0; i < l; i++) {
                    acc += b[i * v + t] * vecs[i * l + j];
                }
                s->comp[t * k + j] = acc / sigma;
            }
        }
    }
    for (size_t i = 0; rows != NULL && i < n; i++) {
        free(rows[i].col);
        free(rows[i].w);
    }
    free(rows);
    free(order);
    free(df);
    wtab_free(&all);
    free(omega);
    free(y);
    free(z);
    free(b);
    free(c);
    free(vals);
    free(vecs);
    hush_rng_free(rng);
    if (rc != 0) {
        sim_space_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void sim_space_embed(const sim_space *s, const char *text, double *out)
{
    memset(out, 0, s->dims * sizeof *out);
    srow r;
    if (tfidf_row(&s->vocab, s->idf, text, &r) != 0) {
        return; /* out of memory: the origin */
    }
    for (size_t t = 0; t < r.n; t++) {
        const double *cp = s->comp + (size_t)r.col[t] * s->dims;
        for (uint32_t j = 0; j < s->dims; j++) {
            out[j] += r.w[t] * cp[j];
        }
    }
    /* unit length, as latent semantic analysis does after the SVD: a
     * text's direction, not how much of it the k dimensions explain */
    double norm = 0;
    for (uint32_t j = 0; j < s->dims; j++) {
        norm += out[j] * out[j];
    }
    for (uint32_t j = 0; j < s->dims && norm > 0; j++) {
        out[j] /= sqrt(norm);
    }
    free(r.col);
    free(r.w);
}

/* ---- eigen-decomposition (cyclic Jacobi) ---- */

int sim_symmetric_eigen(double *a, uint32_t d, double *values, double *vectors)
{
    double *v = vectors != NULL ? vectors : malloc((size_t)d * d * sizeof *v);
    if (v == NULL) {
        return HUSH_ENOMEM;
    }
    for (uint32_t i = 0; i < d; i++) {
        for (uint32_t j = 0; j < d; j++) {
            v[(size_t)i * d + j] = i == j;
        }
    }
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, total = 0;
        for (uint32_t i = 0; i < d; i++) {
            for (uint32_t j = 0; j < d; j++) {
                double x = a[(size_t)i * d + j] * a[(size_t)i * d + j];
                total += x;
                off += i != j ? x : 0;
            }
        }
        if (off <= 1e-30 * (total > 0 ? total : 1)) {
            break;
        }
        for (uint32_t p = 0; p + 1 < d; p++) {
            for (uint32_t q = p + 1; q < d; q++) {
                double apq = a[(size_t)p * d + q];
                if (fabs(apq) < 1e-300) {
                    continue;
                }
                double app = a[(size_t)p * d + p], aqq = a[(size_t)q * d + q];
                double theta = (aqq - app) / (2 * apq);
                double t =
                    (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
                double cs = 1 / sqrt(t * t + 1), sn = t * cs;
                for (uint32_t r = 0; r < d; r++) {
                    double arp = a[(size_t)r * d + p], arq = a[(size_t)r * d + q];
                    a[(size_t)r * d + p] = cs * arp - sn * arq;
                    a[(size_t)r * d + q] = sn * arp + cs * arq;
                }
                for (uint32_t r = 0; r < d; r++) {
                    double apr = a[(size_t)p * d + r], aqr = a[(size_t)q * d + r];
                    a[(size_t)p * d + r] = cs * apr - sn * aqr;
                    a[(size_t)q * d + r] = sn * apr + cs * aqr;
                }
                for (uint32_t r = 0; r < d; r++) {
                    double vrp = v[(size_t)r * d + p], vrq = v[(size_t)r * d + q];
                    v[(size_t)r * d + p] = cs * vrp - sn * vrq;
                    v[(size_t)r * d + q] = sn * vrp + cs * vrq;
                }
            }
        }
    }
    for (uint32_t i = 0; i < d; i++) {
        values[i] = a[(size_t)i * d + i];
    }
    /* decreasing order (selection sort: d is small) */
    for (uint32_t i = 0; i < d; i++) {
        uint32_t m = i;
        for (uint32_t j = i + 1; j < d; j++) {
            m = values[j] > values[m] ? j : m;
        }
        if (m != i) {
            double t = values[i];
            values[i] = values[m];
            values[m] = t;
            for (uint32_t r = 0; r < d; r++) {
                double u = v[(size_t)r * d + i];
                v[(size_t)r * d + i] = v[(size_t)r * d + m];
                v[(size_t)r * d + m] = u;
            }
        }
    }
    if (vectors == NULL) {
        free(v);
    }
    return 0;
}

/* ---- moments and the Frechet distance ---- */

int sim_moments(const double *x, size_t n, uint32_t d, double *mean, double *cov)
{
    memset(mean, 0, d * sizeof *mean);
    memset(cov, 0, (size_t)d * d * sizeof *cov);
    if (n == 0) {
        return HUSH_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        for (uint32_t j = 0; j < d; j++) {
            mean[j] += x[i * d + j] / (double)n;
        }
    }
    for (size_t i = 0; i < n; i++) {
        for (uint32_t a = 0; a < d; a++) {
            double da = x[i * d + a] - mean[a];
            for (uint32_t b = a; b < d; b++) {
                cov[(size_t)a * d + b] += da * (x[i * d + b] - mean[b]);
            }
        }
    }
    double div = n > 1 ? (double)(n - 1) : 1.0;
    for (uint32_t a = 0; a < d; a++) {
        for (uint32_t b = a; b < d; b++) {
            cov[(size_t)a * d + b] /= div;
            cov[(size_t)b * d + a] = cov[(size_t)a * d + b];
        }
    }
    return 0;
}

int sim_frechet_moments(const double *m1, const double *c1, const double *m2,
                        const double *c2, uint32_t d, double *out)
{
    size_t dd = (size_t)d * d;
    double *a = malloc(dd * sizeof *a), *vec = malloc(dd * sizeof *vec),
           *val = malloc(d * sizeof *val), *root = calloc(dd, sizeof *root),
           *tmp = calloc(dd, sizeof *tmp);
    if (a == NULL || vec == NULL || val == NULL || root == NULL || tmp == NULL) {
        free(a);
        free(vec);
        free(val);
        free(root);
        free(tmp);
        return HUSH_ENOMEM;
    }
    /* c1^1/2 from c1's eigen-decomposition (negative rounding clipped) */
    memcpy(a, c1, dd * sizeof *a);
    sim_symmetric_eigen(a, d, val, vec);
    for (uint32_t i = 0; i < d; i++) {
        for (uint32_t j = 0; j < d; j++) {
            double s = 0;
            for (uint32_t k = 0; k < d; k++) {
                s += vec[(size_t)i * d + k] * sqrt(val[k] > 0 ? val[k] : 0) *
                     vec[(size_t)j * d + k];
            }
            root[(size_t)i * d + j] = s;
        }
    }
    /* M = c1^1/2 c2 c1^1/2 is symmetric PSD, with the eigenvalues of c1 c2:
     * tr (c1 c2)^1/2 = sum of the square roots of M's eigenvalues */
    for (uint32_t i = 0; i < d; i++) {
        for (uint32_t j = 0; j < d; j++) {
            double s = 0;
            for (uint32_t k = 0; k < d; k++) {
                s += root[(size_t)i * d + k] * c2[(size_t)k * d + j];
            }
            tmp[(size_t)i * d + j] = s;
        }
    }
    for (uint32_t i = 0; i < d; i++) {
        for (uint32_t j = 0; j < d; j++) {
            double s = 0;
            for (uint32_t k = 0; k < d; k++) {
                s += tmp[(size_t)i * d + k] * root[(size_t)k * d + j];
            }
            a[(size_t)i * d + j] = s;
        }
    }
    for (uint32_t i = 0; i < d; i++) { /* symmetrize the rounding */
        for (uint32_t j = i + 1; j < d; j++) {
            double m = 0.5 * (a[(size_t)i * d + j] + a[(size_t)j * d + i]);
            a[(size_t)i * d + j] = a[(size_t)j * d + i] = m;
        }
    }
    sim_symmetric_eigen(a, d, val, NULL);
    double fd = 0;
    for (uint32_t i = 0; i < d; i++) {
        double dm = m1[i] - m2[i];
        fd += dm * dm + c1[(size_t)i * d + i] + c2[(size_t)i * d + i] -
              2 * sqrt(val[i] > 0 ? val[i] : 0);
    }
    *out = fd;
    free(a);
    free(vec);
    free(val);
    free(root);
    free(tmp);
    return 0;
}

int sim_frechet_to(const double *a, size_t na, uint32_t d, const double *m2,
                   const double *c2, double *out)
{
    double *m1 = malloc(d * sizeof *m1), *c1 = malloc((size_t)d * d * sizeof *c1);
    int rc = m1 == NULL || c1 == NULL ? HUSH_ENOMEM : sim_moments(a, na, d, m1, c1);
    if (rc == 0) {
        rc = sim_frechet_moments(m1, c1, m2, c2, d, out);
    }
    free(m1);
    free(c1);
    return rc;
}

int sim_frechet(const double *a, size_t na, const double *b, size_t nb, uint32_t d,
                double *out)
{
    double *m2 = malloc(d * sizeof *m2), *c2 = malloc((size_t)d * d * sizeof *c2);
    int rc = m2 == NULL || c2 == NULL ? HUSH_ENOMEM : sim_moments(b, nb, d, m2, c2);
    if (rc == 0) {
        rc = sim_frechet_to(a, na, d, m2, c2, out);
    }
    free(m2);
    free(c2);
    return rc;
}

/* ---- neighbourhoods ---- */

/* The squared distance from row i of x to its k-th nearest other row. */
static double kth_radius(const double *x, size_t n, uint32_t d, size_t i, unsigned k)
{
    double top[16] = {0};
    unsigned have = 0;
    if (k == 0) {
        return 0.0; /* the point itself */
    }
    if (k > 16) {
        k = 16;
    }
    for (size_t j = 0; j < n; j++) {
        if (j == i) {
            continue;
        }
        double v = sqdist(x + i * d, x + j * d, d);
        if (have < k || v < top[have - 1]) {
            unsigned p = have < k ? have++ : have - 1;
            while (p > 0 && top[p - 1] > v) {
                top[p] = top[p - 1];
                p--;
            }
            top[p] = v;
        }
    }
    return have < k ? INFINITY : top[k - 1];
}

int sim_knn_radii(const double *p, size_t np, uint32_t d, unsigned k, double **out)
{
    double *r = malloc((np + 1) * sizeof *r);
    if (r == NULL) {
        return HUSH_ENOMEM;
    }
    for (size_t i = 0; i < np; i++) {
        r[i] = kth_radius(p, np, d, i, k);
    }
    *out = r;
    return 0;
}

double sim_precision(const double *p, const double *radii, size_t np, const double *s,
                     size_t ns, uint32_t d)
{
    size_t in = 0;
    for (size_t j = 0; j < ns; j++) {
        bool inside = false;
        for (size_t i = 0; i < np && !inside; i++) {
            inside = sqdist(s + j * d, p + i * d, d) <= radii[i];
        }
        in += inside;
    }
    return ns > 0 ? (double)in / (double)ns : 0.0;
}

double sim_ncov(const double *p, const double *radii, size_t np, const double *s,
                size_t ns, uint32_t d)
{
    size_t covered = 0;
    for (size_t i = 0; i < np; i++) {
        bool hit = false;
        for (size_t j = 0; j < ns && !hit; j++) {
            hit = sqdist(p + i * d, s + j * d, d) <= radii[i];
        }
        covered += hit;
    }
    return np > 0 ? (double)covered / (double)np : 0.0;
}

/* ---- clusters ---- */

uint32_t sim_nearest_centroid(const double *x, const double *centroids, uint32_t k,
                              uint32_t d)
{
    uint32_t best = 0;
    double bd = INFINITY;
    for (uint32_t c = 0; c < k; c++) {
        double v = sqdist(x, centroids + (size_t)c * d, d);
        if (v < bd) {
            bd = v;
            best = c;
        }
    }
    return best;
}

int sim_kmeans(const double *x, size_t n, uint32_t d, uint32_t k, hush_rng *rng,
               double *centroids)
{
    if (n == 0 || k == 0 || k > n) {
        return HUSH_EINVAL;
    }
    double *dist = malloc(n * sizeof *dist);
    uint32_t *assign = malloc(n * sizeof *assign);
    double *sum = malloc((size_t)k * d * sizeof *sum);
    size_t *count = malloc(k * sizeof *count);
    if (dist == NULL || assign == NULL || sum == NULL || count == NULL) {
        free(dist);
        free(assign);
        free(sum);
        free(count);
        return HUSH_ENOMEM;
    }
    /* k-means++: each next centroid drawn with probability ~ D^2 */
    size_t first = (size_t)hush_rng_uniform(rng, n);
    memcpy(centroids, x + first * d, d * sizeof *centroids);
    for (size_t i = 0; i < n; i++) {
        dist[i] = sqdist(x + i * d, centroids, d);
    }
    for (uint32_t c = 1; c < k; c++) {
        double total = 0;
        for (size_t i = 0; i < n; i++) {
            total += dist[i];
        }
        size_t pick = 0;
        if (total > 0) {
            double u = hush_rng_unit(rng) * total, acc = 0;
            for (pick = 0; pick + 1 < n; pick++) {
                acc += dist[pick];
                if (acc > u) {
                    break;
                }
            }
        } else {
            pick = (size_t)hush_rng_uniform(rng, n);
        }
        memcpy(centroids + (size_t)c * d, x + pick * d, d * sizeof *centroids);
        for (size_t i = 0; i < n; i++) {
            double v = sqdist(x + i * d, centroids + (size_t)c * d, d);
            dist[i] = v < dist[i] ? v : dist[i];
        }
    }
    /* Lloyd */
    for (size_t i = 0; i < n; i++) {
        assign[i] = UINT32_MAX;
    }
    for (int it = 0; it < 100; it++) {
        size_t moved = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t a = sim_nearest_centroid(x + i * d, centroids, k, d);
            moved += a != assign[i];
            assign[i] = a;
        }
        if (moved == 0) {
            break;
        }
        memset(sum, 0, (size_t)k * d * sizeof *sum);
        memset(count, 0, k * sizeof *count);
        for (size_t i = 0; i < n; i++) {
            count[assign[i]]++;
            for (uint32_t j = 0; j < d; j++) {
                sum[(size_t)assign[i] * d + j] += x[i * d + j];
            }
        }
        for (uint32_t c = 0; c < k; c++) {
            for (uint32_t j = 0; j < d && count[c] > 0; j++) {
                centroids[(size_t)c * d + j] = sum[(size_t)c * d + j] / (double)count[c];
            }
        }
    }
    free(dist);
    free(assign);
    free(sum);
    free(count);
    return 0;
}

double sim_ovl(const double *p, size_t np, const double *s, size_t ns, uint32_t d,
               const double *centroids, uint32_t k)
{
    double *sp = calloc(k, sizeof *sp), *ss = calloc(k, sizeof *ss);
    if (sp == NULL || ss == NULL || np == 0 || ns == 0) {
        free(sp);
        free(ss);
        return 0.0;
    }
    for (size_t i = 0; i < np; i++) {
        sp[sim_nearest_centroid(p + i * d, centroids, k, d)] += 1.0 / (double)np;
    }
    for (size_t j = 0; j < ns; j++) {
        ss[sim_nearest_centroid(s + j * d, centroids, k, d)] += 1.0 / (double)ns;
    }
    double o = 0;
    for (uint32_t c = 0; c < k; c++) {
        o += sp[c] < ss[c] ? sp[c] : ss[c];
    }
    free(sp);
    free(ss);
    return o;
}

/* ---- the classifier two-sample test ---- */

typedef struct scored {
    double score;
    bool positive;
} scored;

static int cmp_scored(const void *a, const void *b)
{
    double x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return (x > y) - (x < y);
}

int sim_auc(const double *scores, const bool *positive, size_t n, double *out)
{
    scored *v = malloc((n + 1) * sizeof *v);
    if (v == NULL) {
        return HUSH_ENOMEM;
    }
    size_t npos = 0;
    for (size_t i = 0; i < n; i++) {
        v[i] = (scored){scores[i], positive[i]};
        npos += positive[i];
    }
    size_t nneg = n - npos;
    if (npos == 0 || nneg == 0) {
        free(v);
        *out = 0.5;
        return 0;
    }
    qsort(v, n, sizeof *v, cmp_scored);
    /* rank sum of the positives, tied ranks averaged */
    double rank_sum = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j].score == v[i].score) {
            j++;
        }
        double avg = (double)(i + 1 + j) / 2.0; /* ranks i+1 .. j */
        for (size_t t = i; t < j; t++) {
            rank_sum += v[t].positive ? avg : 0;
        }
        i = j;
    }
    *out = (rank_sum - (double)npos * (double)(npos + 1) / 2.0) /
           ((double)npos * (double)nneg);
    free(v);
    return 0;
}

/* Logistic regression on standardized rows by full-batch gradient descent
 * with L2 penalty; w holds d weights and the bias. */
static void logistic_fit(const double *x, const bool *y, size_t n, uint32_t d, double *w)
{
    const double lr = 0.5, l2 = 1e-2;
    double *g = calloc(d + 1, sizeof *g);
    if (g == NULL) {
        return;
    }
    memset(w, 0, (d + 1) * sizeof *w);
    for (int it = 0; it < 300; it++) {
        memset(g, 0, (d + 1) * sizeof *g);
        for (size_t i = 0; i < n; i++) {
            double z = w[d];
            for (uint32_t j = 0; j < d; j++) {
                z += w[j] * x[i * d + j];
            }
            double p = 1.0 / (1.0 + exp(-z)), e = p - (y[i] ? 1.0 : 0.0);
            for (uint32_t j = 0; j < d; j++) {
                g[j] += e * x[i * d + j];
            }
            g[d] += e;
        }
        for (uint32_t j = 0; j <= d; j++) {
            w[j] -= lr * (g[j] / (double)n + (j < d ? l2 * w[j] : 0.0));
        }
    }
    free(g);
}

int sim_c2st_auc(const double *a, size_t na, const double *b, size_t nb, uint32_t d,
                 unsigned folds, hush_rng *rng, double *out)
{
    size_t m = na < nb ? na : nb;
    if (m < folds || folds < 2) {
        *out = 0.5;
        return 0;
    }
    size_t n = 2 * m;
    double *x = malloc(n * d * sizeof *x), *score = malloc(n * sizeof *score),
           *w = malloc((d + 1) * sizeof *w), *mu = calloc(d, sizeof *mu),
           *sd = calloc(d, sizeof *sd), *tx = malloc(n * d * sizeof *tx);
    bool *y = malloc(n * sizeof *y), *ty = malloc(n * sizeof *ty);
    size_t *pick = malloc((na > nb ? na : nb) * sizeof *pick),
           *perm = malloc(n * sizeof *perm);
    int rc = 0;
    if (x == NULL || score == NULL || w == NULL || mu == NULL || sd == NULL ||
        tx == NULL || y == NULL || ty == NULL || pick == NULL || perm == NULL) {
        rc = HUSH_ENOMEM;
        goto out;
    }
    /* m rows of each set, drawn without replacement */
    for (int set = 0; set < 2; set++) {
        const double *src = set == 0 ? a : b;
        size_t ns = set == 0 ? na : nb;
        for (size_t i = 0; i < ns; i++) {
            pick[i] = i;
        }
        for (size_t i = 0; i < m; i++) {
            size_t j = i + (size_t)hush_rng_uniform(rng, ns - i);
            size_t t = pick[i];
            pick[i] = pick[j];
            pick[j] = t;
            memcpy(x + (set * m + i) * d, src + pick[i] * d, d * sizeof *x);
            y[set * m + i] = set == 0;
        }
    }
    /* standardize */
    for (size_t i = 0; i < n; i++) {
        for (uint32_t j = 0; j < d; j++) {
            mu[j] += x[i * d + j] / (double)n;
        }
    }
    for (size_t i = 0; i < n; i++) {
        for (uint32_t j = 0; j < d; j++) {
            double t = x[i * d + j] - mu[j];
            sd[j] += t * t / (double)n;
        }
    }
    for (size_t i = 0; i < n; i++) {
        for (uint32_t j = 0; j < d; j++) {
            double s = sqrt(sd[j]);
            x[i * d + j] = s > 1e-12 ? (x[i * d + j] - mu[j]) / s : 0.0;
        }
    }
    /* folds over a random permutation; out-of-fold scores */
    for (size_t i = 0; i < n; i++) {
        perm[i] = i;
    }
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)hush_rng_uniform(rng, i), t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
    for (unsigned f = 0; f < folds; f++) {
        size_t nt = 0;
        for (size_t r = 0; r < n; r++) {
            if (r % folds != f) {
                memcpy(tx + nt * d, x + perm[r] * d, d * sizeof *x);
                ty[nt++] = y[perm[r]];
            }
        }
        logistic_fit(tx, ty, nt, d, w);
        for (size_t r = f; r < n; r += folds) {
            double z = w[d];
            for (uint32_t j = 0; j < d; j++) {
                z += w[j] * x[perm[r] * d + j];
            }
            score[perm[r]] = z;
        }
    }
    rc = sim_auc(score, y, n, out);
out:
    free(x);
    free(score);
    free(w);
    free(mu);
    free(sd);
    free(tx);
    free(y);
    free(ty);
    free(pick);
    free(perm);
    return rc;
}

/* ---- inside one set ---- */

int sim_pairwise(const double *x, size_t n, uint32_t d, double twin, double *mean_cos,
                 double *twins)
{
    double *norm = malloc((n + 1) * sizeof *norm), *best = malloc((n + 1) * sizeof *best);
    if (norm == NULL || best == NULL) {
        free(norm);
        free(best);
        return HUSH_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (uint32_t j = 0; j < d; j++) {
            s += x[i * d + j] * x[i * d + j];
        }
        norm[i] = sqrt(s);
        best[i] = -INFINITY;
    }
    double sum = 0;
    size_t pairs = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            double c = 0;
            if (norm[i] > 0 && norm[j] > 0) {
                for (uint32_t k = 0; k < d; k++) {
                    c += x[i * d + k] * x[j * d + k];
                }
                c /= norm[i] * norm[j];
            }
            sum += c;
            pairs++;
            best[i] = c > best[i] ? c : best[i];
            best[j] = c > best[j] ? c : best[j];
        }
    }
    size_t tw = 0;
    for (size_t i = 0; i < n; i++) {
        tw += best[i] > twin;
    }
    *mean_cos = pairs > 0 ? sum / (double)pairs : 0.0;
    *twins = n > 0 ? (double)tw / (double)n : 0.0;
    free(norm);
    free(best);
    return 0;
}
