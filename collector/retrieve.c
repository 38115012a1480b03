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

/* A retrieval in progress. */
typedef struct retrieval {
    const hush_embedder *e;
    uint32_t dim;
    units u;
    float *vec;      /* each unit embedded (unused units only) */
    bool *used;      /* drawn, a repeat, or a text of the population */
    uint64_t *taken; /* hashes of the population and the parents, sorted */
    size_t n_taken;
    scored_unit *top;
    char **result;
    uint64_t *out_hash; /* the hashes of result[0 .. got) */
    size_t got, want;
    float *chosen; /* parents and drawn units, embedded */
    size_t n_chosen;
    hush_rng *rng;
    hush__subst_cache cache;
    bool subst;
    double substitute;
} retrieval;

static void retrieval_free(retrieval *rv)
{
    if (rv->result != NULL) {
        hush__texts_free(rv->result, rv->got);
    }
    hush_rng_free(rv->rng);
    hush__subst_cache_free(&rv->cache);
    hush_free(rv->out_hash);
    hush_free(rv->chosen);
    hush_free(rv->u.v);
    hush_free(rv->vec);
    hush_free(rv->taken);
    hush_free(rv->used);
    hush_free(rv->top);
}

static char *unit_text(const retrieval *rv, size_t i)
{
    char *t = hush_malloc(rv->u.v[i].len + 1);
    if (t != NULL) {
        memcpy(t, rv->u.v[i].p, rv->u.v[i].len);
        t[rv->u.v[i].len] = '\0';
    }
    return t;
}

/* Which units can be drawn: each distinct text once (a repeat of an earlier
 * unit is used already), never a text the population or the parents hold;
 * those that can are embedded. */
static int mark_and_embed(retrieval *rv, hush_err *err)
{
    hash_index *byhash = hush_malloc((rv->u.n + 1) * sizeof *byhash);
    if (byhash == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory retrieving");
    }
    for (size_t i = 0; i < rv->u.n; i++) {
        byhash[i] = (hash_index){rv->u.v[i].hash, i};
    }
    qsort(byhash, rv->u.n, sizeof *byhash, cmp_hash_index);
    for (size_t k = 1; k < rv->u.n; k++) {
        rv->used[byhash[k].index] = byhash[k].hash == byhash[k - 1].hash;
    }
    hush_free(byhash);
    for (size_t i = 0; i < rv->u.n; i++) {
        rv->used[i] = rv->used[i] || in_sorted(rv->taken, rv->n_taken, rv->u.v[i].hash);
        if (rv->used[i]) {
            continue; /* never a candidate: no need to embed it */
        }
        char *t = unit_text(rv, i);
        int erc = t != NULL ? hush_embed_text(rv->e, t, rv->u.v[i].len,
                                              rv->vec + i * rv->dim, rv->dim, NULL)
                            : HUSH_ENOMEM;
        hush_free(t);
        if (erc == HUSH_ENOMEM) {
            return hush_err_set(err, HUSH_ENOMEM, "out of memory retrieving");
        }
        rv->used[i] = erc != 0; /* nothing to embed: never a candidate */
    }
    return 0;
}

/* The corpus in units, the exclusions, the arrays of the draw. */
static int prepare(retrieval *rv, const hush__parent *parents, size_t n,
                   const char *const *corpus, size_t n_corpus,
                   const char *const *population, size_t n_population, size_t max_bytes,
                   uint64_t seed, hush_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < n_corpus && rc == 0; i++) {
        rc = split_units(corpus[i], max_bytes, &rv->u);
    }
    if (rc != 0) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory retrieving");
    }
    if (rv->u.n == 0) {
        return hush_err_set(err, HUSH_EINVAL, "the public corpus has no usable text");
    }
    size_t dim = rv->dim;
    rv->n_taken = n_population + n;
    rv->vec = hush_calloc(rv->u.n * dim + 1, sizeof *rv->vec);
    rv->taken = hush_malloc((rv->n_taken + 1) * sizeof *rv->taken);
    rv->used = hush_calloc(rv->u.n + 1, sizeof *rv->used);
    rv->top = hush_malloc((rv->u.n + 1) * sizeof *rv->top);
    rv->result = hush_calloc(rv->want + 1, sizeof *rv->result);
    rv->out_hash = hush_malloc((rv->want + 1) * sizeof *rv->out_hash);
    rv->chosen = hush_malloc((n + rv->want + 1) * dim * sizeof *rv->chosen);
    if (rv->vec == NULL || rv->taken == NULL || rv->used == NULL || rv->top == NULL ||
        rv->result == NULL || rv->out_hash == NULL || rv->chosen == NULL ||
        hush_rng_new_seeded_u64(seed ^ 0x7265747269657665u, &rv->rng) != 0) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory retrieving");
    }
    for (size_t i = 0; i < n_population; i++) {
        rv->taken[i] = XXH3_64bits(population[i], strlen(population[i]));
    }
    for (size_t i = 0; i < n; i++) {
        rv->taken[n_population + i] =
            XXH3_64bits(parents[i].text, strlen(parents[i].text));
    }
    qsort(rv->taken, rv->n_taken, sizeof *rv->taken, cmp_hash);
    if ((rc = mark_and_embed(rv, err)) != 0) {
        return rc;
    }
    /* the parents, against which (and the texts drawn) near-copies are
     * refused */
    for (size_t k = 0; k < n; k++) {
        if (hush_embed_text(rv->e, parents[k].text, strlen(parents[k].text),
                            rv->chosen + rv->n_chosen * dim, rv->dim, NULL) == 0) {
            rv->n_chosen++;
        }
    }
    return 0;
}

/* Every unused unit of a length near the parent's (pw words), ranked by
 * cosine to its embedding pv; how many, at most TOP_PER_PARENT. */
static size_t rank_near(retrieval *rv, const float *pv, size_t pw)
{
    size_t cand = 0;
    for (size_t i = 0; i < rv->u.n; i++) {
        if (rv->used[i] || 2 * rv->u.v[i].words < pw ||
            2 * rv->u.v[i].words > 3 * pw + 2) {
            continue;
        }
        float s = 0;
        const float *x = rv->vec + i * rv->dim;
        for (uint32_t d = 0; d < rv->dim; d++) {
            s += x[d] * pv[d];
        }
        rv->top[cand++] = (scored_unit){s, (uint32_t)i};
    }
    qsort(rv->top, cand, sizeof *rv->top, cmp_score);
    return cand < TOP_PER_PARENT ? cand : TOP_PER_PARENT;
}

/* With substitution, the unit's words partly replaced: a variation that
 * happens to equal a text of the population, or one returned already, is
 * dropped for the verbatim unit.  *t may be replaced. */
static int vary(retrieval *rv, char **t, hush_err *err)
{
    char *s = NULL;
    size_t changed = 0;
    int rc = hush__substitute(*t, rv->substitute, &rv->cache, rv->rng, &s, &changed, err);
    if (rc != 0) {
        return rc;
    }
    uint64_t sh = XXH3_64bits(s, strlen(s));
    if (changed > 0 && !in_sorted(rv->taken, rv->n_taken, sh) &&
        !in_list(rv->out_hash, rv->got, sh)) {
        hush_free(*t);
        *t = s;
    } else {
        hush_free(s);
    }
    return 0;
}

/* One text for the parent: one of the m most similar units still unused
 * (near-copies only when nothing else near the parent is left: a small or
 * uniform corpus still gives a round).  *none when nothing is left. */
static int draw_one(retrieval *rv, size_t cand, size_t m, size_t parent,
                    size_t *parent_of, bool *none, hush_err *err)
{
    size_t pool[16], np = 0;
    for (int pass = 0; pass < 2 && np == 0; pass++) {
        for (size_t i = 0; i < cand && np < m; i++) {
            if (!rv->used[rv->top[i].index] &&
                (pass == 1 || !near_copy(rv->vec + (size_t)rv->top[i].index * rv->dim,
                                         rv->chosen, rv->n_chosen, rv->dim))) {
                pool[np++] = rv->top[i].index;
            }
        }
    }
    *none = np == 0;
    if (np == 0) {
        return 0;
    }
    size_t pick = pool[hush_rng_uniform(rv->rng, np)];
    rv->used[pick] = true;
    char *t = unit_text(rv, pick);
    if (t == NULL) {
        return hush_err_set(err, HUSH_ENOMEM, "out of memory retrieving");
    }
    int rc = rv->subst ? vary(rv, &t, err) : 0;
    uint64_t th = t != NULL ? XXH3_64bits(t, strlen(t)) : 0;
    if (rc != 0 || in_list(rv->out_hash, rv->got, th)) {
        hush_free(t); /* an error, or equal to an earlier variation: not twice */
        return rc;
    }
    rv->out_hash[rv->got] = th;
    memcpy(rv->chosen + rv->n_chosen * rv->dim, rv->vec + pick * rv->dim,
           rv->dim * sizeof *rv->chosen);
    rv->n_chosen++;
    if (parent_of != NULL) {
        parent_of[rv->got] = parent;
    }
    rv->result[rv->got++] = t;
    return 0;
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
    retrieval rv = {.e = e,
                    .dim = hush_embedder_dim(e),
                    .want = want,
                    .subst = wv != NULL && substitute > 0.0,
                    .substitute = substitute};
    float *pv = hush_calloc(rv.dim + 1, sizeof *pv);
    int rc = pv == NULL || (rv.subst && hush__subst_cache_init(&rv.cache, wv) != 0)
                 ? hush_err_set(err, HUSH_ENOMEM, "out of memory retrieving")
                 : prepare(&rv, parents, n, corpus, n_corpus, population, n_population,
                           max_bytes, seed, err);
    size_t m = round <= 1 ? 16 : round == 2 ? 8 : round == 3 ? 4 : 2;
    size_t per_parent = (want + n - 1) / n;
    bool allotted = false;
    for (size_t k = 0; k < n; k++) {
        allotted = allotted || parents[k].children > 0;
    }
    for (size_t k = 0; rc == 0 && k < n && rv.got < want; k++) {
        const hush__parent *p = &parents[k];
        size_t plen = strlen(p->text);
        if (hush_embed_text(e, p->text, plen, pv, rv.dim, NULL) != 0) {
            continue;
        }
        size_t cand = rank_near(&rv, pv, words_of(p->text, plen));
        size_t mine = allotted ? p->children : per_parent;
        bool none = false;
        for (size_t c = 0; rc == 0 && !none && c < mine && rv.got < want; c++) {
            rc = draw_one(&rv, cand, m, k, parent_of, &none, err);
        }
    }
    if (rc == 0 && rv.got == 0) {
        rc = hush_err_set(err, HUSH_EINVAL,
                          "no unused public text is near the kept samples' lengths");
    }
    if (rc == 0) {
        *out = rv.result;
        *n_out = rv.got;
        rv.result = NULL;
    }
    hush_free(pv);
    retrieval_free(&rv);
    return rc;
}
