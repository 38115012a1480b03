/*
 * retrieve.c - the retrieval generator: variations that are real public
 * text.  Each new sample replaces a kept one by one of the m public texts
 * most similar to it (in the campaign's embedding) that the population does
 * not hold yet: whole documents, paragraphs and sentences of the
 * --generator-corpus, of a length within [1/2, 3/2] of the parent's words.
 * m shrinks over the rounds (16, 8, 4, then 2): early rounds explore, later
 * ones refine.  The kept samples take turns as parents, most voted first,
 * so each gets about as many children (Aug-PE's equal children).
 *
 * With a SIF word-vector table (hushd --word-vectors) each drawn unit then
 * has ~15% of its content words replaced sideways by one of their nearest
 * neighbours in the table (substitute.c): the text stays real text, of the
 * same word count, but is no longer a verbatim copy.
 *
 * Invariants: a returned text is never one of the current population's
 * texts nor returned twice (two substituted texts could coincide only if
 * their units did, and units are drawn once); without substitution it is a
 * verbatim unit of the public corpus; deterministic under the seed.  The
 * corpus is public: whatever is drawn from it is published.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "domain.h"

#define TOP_PER_PARENT 256
/* A unit this similar (cosine, campaign embedding) to a parent or to a text
 * drawn earlier this round is a near-copy, drawn only when a parent has
 * nothing else near it: public corpora hold templates that differ in a name
 * or a number. */
#define NEAR_COPY 0.9f

typedef struct unit {
    const char *p; /* into the corpus */
    size_t len, words;
    uint64_t hash;
} unit;

typedef struct units {
    unit *v;
    size_t n, cap;
} units;

static size_t words_of(const char *s, size_t len)
{
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        bool space = s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r';
        bool prev = i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t' || s[i - 1] == '\n' ||
                    s[i - 1] == '\r';
        w += !space && prev;
    }
    return w;
}

static int units_push(units *u, const char *p, size_t len, size_t max_bytes)
{
    while (len > 0 && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
        p++;
        len--;
    }
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\n' ||
                       p[len - 1] == '\r')) {
        len--;
    }
    size_t w = words_of(p, len);
    if (len == 0 || len > max_bytes || w < 3) {
        return 0;
    }
    if (u->n == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 1024;
        unit *g = hush_realloc(u->v, cap * sizeof *g);
        if (g == NULL) {
            return HUSH_ENOMEM;
        }
        u->v = g;
        u->cap = cap;
    }
    u->v[u->n++] = (unit){p, len, w, XXH3_64bits(p, len)};
    return 0;
}

/* Documents, their paragraphs (blank-line separated) and their sentences. */
static int split_units(const char *t, size_t max_bytes, units *u)
{
    size_t len = strlen(t);
    int rc = units_push(u, t, len, max_bytes);
    for (size_t start = 0, i = 0; rc == 0 && i <= len; i++) {
        bool end = i == len || (t[i] == '\n' && i + 1 < len && t[i + 1] == '\n');
        if (end) {
            if (i - start < len) {
                rc = units_push(u, t + start, i - start, max_bytes);
            }
            start = i + 1;
        }
    }
    for (size_t start = 0, i = 0; rc == 0 && i <= len; i++) {
        bool end = i == len || t[i] == '\n' ||
                   ((t[i] == '.' || t[i] == '!' || t[i] == '?') && i + 1 < len &&
                    (t[i + 1] == ' ' || t[i + 1] == '\n'));
        if (end) {
            size_t stop = i < len && t[i] != '\n' ? i + 1 : i;
            rc = units_push(u, t + start, stop - start, max_bytes);
            start = stop;
        }
    }
    return rc;
}

static int cmp_hash(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

typedef struct hash_index {
    uint64_t hash;
    size_t index;
} hash_index;

static int cmp_hash_index(const void *a, const void *b)
{
    const hash_index *x = a, *y = b;
    if (x->hash != y->hash) {
        return x->hash < y->hash ? -1 : 1;
    }
    return (x->index > y->index) - (x->index < y->index);
}

static bool in_sorted(const uint64_t *v, size_t n, uint64_t h)
{
    return n > 0 && bsearch(&h, v, n, sizeof h, cmp_hash) != NULL;
}

static bool in_list(const uint64_t *v, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i] == h) {
            return true;
        }
    }
    return false;
}

static bool near_copy(const float *x, const float *set, size_t n, uint32_t dim)
{
    for (size_t i = 0; i < n; i++) {
        float s = 0;
        const float *y = set + i * dim;
        for (uint32_t d = 0; d < dim; d++) {
            s += x[d] * y[d];
        }
        if (s > NEAR_COPY) {
            return true;
        }
    }
    return false;
}

typedef struct scored_unit {
    float score;
    uint32_t index;
} scored_unit;

static int cmp_score(const void *a, const void *b)
{
    const scored_unit *x = a, *y = b;
    if (x->score != y->score) {
        return x->score < y->score ? 1 : -1;
    }
    return (x->index > y->index) - (x->index < y->index);
}

int hush__generate_retrieval(const hush__parent *parents, size_t n, size_t want,
                             uint32_t round, uint64_t seed, const char *const *corpus,
                             size_t n_corpus, const char *const *population,
                             size_t n_population, const hush_embedder *e,
                             const hush_wordvec *wv, double substitute, size_t max_bytes,
                             char ***out, size_t *n_out, size_t *parent_of, hush_err *err)
{
    if (n == 0) {
        return hush_err_set(err, HUSH_EINVAL,
                            "the generator needs at least one kept sample");
    }
    if (n_corpus == 0) {
        return hush_err_set(err, HUSH_EINVAL,
                            "the retrieval generator needs a public corpus "
                            "(hushd --generator-corpus)");
    }
    int rc = 0;
    units u = {0};
    uint32_t dim = hush_embedder_dim(e);
    float *vec = NULL, *pv = NULL;
    uint64_t *taken = NULL;
    bool *used = NULL;
    scored_unit *top = NULL;
    char **result = NULL;
    uint64_t *out_hash = NULL; /* the hashes of result[0 .. got) */
    float *chosen = NULL;      /* parents and drawn units, embedded */
    size_t n_chosen = 0;
    size_t got = 0;
    hush_rng *rng = NULL;
    hush__subst_cache cache = {0};
    bool subst = wv != NULL && substitute > 0.0;
    if (subst && hush__subst_cache_init(&cache, wv) != 0) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory retrieving");
    }
    for (size_t i = 0; i < n_corpus && rc == 0; i++) {
        rc = split_units(corpus[i], max_bytes, &u);
    }
    if (rc == 0 && u.n == 0) {
        rc = hush_err_set(err, HUSH_EINVAL, "the public corpus has no usable text");
        goto out;
    }
    size_t n_taken = n_population + n;
    vec = rc == 0 ? hush_calloc(u.n * (size_t)dim + 1, sizeof *vec) : NULL;
    pv = vec != NULL ? hush_calloc(dim + 1, sizeof *pv) : NULL;
    taken = pv != NULL ? hush_malloc((n_taken + 1) * sizeof *taken) : NULL;
    used = taken != NULL ? hush_calloc(u.n + 1, sizeof *used) : NULL;
    top = used != NULL ? hush_malloc((u.n + 1) * sizeof *top) : NULL;
    result = top != NULL ? hush_calloc(want + 1, sizeof *result) : NULL;
    out_hash = result != NULL ? hush_malloc((want + 1) * sizeof *out_hash) : NULL;
    if (out_hash == NULL ||
        hush_rng_new_seeded_u64(seed ^ 0x7265747269657665u, &rng) != 0) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory retrieving");
        goto out;
    }
    /* what the population already holds is never drawn */
    for (size_t i = 0; i < n_population; i++) {
        taken[i] = XXH3_64bits(population[i], strlen(population[i]));
    }
    for (size_t i = 0; i < n; i++) {
        taken[n_population + i] = XXH3_64bits(parents[i].text, strlen(parents[i].text));
    }
    qsort(taken, n_taken, sizeof *taken, cmp_hash);
    /* each distinct text once: a repeat of an earlier unit is used already */
    hash_index *byhash = hush_malloc((u.n + 1) * sizeof *byhash);
    if (byhash == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory retrieving");
        goto out;
    }
    for (size_t i = 0; i < u.n; i++) {
        byhash[i] = (hash_index){u.v[i].hash, i};
    }
    qsort(byhash, u.n, sizeof *byhash, cmp_hash_index);
    for (size_t k = 1; k < u.n; k++) {
        used[byhash[k].index] = byhash[k].hash == byhash[k - 1].hash;
    }
    hush_free(byhash);
    for (size_t i = 0; i < u.n; i++) {
        used[i] = used[i] || in_sorted(taken, n_taken, u.v[i].hash);
        if (used[i]) {
            continue; /* never a candidate: no need to embed it */
        }
        char *t = hush_malloc(u.v[i].len + 1);
        if (t == NULL) {
            rc = hush_err_set(err, HUSH_ENOMEM, "out of memory retrieving");
            goto out;
        }
        memcpy(t, u.v[i].p, u.v[i].len);
        t[u.v[i].len] = '\0';
        int erc = hush_embed_text(e, t, u.v[i].len, vec + i * dim, dim, NULL);
        hush_free(t);
        if (erc == HUSH_ENOMEM) {
            rc = hush_err_set(err, HUSH_ENOMEM, "out of memory retrieving");
            goto out;
        }
        if (erc != 0) {
            used[i] = true; /* nothing to embed: never a candidate */
        }
    }
    /* the parents and the texts drawn so far, against which near-copies
     * are refused */
    chosen = hush_malloc((n + want + 1) * (size_t)dim * sizeof *chosen);
    if (chosen == NULL) {
        rc = hush_err_set(err, HUSH_ENOMEM, "out of memory retrieving");
        goto out;
    }
    for (size_t k = 0; k < n; k++) {
        if (hush_embed_text(e, parents[k].text, strlen(parents[k].text),
                            chosen + n_chosen * dim, dim, NULL) == 0) {
            n_chosen++;
        }
    }
    size_t m = round <= 1 ? 16 : round == 2 ? 8 : round == 3 ? 4 : 2;
    size_t per_parent = (want + n - 1) / n;
    bool allotted = false;
    for (size_t k = 0; k < n; k++) {
        allotted = allotted || parents[k].children > 0;
    }
    for (size_t k = 0; k < n && got < want; k++) {
        const hush__parent *p = &parents[k];
        size_t plen = strlen(p->text), pw = words_of(p->text, plen);
        if (hush_embed_text(e, p->text, plen, pv, dim, NULL) != 0) {
            continue;
        }
        /* every unused unit of a length near the parent's, by cosine */
        size_t cand = 0;
        for (size_t i = 0; i < u.n; i++) {
            if (used[i] || 2 * u.v[i].words < pw || 2 * u.v[i].words > 3 * pw + 2) {
                continue;
            }
            float s = 0;
            const float *x = vec + i * dim;
            for (uint32_t d = 0; d < dim; d++) {
                s += x[d] * pv[d];
            }
            top[cand++] = (scored_unit){s, (uint32_t)i};
        }
        qsort(top, cand, sizeof *top, cmp_score);
        if (cand > TOP_PER_PARENT) {
            cand = TOP_PER_PARENT;
        }
        size_t mine = allotted ? parents[k].children : per_parent;
        for (size_t c = 0; c < mine && got < want; c++) {
            /* one of the m most similar units still unused */
            /* (near-copies only when nothing else near the parent is left:
             * a small or uniform corpus still gives a round) */
            size_t pool[16], np = 0;
            for (int pass = 0; pass < 2 && np == 0; pass++) {
                for (size_t i = 0; i < cand && np < m; i++) {
                    if (!used[top[i].index] &&
                        (pass == 1 || !near_copy(vec + (size_t)top[i].index * dim, chosen,
                                                 n_chosen, dim))) {
                        pool[np++] = top[i].index;
                    }
                }
            }
            if (np == 0) {
                break;
            }
            size_t pick = pool[hush_rng_uniform(rng, np)];
            used[pick] = true;
            char *t = hush_malloc(u.v[pick].len + 1);
            if (t == NULL) {
                rc = hush_err_set(err, HUSH_ENOMEM, "out of memory retrieving");
                goto out;
            }
            memcpy(t, u.v[pick].p, u.v[pick].len);
            t[u.v[pick].len] = '\0';
            if (subst) {
                char *s = NULL;
                size_t changed = 0;
                if ((rc = hush__substitute(t, substitute, &cache, rng, &s, &changed,
                                           err)) != 0) {
                    hush_free(t);
                    goto out;
                }
                /* a variation that happens to equal a text of the
                 * population, or one returned already, is dropped for the
                 * verbatim unit */
                uint64_t sh = XXH3_64bits(s, strlen(s));
                if (changed > 0 && !in_sorted(taken, n_taken, sh) &&
                    !in_list(out_hash, got, sh)) {
                    hush_free(t);
                    t = s;
                } else {
                    hush_free(s);
                }
            }
            uint64_t th = XXH3_64bits(t, strlen(t));
            if (in_list(out_hash, got, th)) {
                hush_free(t); /* equals an earlier variation: not twice */
                continue;
            }
            out_hash[got] = th;
            memcpy(chosen + n_chosen * dim, vec + pick * dim, dim * sizeof *chosen);
            n_chosen++;
            if (parent_of != NULL) {
                parent_of[got] = k;
            }
            result[got++] = t;
        }
    }
    if (got == 0) {
        rc = hush_err_set(err, HUSH_EINVAL,
                          "no unused public text is near the kept samples' lengths");
        goto out;
    }
    *out = result;
    *n_out = got;
    result = NULL;
out:
    if (result != NULL) {
        hush__texts_free(result, got);
    }
    hush_rng_free(rng);
    hush__subst_cache_free(&cache);
    hush_free(out_hash);
    hush_free(chosen);
    hush_free(u.v);
    hush_free(vec);
    hush_free(pv);
    hush_free(taken);
    hush_free(used);
    hush_free(top);
    return rc;
}
